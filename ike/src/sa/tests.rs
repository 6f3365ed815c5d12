//! Two of our IKE SAs, initiator and responder, exchanging datagrams through a test harness.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::*;
use crate::crypto::ids::DhGroup;
use crate::crypto::{
    AesKeySize, Encryption, EspSuite, IkeSuite, Integrity, Prf, Role, SecretBytes,
};
use crate::wire::{Header, Identity, Ipv4Range, Message, NotifyType, Port4500, classify_port_4500};

const I_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 500);
const R_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 1), 500);

fn gcm_x25519() -> IkeSuite {
    IkeSuite::new(
        Encryption::AesGcm16(AesKeySize::Aes128),
        None,
        Prf::HmacSha2_256,
        DhGroup::CURVE25519,
    )
    .unwrap()
}

fn cbc_modp2048() -> IkeSuite {
    IkeSuite::new(
        Encryption::AesCbc(AesKeySize::Aes256),
        Some(Integrity::HmacSha2_256_128),
        Prf::HmacSha2_256,
        DhGroup::MODP_2048,
    )
    .unwrap()
}

fn esp_gcm() -> EspSuite {
    EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).unwrap()
}

fn esp_cbc() -> EspSuite {
    EspSuite::new(
        Encryption::AesCbc(AesKeySize::Aes256),
        Some(Integrity::HmacSha2_256_128),
    )
    .unwrap()
}

fn range(a: [u8; 4], b: [u8; 4]) -> Ipv4Range {
    Ipv4Range {
        ip_protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start_addr: a.into(),
        end_addr: b.into(),
    }
}

fn config(
    local: SocketAddrV4,
    remote: SocketAddrV4,
    local_ts: Ipv4Range,
    remote_ts: Ipv4Range,
) -> IkeSaConfig {
    IkeSaConfig {
        local_id: Identity::Ipv4(*local.ip()),
        remote_id: Identity::Ipv4(*remote.ip()),
        psk: SecretBytes::new(b"sysplex-lab-secret".to_vec()),
        ike_suites: vec![gcm_x25519()],
        esp_suites: vec![esp_gcm()],
        pfs: DhGroup::NONE,
        local_ts,
        remote_ts,
        mode: Mode::Tunnel,
        force_udp_encapsulation: true,
        initial_contact: true,
        retransmit: RetransmitPolicy::STRONGSWAN,
        dpd_interval: None,
        child_lifetime: Duration::from_secs(3600),
        child_rekey_time: None,
        ike_rekey_time: None,
    }
}

fn initiator_config() -> IkeSaConfig {
    config(
        I_ADDR,
        R_ADDR,
        range([192, 0, 2, 0], [192, 0, 2, 255]),
        range([198, 51, 100, 0], [198, 51, 100, 255]),
    )
}

pub(crate) fn responder_config() -> IkeSaConfig {
    config(
        R_ADDR,
        I_ADDR,
        range([198, 51, 100, 0], [198, 51, 100, 255]),
        range([192, 0, 2, 0], [192, 0, 2, 255]),
    )
}

/// The initiator, the responder once created, the SAs a rekey replaced (until they close), a
/// seeded RNG, a clock, and the actions each side produced that were not datagrams.
pub(crate) struct Pair {
    now: Instant,
    rng: ChaCha20Rng,
    pub(crate) i: IkeSa,
    i_old: Option<IkeSa>,
    r: Option<IkeSa>,
    r_old: Option<IkeSa>,
    pub(crate) i_events: Vec<Action>,
    pub(crate) r_events: Vec<Action>,
    r_config: IkeSaConfig,
    /// Every action of both sides, as one line each ("I:" or "R:" first).
    transcript: Vec<String>,
}

/// The initiator SPI of an IKE datagram, to route it to the right SA.
fn initiator_spi(to: SocketAddrV4, bytes: &[u8]) -> Option<u64> {
    let ike = match classify_port_4500(bytes) {
        Ok(Port4500::Ike(ike)) if to.port() == 4500 => ike,
        _ if to.port() == 4500 => return None,
        _ => bytes,
    };
    Header::new_checked(ike).ok().map(|h| h.initiator_spi())
}

/// The SA among `current` and `old` that a datagram is for.
fn route<'a>(
    current: &'a mut IkeSa,
    old: &'a mut Option<IkeSa>,
    to: SocketAddrV4,
    bytes: &[u8],
) -> &'a mut IkeSa {
    let spi = initiator_spi(to, bytes);
    match old {
        Some(old) if Some(old.spis().0) == spi => old,
        _ => current,
    }
}

impl Pair {
    pub(crate) fn start(i_config: IkeSaConfig, r_config: IkeSaConfig) -> Self {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let i = IkeSa::initiate(i_config, now, &mut rng, I_ADDR, R_ADDR).unwrap();
        Self {
            now,
            rng,
            i,
            i_old: None,
            r: None,
            r_old: None,
            i_events: Vec::new(),
            r_events: Vec::new(),
            r_config,
            transcript: Vec::new(),
        }
    }

    fn drain(current: Option<&mut IkeSa>, old: Option<&mut IkeSa>) -> Vec<Action> {
        let mut actions = current.map(IkeSa::drain_actions).unwrap_or_default();
        actions.extend(old.map(IkeSa::drain_actions).unwrap_or_default());
        actions
    }

    /// Delivers datagrams both ways until both sides are quiet; a rekeyed SA's successor takes
    /// its place while the old one finishes its delete exchange.
    pub(crate) fn run(&mut self) {
        loop {
            let from_i = Self::drain(Some(&mut self.i), self.i_old.as_mut());
            let from_r = Self::drain(self.r.as_mut(), self.r_old.as_mut());
            if from_i.is_empty() && from_r.is_empty() {
                return;
            }
            for action in from_i {
                self.transcript.push(format!("I: {action}"));
                match action {
                    Action::SendDatagram { from, to, bytes } => {
                        self.deliver_to_responder(from, to, &bytes)
                    }
                    Action::IkeSaRekeyed { new, .. } => {
                        self.i_old = Some(std::mem::replace(&mut self.i, *new));
                    }
                    other => self.i_events.push(other),
                }
            }
            for action in from_r {
                self.transcript.push(format!("R: {action}"));
                match action {
                    Action::SendDatagram { from, to, bytes } => {
                        let sa = route(&mut self.i, &mut self.i_old, to, &bytes);
                        sa.handle_datagram(self.now, &mut self.rng, from, to, &bytes)
                            .unwrap();
                    }
                    Action::IkeSaRekeyed { new, .. } => {
                        self.r_old = self.r.replace(*new);
                    }
                    other => self.r_events.push(other),
                }
            }
        }
    }

    fn deliver_to_responder(&mut self, from: SocketAddrV4, to: SocketAddrV4, bytes: &[u8]) {
        match &mut self.r {
            Some(r) => {
                let sa = route(r, &mut self.r_old, to, bytes);
                sa.handle_datagram(self.now, &mut self.rng, from, to, bytes)
                    .unwrap();
            }
            None => {
                let r = IkeSa::respond(
                    self.r_config.clone(),
                    self.now,
                    &mut self.rng,
                    from,
                    to,
                    bytes,
                );
                self.r = Some(r.unwrap());
            }
        }
    }

    fn r(&mut self) -> &mut IkeSa {
        self.r.as_mut().unwrap()
    }
}

pub(crate) fn installs(events: &[Action]) -> Vec<&ChildSaInstall> {
    events
        .iter()
        .filter_map(|a| match a {
            Action::InstallChildSa(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn deletes(events: &[Action]) -> Vec<(u32, u32)> {
    events
        .iter()
        .filter_map(|a| match a {
            Action::DeleteChildSa {
                inbound_spi,
                outbound_spi,
            } => Some((*inbound_spi, *outbound_spi)),
            _ => None,
        })
        .collect()
}

fn closed(events: &[Action]) -> Option<&CloseReason> {
    events.iter().find_map(|a| match a {
        Action::IkeSaClosed(reason) => Some(reason),
        _ => None,
    })
}

fn assert_matching(a: &ChildSaInstall, b: &ChildSaInstall) {
    assert_eq!(
        (a.inbound_spi, a.outbound_spi),
        (b.outbound_spi, b.inbound_spi)
    );
    assert_eq!(a.outbound_keys, b.inbound_keys);
    assert_eq!(a.inbound_keys, b.outbound_keys);
    assert_ne!(a.inbound_keys, a.outbound_keys);
    assert_eq!((a.local_ts, a.remote_ts), (b.remote_ts, b.local_ts));
}

pub(crate) fn established_pair() -> Pair {
    let mut pair = Pair::start(initiator_config(), responder_config());
    pair.run();
    assert!(pair.i.is_established() && pair.r().is_established());
    pair
}

#[test]
fn psk_handshake_installs_matching_child_sa_keys() {
    let pair = established_pair();
    let (i, r) = (installs(&pair.i_events), installs(&pair.r_events));
    assert_eq!((i.len(), r.len()), (1, 1));
    assert_matching(i[0], r[0]);
    assert_eq!(i[0].suite, esp_gcm());
    assert_eq!(i[0].mode, Mode::Tunnel);
    assert_eq!(
        i[0].remote_ts,
        range([198, 51, 100, 0], [198, 51, 100, 255])
    );
    let summary = pair.i_events.iter().find_map(|a| match a {
        Action::IkeSaEstablished(s) => Some(s),
        _ => None,
    });
    assert_eq!(
        summary.map(|s| (s.role, s.suite)),
        Some((Role::Initiator, gcm_x25519()))
    );
}

#[test]
fn classic_cbc_modp2048_suite_also_completes() {
    let mut i = initiator_config();
    let mut r = responder_config();
    (i.ike_suites, r.ike_suites) = (vec![cbc_modp2048()], vec![cbc_modp2048()]);
    (i.esp_suites, r.esp_suites) = (vec![esp_cbc()], vec![esp_cbc()]);
    let mut pair = Pair::start(i, r);
    pair.run();
    assert_eq!(pair.i.suite(), Some(cbc_modp2048()));
    assert_matching(installs(&pair.i_events)[0], installs(&pair.r_events)[0]);
}

#[test]
fn moves_to_port_4500_with_non_esp_marker_after_sa_init() {
    let mut pair = Pair::start(initiator_config(), responder_config());
    let first = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = first.first() else {
        panic!("no SA_INIT")
    };
    assert_eq!((from.port(), to.port()), (500, 500));
    let init = Message::parse(bytes).unwrap();
    assert_eq!(
        init.to_string(),
        "IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) ]"
    );
    pair.deliver_to_responder(*from, *to, bytes);
    for action in pair.r().drain_actions() {
        if let Action::SendDatagram { from, to, bytes } = action {
            pair.i
                .handle_datagram(pair.now, &mut pair.rng, from, to, &bytes)
                .unwrap();
        }
    }
    let auth = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = auth.first() else {
        panic!("no IKE_AUTH")
    };
    assert_eq!((from.port(), to.port()), (4500, 4500));
    let Ok(Port4500::Ike(ike)) = classify_port_4500(bytes) else {
        panic!("no non-ESP marker")
    };
    assert_eq!(
        Message::parse(ike).unwrap().to_string(),
        "IKE_AUTH request 1 [ SK ]"
    );
    pair.deliver_to_responder(*from, *to, bytes);
    pair.run();
    assert!(pair.r().udp_encapsulation());
    assert!(installs(&pair.r_events)[0].udp_encapsulation);
    assert_eq!(pair.r().remote().port(), 4500);
}

#[test]
fn wrong_psk_fails_with_authentication_failed_and_installs_nothing() {
    let mut r = responder_config();
    r.psk = SecretBytes::new(b"not-the-secret".to_vec());
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    let failed = CloseReason::Notify(NotifyType::AUTHENTICATION_FAILED);
    assert_eq!(closed(&pair.r_events), Some(&failed));
    assert_eq!(closed(&pair.i_events), Some(&failed));
    assert!(installs(&pair.i_events).is_empty() && installs(&pair.r_events).is_empty());
    assert!(!pair.i.is_established());
}

#[test]
fn ike_proposal_mismatch_answers_no_proposal_chosen() {
    let mut r = responder_config();
    r.ike_suites = vec![cbc_modp2048()];
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    let refused = CloseReason::Notify(NotifyType::NO_PROPOSAL_CHOSEN);
    assert_eq!(pair.i.closed(), Some(&refused));
    assert_eq!(pair.r().closed(), Some(&refused));
    assert!(installs(&pair.i_events).is_empty() && installs(&pair.r_events).is_empty());
}

#[test]
fn esp_proposal_mismatch_keeps_ike_sa_without_child() {
    let mut r = responder_config();
    r.esp_suites = vec![esp_cbc()];
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    assert!(pair.i.is_established() && pair.r().is_established());
    assert!(installs(&pair.i_events).is_empty() && installs(&pair.r_events).is_empty());
}

#[test]
fn invalid_ke_payload_makes_initiator_retry_with_the_wanted_group() {
    let mut i = initiator_config();
    i.ike_suites = vec![gcm_x25519(), cbc_modp2048()];
    let mut r = responder_config();
    r.ike_suites = vec![cbc_modp2048()];
    let mut pair = Pair::start(i, r.clone());
    // The first responder refuses (INVALID_KE_PAYLOAD) and closes; the retry creates another.
    let first = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = first.first() else {
        panic!()
    };
    let mut refuser = IkeSa::respond(r, pair.now, &mut pair.rng, *from, *to, bytes).unwrap();
    assert_eq!(
        refuser.closed(),
        Some(&CloseReason::Notify(NotifyType::INVALID_KE_PAYLOAD))
    );
    for action in refuser.drain_actions() {
        if let Action::SendDatagram { from, to, bytes } = action {
            pair.i
                .handle_datagram(pair.now, &mut pair.rng, from, to, &bytes)
                .unwrap();
        }
    }
    pair.run();
    assert_eq!(pair.i.suite(), Some(cbc_modp2048()));
    assert!(pair.r().is_established());
}

#[test]
fn initial_contact_is_reported_to_the_responder() {
    let pair = established_pair();
    assert!(pair.r_events.iter().any(|a| matches!(
        a,
        Action::InitialContact { remote_id: Identity::Ipv4(ip), .. } if *ip == *I_ADDR.ip()
    )));
    let mut i = initiator_config();
    i.initial_contact = false;
    let mut quiet = Pair::start(i, responder_config());
    quiet.run();
    assert!(
        !quiet
            .r_events
            .iter()
            .any(|a| matches!(a, Action::InitialContact { .. }))
    );
}

#[test]
fn unexpected_peer_identity_is_refused() {
    let mut r = responder_config();
    r.remote_id = Identity::Fqdn("someone-else.example.com".into());
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    assert_eq!(
        closed(&pair.r_events),
        Some(&CloseReason::IdentityMismatch(Identity::Ipv4(*I_ADDR.ip())))
    );
    assert!(installs(&pair.r_events).is_empty());
}

#[test]
fn responder_narrows_traffic_selectors() {
    let mut r = responder_config();
    r.remote_ts = range([192, 0, 2, 16], [192, 0, 2, 31]);
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    let i = installs(&pair.i_events);
    assert_eq!(i[0].local_ts, range([192, 0, 2, 16], [192, 0, 2, 31]));
    assert_matching(i[0], installs(&pair.r_events)[0]);
}

#[test]
fn transport_mode_needs_both_sides() {
    let mut i = initiator_config();
    let mut r = responder_config();
    (i.mode, r.mode) = (Mode::Transport, Mode::Transport);
    let mut pair = Pair::start(i.clone(), r);
    pair.run();
    assert_eq!(installs(&pair.i_events)[0].mode, Mode::Transport);
    assert_eq!(installs(&pair.r_events)[0].mode, Mode::Transport);
    let mut tunnel_only = Pair::start(i, responder_config());
    tunnel_only.run();
    assert_eq!(installs(&tunnel_only.i_events)[0].mode, Mode::Tunnel);
}

#[test]
fn retransmits_with_backoff_then_gives_up() {
    let mut pair = Pair::start(initiator_config(), responder_config());
    let mut sent = pair.i.drain_actions().len();
    let mut waited = Vec::new();
    let start = pair.now;
    while let Some(deadline) = pair.i.poll_timeout() {
        waited.push(deadline - pair.now);
        pair.now = deadline;
        pair.i.handle_timeout(pair.now, &mut pair.rng).unwrap();
        let actions = pair.i.drain_actions();
        sent += actions
            .iter()
            .filter(|a| matches!(a, Action::SendDatagram { .. }))
            .count();
        pair.i_events.extend(
            actions
                .into_iter()
                .filter(|a| !matches!(a, Action::SendDatagram { .. })),
        );
    }
    assert_eq!(sent, 6, "first transmission and five retransmissions");
    assert_eq!(waited[0], Duration::from_secs(4));
    assert_eq!(waited[1], Duration::from_millis(7200));
    assert_eq!((pair.now - start).as_secs(), 165);
    assert_eq!(closed(&pair.i_events), Some(&CloseReason::PeerUnreachable));
}

#[test]
fn retransmitted_request_gets_the_cached_response() {
    let mut pair = Pair::start(initiator_config(), responder_config());
    let init = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = init.first() else {
        panic!()
    };
    pair.deliver_to_responder(*from, *to, bytes);
    let first = pair.r().drain_actions();
    let (now, mut rng) = (pair.now, ChaCha20Rng::seed_from_u64(99));
    let again = pair
        .r()
        .handle_datagram(now, &mut rng, *from, *to, bytes)
        .unwrap();
    assert_eq!(again, Received::Retransmission);
    let second = pair.r().drain_actions();
    let bytes_of = |a: &[Action]| match a.first() {
        Some(Action::SendDatagram { bytes, .. }) => bytes.clone(),
        _ => Vec::new(),
    };
    assert!(!bytes_of(&first).is_empty());
    assert_eq!(bytes_of(&first), bytes_of(&second));
}

#[test]
fn tampered_message_is_an_error_and_changes_nothing() {
    let mut pair = Pair::start(initiator_config(), responder_config());
    let init = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = init.first() else {
        panic!()
    };
    pair.deliver_to_responder(*from, *to, bytes);
    for action in pair.r().drain_actions() {
        if let Action::SendDatagram { from, to, bytes } = action {
            pair.i
                .handle_datagram(pair.now, &mut pair.rng, from, to, &bytes)
                .unwrap();
        }
    }
    let auth = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = auth.first() else {
        panic!()
    };
    let mut tampered = bytes.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (now, mut rng) = (pair.now, ChaCha20Rng::seed_from_u64(1));
    let err = pair
        .r()
        .handle_datagram(now, &mut rng, *from, *to, &tampered)
        .unwrap_err();
    assert!(matches!(err, SaError::Crypto(_)), "{err}");
    assert!(pair.r().drain_actions().is_empty());
    // The genuine message still completes the exchange.
    pair.deliver_to_responder(*from, *to, bytes);
    pair.run();
    assert!(pair.r().is_established());
}

#[test]
fn deleting_the_ike_sa_removes_children_on_both_sides() {
    let mut pair = established_pair();
    let child = installs(&pair.i_events)[0].clone();
    pair.i.delete(pair.now, &mut pair.rng).unwrap();
    pair.run();
    assert_eq!(
        deletes(&pair.i_events),
        [(child.inbound_spi, child.outbound_spi)]
    );
    assert_eq!(
        deletes(&pair.r_events),
        [(child.outbound_spi, child.inbound_spi)]
    );
    assert_eq!(pair.i.closed(), Some(&CloseReason::DeletedLocally));
    assert_eq!(pair.r().closed(), Some(&CloseReason::DeletedByPeer));
}

#[test]
fn deleting_a_child_sa_removes_it_on_both_sides() {
    let mut pair = established_pair();
    let child = installs(&pair.r_events)[0].clone();
    let (now, mut rng) = (pair.now, ChaCha20Rng::seed_from_u64(3));
    pair.r()
        .delete_child(now, &mut rng, child.inbound_spi)
        .unwrap();
    pair.run();
    assert_eq!(
        deletes(&pair.r_events),
        [(child.inbound_spi, child.outbound_spi)]
    );
    assert_eq!(
        deletes(&pair.i_events),
        [(child.outbound_spi, child.inbound_spi)]
    );
    assert!(pair.i.children().is_empty() && pair.r().children().is_empty());
    assert!(pair.i.is_established());
}

#[test]
fn liveness_check_is_answered_and_dpd_starts_one_after_silence() {
    let mut i = initiator_config();
    i.dpd_interval = Some(Duration::from_secs(30));
    let mut pair = Pair::start(i, responder_config());
    pair.run();
    let due = pair.i.poll_timeout().unwrap();
    assert_eq!(due - pair.now, Duration::from_secs(30));
    pair.now = due;
    pair.i.handle_timeout(pair.now, &mut pair.rng).unwrap();
    let probe = pair.i.drain_actions();
    assert_eq!(probe.len(), 1);
    let Some(Action::SendDatagram { from, to, bytes }) = probe.first() else {
        panic!()
    };
    pair.deliver_to_responder(*from, *to, bytes);
    pair.run();
    assert!(pair.i.is_established());
    assert_eq!(
        pair.i.poll_timeout().map(|t| t - pair.now),
        Some(Duration::from_secs(30))
    );
}

#[test]
fn rekeying_a_child_sa_installs_the_new_one_and_deletes_the_old() {
    let mut pair = established_pair();
    let old = installs(&pair.i_events)[0].clone();
    pair.i_events.clear();
    pair.r_events.clear();
    pair.i
        .rekey_child(pair.now, &mut pair.rng, old.inbound_spi)
        .unwrap();
    pair.run();
    let (i, r) = (installs(&pair.i_events), installs(&pair.r_events));
    assert_eq!((i.len(), r.len()), (1, 1));
    assert_matching(i[0], r[0]);
    assert_eq!(i[0].replaces, Some(old.inbound_spi));
    assert_eq!(r[0].replaces, Some(old.outbound_spi));
    assert_ne!(i[0].inbound_keys, old.inbound_keys);
    assert_eq!(
        deletes(&pair.i_events),
        [(old.inbound_spi, old.outbound_spi)]
    );
    assert_eq!(
        deletes(&pair.r_events),
        [(old.outbound_spi, old.inbound_spi)]
    );
    assert_eq!(pair.i.children().len(), 1);
    assert_eq!(pair.r().children().len(), 1);
}

/// An established pair whose policies ask for PFS with these groups (`DhGroup::NONE`: none).
fn pfs_pair(i_group: DhGroup, r_group: DhGroup) -> Pair {
    let (mut i, mut r) = (initiator_config(), responder_config());
    (i.pfs, r.pfs) = (i_group, r_group);
    let mut pair = Pair::start(i, r);
    pair.run();
    assert!(pair.i.is_established() && pair.r().is_established());
    // IKE_AUTH's CHILD SA takes its keys from the IKE SA, PFS or not (RFC 7296 §1.2).
    assert_eq!(installs(&pair.i_events).len(), 1);
    pair
}

#[test]
fn with_pfs_a_rekey_and_a_new_child_sa_make_matching_keys_in_either_group() {
    for group in [DhGroup::CURVE25519, DhGroup::MODP_2048] {
        let mut pair = pfs_pair(group, group);
        let old = installs(&pair.i_events)[0].clone();
        pair.i_events.clear();
        pair.r_events.clear();
        pair.i
            .rekey_child(pair.now, &mut pair.rng, old.inbound_spi)
            .unwrap();
        pair.run();
        let (i, r) = (installs(&pair.i_events), installs(&pair.r_events));
        assert_eq!((i.len(), r.len()), (1, 1), "{group:?}");
        assert_matching(i[0], r[0]);
        assert_eq!(i[0].replaces, Some(old.inbound_spi));
        assert_eq!(
            deletes(&pair.i_events),
            [(old.inbound_spi, old.outbound_spi)]
        );
        // The responder starts one too.
        pair.i_events.clear();
        pair.r_events.clear();
        let (now, mut rng) = (pair.now, ChaCha20Rng::seed_from_u64(5));
        pair.r().create_child(now, &mut rng).unwrap();
        pair.run();
        assert_matching(installs(&pair.r_events)[0], installs(&pair.i_events)[0]);
        assert_eq!(pair.i.children().len(), 2, "{group:?}");
    }
}

#[test]
fn pfs_on_one_side_only_or_in_another_group_makes_no_child_sa_and_keeps_the_old() {
    let mismatches = [
        (DhGroup::NONE, DhGroup::CURVE25519),
        (DhGroup::CURVE25519, DhGroup::NONE),
        (DhGroup::CURVE25519, DhGroup::MODP_2048),
    ];
    for (i_group, r_group) in mismatches {
        let mut pair = pfs_pair(i_group, r_group);
        let old = installs(&pair.i_events)[0].clone();
        pair.i_events.clear();
        pair.r_events.clear();
        pair.i
            .rekey_child(pair.now, &mut pair.rng, old.inbound_spi)
            .unwrap();
        pair.run();
        let what = format!("{i_group:?} against {r_group:?}");
        assert!(installs(&pair.i_events).is_empty(), "{what}");
        assert!(installs(&pair.r_events).is_empty(), "{what}");
        assert!(deletes(&pair.i_events).is_empty(), "{what}");
        assert!(
            pair.i.is_established() && pair.r().is_established(),
            "{what}"
        );
        assert_eq!(pair.i.children().len(), 1, "{what}");
    }
}

#[test]
fn create_child_adds_a_second_child_sa() {
    let mut pair = established_pair();
    pair.i_events.clear();
    pair.r_events.clear();
    let (now, mut rng) = (pair.now, ChaCha20Rng::seed_from_u64(5));
    pair.r().create_child(now, &mut rng).unwrap();
    pair.run();
    assert_matching(installs(&pair.r_events)[0], installs(&pair.i_events)[0]);
    assert_eq!(pair.i.children().len(), 2);
}

#[test]
fn a_child_sa_for_narrower_selectors_is_created_and_rekeyed_with_them() {
    let mut pair = established_pair();
    pair.i_events.clear();
    let mut web = range([192, 0, 2, 1], [192, 0, 2, 1]);
    (web.ip_protocol, web.start_port, web.end_port) = (6, 80, 80);
    let peers = range([198, 51, 100, 0], [198, 51, 100, 255]);
    assert!(pair.i.is_idle());
    pair.i
        .create_child_for(pair.now, &mut pair.rng, (web, peers))
        .unwrap();
    assert!(!pair.i.is_idle(), "CREATE_CHILD_SA outstanding");
    pair.run();
    let created = installs(&pair.i_events)[0].clone();
    assert_eq!((created.local_ts, created.remote_ts), (web, peers));
    assert_eq!(pair.i.children().len(), 2);
    pair.i
        .rekey_child(pair.now, &mut pair.rng, created.inbound_spi)
        .unwrap();
    pair.run();
    let rekeyed = installs(&pair.i_events)[1];
    assert_eq!(rekeyed.replaces, Some(created.inbound_spi));
    assert_eq!(
        (rekeyed.local_ts, rekeyed.remote_ts),
        (created.local_ts, created.remote_ts)
    );
}

#[test]
fn dropping_locally_with_notice_sends_one_delete_and_closes_at_once() {
    let mut pair = established_pair();
    pair.i.drop_locally(&mut pair.rng, true).unwrap();
    let actions = pair.i.drain_actions();
    let sent = actions
        .iter()
        .filter(|a| matches!(a, Action::SendDatagram { .. }))
        .count();
    assert_eq!(sent, 1);
    assert_eq!(deletes(&actions).len(), 1);
    assert_eq!(closed(&actions), Some(&CloseReason::DeletedLocally));
    assert_eq!(pair.i.poll_timeout(), None, "nothing waits for the answer");
    let Some(Action::SendDatagram { from, to, bytes }) = actions.into_iter().next() else {
        panic!("the DELETE goes first");
    };
    pair.deliver_to_responder(from, to, &bytes);
    let r_actions = pair.r().drain_actions();
    assert_eq!(closed(&r_actions), Some(&CloseReason::DeletedByPeer));

    let mut silent = established_pair();
    silent.i.drop_locally(&mut silent.rng, false).unwrap();
    let actions = silent.i.drain_actions();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::SendDatagram { .. }))
    );
    assert_eq!(closed(&actions), Some(&CloseReason::DeletedLocally));
}

#[test]
fn commands_wait_for_the_outstanding_request() {
    let mut pair = established_pair();
    pair.i.check_liveness(pair.now, &mut pair.rng).unwrap();
    assert!(matches!(
        pair.i.check_liveness(pair.now, &mut pair.rng),
        Err(SaError::NotReady { .. })
    ));
    assert_eq!(
        pair.i
            .rekey_child(pair.now, &mut pair.rng, 1)
            .unwrap_err()
            .to_string(),
        "IKE SA is INFORMATIONAL_PENDING, not ready for CHILD SA rekey"
    );
}

#[test]
fn cookie_challenge_makes_the_initiator_retry_with_the_cookie() {
    let mut pair = Pair::start(initiator_config(), responder_config());
    let mut jar_rng = ChaCha20Rng::seed_from_u64(11);
    let jar = CookieJar::new(&mut jar_rng);
    let first = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = first.first() else {
        panic!()
    };
    let request = Message::parse(bytes).unwrap();
    let CookieCheck::Challenge(challenge) = jar.check(&request, *from) else {
        panic!("no challenge")
    };
    pair.i
        .handle_datagram(pair.now, &mut pair.rng, *to, *from, &challenge)
        .unwrap();
    let retry = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = retry.first() else {
        panic!("no retry")
    };
    let request = Message::parse(bytes).unwrap();
    assert!(
        request
            .to_string()
            .starts_with("IKE_SA_INIT request 0 [ N(COOKIE) SA KE")
    );
    assert_eq!(jar.check(&request, *from), CookieCheck::Valid);
    // Another address gets no pass with that cookie.
    let elsewhere = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 9), 500);
    assert!(matches!(
        jar.check(&request, elsewhere),
        CookieCheck::Challenge(_)
    ));
    pair.deliver_to_responder(*from, *to, bytes);
    pair.run();
    assert!(pair.i.is_established());
}

#[test]
fn cookies_from_before_one_rotation_stay_valid() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let mut jar = CookieJar::new(&mut rng);
    let mut pair = Pair::start(initiator_config(), responder_config());
    let first = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = first.first() else {
        panic!()
    };
    let CookieCheck::Challenge(challenge) = jar.check(&Message::parse(bytes).unwrap(), *from)
    else {
        panic!()
    };
    pair.i
        .handle_datagram(pair.now, &mut pair.rng, *to, *from, &challenge)
        .unwrap();
    let retry = pair.i.drain_actions();
    let Some(Action::SendDatagram { bytes, .. }) = retry.first() else {
        panic!()
    };
    let request = Message::parse(bytes).unwrap();
    jar.rotate(&mut rng);
    assert_eq!(jar.check(&request, *from), CookieCheck::Valid);
    jar.rotate(&mut rng);
    assert!(matches!(
        jar.check(&request, *from),
        CookieCheck::Challenge(_)
    ));
}

#[test]
fn rekeying_the_ike_sa_moves_children_and_deletes_the_old_one() {
    let mut pair = established_pair();
    let (old_i, old_r) = (pair.i.spis(), pair.r().spis());
    assert_eq!(old_i, old_r);
    let children = pair.i.children().to_vec();
    pair.i_events.clear();
    pair.r_events.clear();
    pair.i.rekey_ike(pair.now, &mut pair.rng).unwrap();
    pair.run();
    // New SPIs on both sides, the same on each; the CHILD SAs moved untouched.
    let new = pair.i.spis();
    assert_ne!(new.0, old_i.0);
    assert_ne!(new.1, old_i.1);
    assert_eq!(pair.r().spis(), new);
    assert_eq!(pair.i.children(), children.as_slice());
    assert_eq!(pair.r().children().len(), 1);
    assert!(deletes(&pair.i_events).is_empty() && deletes(&pair.r_events).is_empty());
    assert_eq!(closed(&pair.i_events), Some(&CloseReason::Rekeyed));
    assert_eq!(closed(&pair.r_events), Some(&CloseReason::Rekeyed));
    assert_eq!(
        pair.i_old.as_ref().and_then(IkeSa::closed),
        Some(&CloseReason::Rekeyed)
    );
    // The new IKE SA works: message IDs restart at 0, and a CHILD SA rekey runs on it.
    let old_child = children[0].inbound_spi;
    pair.i
        .rekey_child(pair.now, &mut pair.rng, old_child)
        .unwrap();
    pair.run();
    assert_matching(installs(&pair.i_events)[0], installs(&pair.r_events)[0]);
    assert_eq!(pair.i.children().len(), 1);
    assert_ne!(pair.i.children()[0].inbound_spi, old_child);
}

#[test]
fn ike_rekey_with_another_dh_group_is_refused_and_keeps_the_sa() {
    let mut r = responder_config();
    r.ike_suites = vec![gcm_x25519(), cbc_modp2048()];
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    // The responder now only accepts MODP-2048 suites for the rekey.
    let mut refreshed = pair.r().config().clone();
    refreshed.ike_suites = vec![cbc_modp2048()];
    pair.r().refresh_policy(refreshed);
    let spis = pair.i.spis();
    pair.i.rekey_ike(pair.now, &mut pair.rng).unwrap();
    pair.run();
    assert_eq!(pair.i.spis(), spis);
    assert!(pair.i.is_established() && pair.r().is_established());
    pair.i.check_liveness(pair.now, &mut pair.rng).unwrap();
    pair.run();
    assert!(pair.i.is_established());
}

#[test]
fn selectors_outside_the_responders_policy_leave_the_ike_sa_without_child() {
    let mut r = responder_config();
    r.remote_ts = range([203, 0, 113, 0], [203, 0, 113, 255]);
    let mut pair = Pair::start(initiator_config(), r);
    pair.run();
    assert!(pair.i.is_established() && pair.r().is_established());
    assert!(installs(&pair.i_events).is_empty() && installs(&pair.r_events).is_empty());
}

#[test]
fn exchange_transcript() {
    let mut pair = established_pair();
    let child = pair.i.children()[0].inbound_spi;
    pair.i.rekey_child(pair.now, &mut pair.rng, child).unwrap();
    pair.run();
    pair.i.rekey_ike(pair.now, &mut pair.rng).unwrap();
    pair.run();
    pair.i.delete(pair.now, &mut pair.rng).unwrap();
    pair.run();
    insta::assert_snapshot!(pair.transcript.join("\n"));
}

#[test]
fn child_sa_is_rekeyed_when_its_rekey_time_comes() {
    let mut i = initiator_config();
    i.child_rekey_time = Some(Duration::from_secs(3000));
    let mut pair = Pair::start(i, responder_config());
    pair.run();
    let old = installs(&pair.i_events)[0].inbound_spi;
    let due = pair.i.poll_timeout().unwrap();
    assert_eq!(due - pair.now, Duration::from_secs(3000));
    pair.i_events.clear();
    pair.now = due;
    pair.i.handle_timeout(pair.now, &mut pair.rng).unwrap();
    pair.run();
    let new = installs(&pair.i_events);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].replaces, Some(old));
    assert_eq!(pair.i.children().len(), 1);
    assert_eq!(
        pair.i.poll_timeout().map(|t| t - pair.now),
        Some(Duration::from_secs(3000))
    );
}

#[test]
fn ike_sa_is_rekeyed_when_its_rekey_time_comes() {
    let mut i = initiator_config();
    i.ike_rekey_time = Some(Duration::from_secs(10_000));
    let mut pair = Pair::start(i, responder_config());
    pair.run();
    let old = pair.i.spis();
    let due = pair.i.poll_timeout().unwrap();
    assert_eq!(due - pair.now, Duration::from_secs(10_000));
    pair.now = due;
    pair.i.handle_timeout(pair.now, &mut pair.rng).unwrap();
    pair.run();
    assert_ne!(pair.i.spis(), old);
    assert_eq!(pair.r().spis(), pair.i.spis());
    assert_eq!(
        pair.i.poll_timeout().map(|t| t - pair.now),
        Some(Duration::from_secs(10_000))
    );
}

#[test]
fn refused_timed_rekey_is_retried() {
    let mut i = initiator_config();
    i.ike_rekey_time = Some(Duration::from_secs(10_000));
    let mut r = responder_config();
    r.ike_suites = vec![gcm_x25519(), cbc_modp2048()];
    let mut pair = Pair::start(i, r);
    pair.run();
    let mut refreshed = pair.r().config().clone();
    refreshed.ike_suites = vec![cbc_modp2048()];
    pair.r().refresh_policy(refreshed);
    pair.now = pair.i.poll_timeout().unwrap();
    pair.i.handle_timeout(pair.now, &mut pair.rng).unwrap();
    pair.run();
    assert!(pair.i.is_established());
    assert_eq!(
        pair.i.poll_timeout().map(|t| t - pair.now),
        Some(Duration::from_secs(4))
    );
}

#[test]
fn simultaneous_child_rekeys_leave_one_child_sa_on_each_side() {
    let mut pair = established_pair();
    let old_i = pair.i.children()[0].inbound_spi;
    let old_r = pair.r().children()[0].inbound_spi;
    pair.i_events.clear();
    pair.r_events.clear();
    pair.i.rekey_child(pair.now, &mut pair.rng, old_i).unwrap();
    let (now, mut rng) = (pair.now, ChaCha20Rng::seed_from_u64(21));
    pair.r().rekey_child(now, &mut rng, old_r).unwrap();
    pair.run();
    // Two new pairs were made; the redundant one and the old one are gone on both sides.
    assert_eq!(installs(&pair.i_events).len(), 2);
    assert_eq!(deletes(&pair.i_events).len(), 2);
    assert_eq!(deletes(&pair.r_events).len(), 2);
    let (i, r) = (pair.i.children().to_vec(), pair.r().children().to_vec());
    assert_eq!((i.len(), r.len()), (1, 1));
    assert_eq!(
        (i[0].inbound_spi, i[0].outbound_spi),
        (r[0].outbound_spi, r[0].inbound_spi)
    );
    assert_ne!(i[0].inbound_spi, old_i);
}

#[test]
fn rekeyed_sa_closes_by_itself_when_the_peer_never_deletes_it() {
    let mut pair = established_pair();
    pair.r_events.clear();
    pair.i.rekey_ike(pair.now, &mut pair.rng).unwrap();
    // Deliver the rekey request and its response, then lose the initiator's delete.
    let request = pair.i.drain_actions();
    let Some(Action::SendDatagram { from, to, bytes }) = request.first() else {
        panic!()
    };
    pair.deliver_to_responder(*from, *to, bytes);
    let mut responder_actions = pair.r().drain_actions();
    let new = responder_actions
        .iter()
        .position(|a| matches!(a, Action::IkeSaRekeyed { .. }));
    let Some(Action::IkeSaRekeyed { new, .. }) = new.map(|i| responder_actions.remove(i)) else {
        panic!("responder did not rekey");
    };
    let mut old = std::mem::replace(pair.r(), *new);
    assert!(
        old.children().is_empty(),
        "CHILD SAs moved to the new IKE SA"
    );
    assert_eq!(pair.r().children().len(), 1);
    let due = old.poll_timeout().unwrap();
    assert_eq!(due - pair.now, RetransmitPolicy::STRONGSWAN.give_up_after());
    old.handle_timeout(due, &mut pair.rng).unwrap();
    let actions = old.drain_actions();
    assert!(deletes(&actions).is_empty());
    assert_eq!(closed(&actions), Some(&CloseReason::Rekeyed));
}
