//! The IKE SA state machine (RFC 7296): IKE_SA_INIT and IKE_AUTH with a pre-shared key as
//! initiator and responder, CREATE_CHILD_SA for new and rekeyed CHILD SAs, INFORMATIONAL for
//! deletes and liveness, retransmission with back-off, NAT detection and the move to port 4500.
//!
//! Sans-IO: datagrams come in through [`IkeSa::handle_datagram`], time through `now`
//! arguments, randomness through an RNG argument; everything the SA wants done comes out as
//! [`Action`]s from [`IkeSa::drain_actions`]. Each received message is parsed (and decrypted)
//! completely before the state changes, and every state change goes through `set_state`.

use std::fmt;
use std::mem;
use std::net::SocketAddrV4;
use std::time::Instant;

use rand::{CryptoRng, RngCore};

use super::action::{Action, ChildSaInstall, CloseReason, IkeSaSummary};
use super::config::{IkeSaConfig, Mode};
use super::error::SaError;
use super::natd::natd_hash;
use super::payloads::{Payloads, nonce_ok};
use super::proposal::{
    accepted_esp, accepted_ike, choose_esp, choose_ike, esp_proposal, ike_proposal, offer,
};
use super::state::{
    Closed, Deleting, Established, ExpectAuthRequest, ExpectAuthResponse, ExpectChildResponse,
    ExpectInformationalResponse, ExpectSaInitResponse, New, SaInitTranscript, State,
};
use crate::crypto::ids::DhGroup;
use crate::crypto::{
    ChildSaKeys, DhPrivateKey, EspSuite, IkeCipher, IkeSaKeys, IkeSuite, Role, SecretBytes, auth,
    skeyseed,
};
use crate::wire::{
    AuthMethod, AuthPayload, DeletePayload, EncryptedPayload, ExchangeType, Flags, HeaderRepr,
    Identity, Ipv4Range, KePayload, Message, NAT_T_PORT, NotifyPayload, NotifyType, Payload,
    Port4500, ProtocolId, TrafficSelector, TsPayload, classify_port_4500, emit_chain, parse_chain,
    with_non_esp_marker,
};

mod ike_rekey;

const NONCE_LEN: usize = 32;

/// What became of a received datagram that was not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// The message was processed; see the actions.
    Processed,
    /// A retransmitted request: the cached response was sent again (RFC 7296 §2.1).
    Retransmission,
    /// Not for this SA or not expected now; dropped without a reply.
    Ignored(&'static str),
}

/// A CHILD SA of this IKE SA (no keys: those went to the datapath).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSa {
    /// SPI of the SA we receive on.
    pub inbound_spi: u32,
    /// SPI of the SA we send on.
    pub outbound_spi: u32,
    /// The ESP algorithms.
    pub suite: EspSuite,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our side's selector.
    pub local_ts: Ipv4Range,
    /// The peer's side's selector.
    pub remote_ts: Ipv4Range,
}

/// The keys and ciphers of an IKE SA once IKE_SA_INIT is done.
#[derive(Debug)]
struct SaCrypto {
    suite: IkeSuite,
    keys: IkeSaKeys,
    outbound: IkeCipher,
    inbound: IkeCipher,
}

/// A request of ours waiting for its response.
#[derive(Debug)]
struct Outstanding {
    message_id: u32,
    datagram: Vec<u8>,
    attempt: u32,
    deadline: Instant,
}

/// One IKE SA, from IKE_SA_INIT to delete. See the module documentation.
#[derive(Debug)]
pub struct IkeSa {
    config: IkeSaConfig,
    role: Role,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    udp_encapsulation: bool,
    state: State,
    crypto: Option<SaCrypto>,
    next_request_id: u32,
    next_peer_request_id: u32,
    cached_response: Option<(u32, Vec<u8>)>,
    outstanding: Option<Outstanding>,
    children: Vec<ChildSa>,
    actions: Vec<Action>,
    last_heard: Instant,
}

/// A random non-zero value (IKE SPIs must not be zero).
fn nonzero_u64<R: RngCore>(rng: &mut R) -> u64 {
    loop {
        let v = rng.next_u64();
        if v != 0 {
            return v;
        }
    }
}

/// A random ESP SPI outside the reserved range 0-255 (RFC 4303 §2.1).
fn child_spi<R: RngCore>(rng: &mut R) -> u32 {
    loop {
        let v = rng.next_u32();
        if v > 255 {
            return v;
        }
    }
}

fn nonce<R: RngCore>(rng: &mut R) -> Vec<u8> {
    let mut n = vec![0; NONCE_LEN];
    rng.fill_bytes(&mut n);
    n
}

fn notify(notify_type: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(NotifyPayload::new(notify_type, data))
}

fn ts(range: Ipv4Range) -> TsPayload {
    TsPayload {
        selectors: vec![TrafficSelector::Ipv4(range)],
    }
}

impl IkeSa {
    fn new(
        config: IkeSaConfig,
        role: Role,
        spi_i: u64,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        state: State,
        now: Instant,
    ) -> Self {
        Self {
            config,
            role,
            spi_i,
            spi_r: 0,
            local,
            remote,
            udp_encapsulation: false,
            state,
            crypto: None,
            next_request_id: 0,
            next_peer_request_id: 0,
            cached_response: None,
            outstanding: None,
            children: Vec::new(),
            actions: Vec::new(),
            last_heard: now,
        }
    }

    /// Starts an IKE SA as initiator: sends IKE_SA_INIT from `local` to `remote` (port 500).
    pub fn initiate<R: RngCore + CryptoRng>(
        config: IkeSaConfig,
        now: Instant,
        rng: &mut R,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Result<Self, SaError> {
        let group = config
            .ike_suites
            .first()
            .map(|s| s.dh)
            .ok_or(SaError::Protocol("no IKE proposal configured"))?;
        let dh = DhPrivateKey::generate(group, rng)?;
        let ni = nonce(rng);
        let spi_i = nonzero_u64(rng);
        let mut natd_source = natd_hash(spi_i, 0, local);
        if config.force_udp_encapsulation {
            rng.fill_bytes(&mut natd_source);
        }
        let payloads = vec![
            Payload::Sa(offer(&config.ike_suites, |n, s| {
                ike_proposal(n, s, Vec::new())
            })),
            Payload::Ke(KePayload {
                dh_group: group.0,
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(ni.clone()),
            notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_source),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                natd_hash(spi_i, 0, remote),
            ),
        ];
        let state = ExpectSaInitResponse {
            dh,
            ni,
            payloads,
            request: Vec::new(),
        };
        let mut sa = Self::new(
            config,
            Role::Initiator,
            spi_i,
            local,
            remote,
            State::New(New),
            now,
        );
        sa.send_sa_init_request(now, state)?;
        Ok(sa)
    }

    /// Answers an IKE_SA_INIT request that arrived from `src` at `dst` (port 500). The SA is
    /// closed at once when the request is refused (the refusal is among the actions).
    pub fn respond<R: RngCore + CryptoRng>(
        config: IkeSaConfig,
        now: Instant,
        rng: &mut R,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        datagram: &[u8],
    ) -> Result<Self, SaError> {
        let bytes = Self::unframe(dst, datagram)?.ok_or(SaError::Protocol("not an IKE message"))?;
        let request = Message::parse(bytes)?;
        let h = request.header;
        if h.exchange_type != ExchangeType::IKE_SA_INIT
            || h.is_response()
            || h.message_id != 0
            || h.responder_spi != 0
        {
            return Err(SaError::Protocol("not an IKE_SA_INIT request"));
        }
        let mut sa = Self::new(
            config,
            Role::Responder,
            h.initiator_spi,
            dst,
            src,
            State::New(New),
            now,
        );
        sa.spi_r = nonzero_u64(rng);
        sa.next_peer_request_id = 1;
        sa.answer_sa_init(now, rng, &request, bytes, src, dst)?;
        Ok(sa)
    }

    fn answer_sa_init<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        request: &Message,
        request_bytes: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Result<(), SaError> {
        let p = Payloads(&request.payloads);
        let (Some(sa), Some(ke), Some(ni)) = (p.sa(), p.ke(), p.nonce()) else {
            return self.refuse_sa_init(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        if !nonce_ok(ni) {
            return self.refuse_sa_init(NotifyType::INVALID_SYNTAX, Vec::new());
        }
        let Some((proposal, suite)) = choose_ike(sa, &self.config.ike_suites, DhGroup(ke.dh_group))
        else {
            return self.refuse_sa_init(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        if ke.dh_group != suite.dh.0 {
            // RFC 7296 §1.3: tell the initiator which group we want.
            return self.refuse_sa_init(
                NotifyType::INVALID_KE_PAYLOAD,
                suite.dh.0.to_be_bytes().to_vec(),
            );
        }
        let dh = DhPrivateKey::generate(suite.dh, rng)?;
        let Ok(g_ir) = dh.shared_secret(&ke.data) else {
            return self.refuse_sa_init(NotifyType::INVALID_SYNTAX, Vec::new());
        };
        let nr = nonce(rng);
        self.install_ike_keys(suite, g_ir.as_bytes(), ni, &nr)?;
        let mut natd_source = natd_hash(self.spi_i, self.spi_r, dst);
        if self.config.force_udp_encapsulation {
            rng.fill_bytes(&mut natd_source);
        }
        let payloads = vec![
            Payload::Sa(crate::wire::SaPayload {
                proposals: vec![ike_proposal(proposal.number, &suite, Vec::new())],
            }),
            Payload::Ke(KePayload {
                dh_group: suite.dh.0,
                data: dh.public_value().to_vec(),
            }),
            Payload::Nonce(nr.clone()),
            notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_source),
            notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                natd_hash(self.spi_i, self.spi_r, src),
            ),
        ];
        let response = self
            .plain_message(ExchangeType::IKE_SA_INIT, true, 0, payloads)
            .emit()?;
        self.send_response(0, &response);
        let transcript = SaInitTranscript {
            ni: ni.clone(),
            nr,
            request: request_bytes.to_vec(),
            response,
        };
        self.last_heard = now;
        self.set_state(State::ExpectAuthRequest(ExpectAuthRequest { transcript }));
        Ok(())
    }

    /// Sends an IKE_SA_INIT error response and closes (RFC 7296 §2.21.1: nothing is kept).
    fn refuse_sa_init(&mut self, notify_type: NotifyType, data: Vec<u8>) -> Result<(), SaError> {
        let mut message = self.plain_message(
            ExchangeType::IKE_SA_INIT,
            true,
            0,
            vec![notify(notify_type, data)],
        );
        message.header.responder_spi = 0;
        let response = message.emit()?;
        self.send_response(0, &response);
        self.close(CloseReason::Notify(notify_type));
        Ok(())
    }

    // ---------------------------------------------------------------- inputs

    /// Handles a UDP datagram that arrived from `src` at `dst` for this SA (port 4500
    /// datagrams with their non-ESP marker).
    pub fn handle_datagram<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        datagram: &[u8],
    ) -> Result<Received, SaError> {
        if matches!(self.state, State::Closed(_)) {
            return Ok(Received::Ignored("IKE SA closed"));
        }
        let Some(bytes) = Self::unframe(dst, datagram)? else {
            return Ok(Received::Ignored("not an IKE message"));
        };
        let message = Message::parse(bytes)?;
        let h = message.header;
        if h.initiator_spi != self.spi_i {
            return Ok(Received::Ignored("initiator SPI of another IKE SA"));
        }
        // SPIr is still zero in our IKE_SA_INIT response and in a retransmitted request.
        let sa_init_spi_r = h.exchange_type == ExchangeType::IKE_SA_INIT && h.responder_spi == 0;
        let learning_spi_r = matches!(self.state, State::ExpectSaInitResponse(_));
        if !learning_spi_r && !sa_init_spi_r && h.responder_spi != self.spi_r {
            return Ok(Received::Ignored("responder SPI of another IKE SA"));
        }
        if h.is_response() {
            self.handle_response(now, rng, &message, bytes, src, dst)
        } else {
            self.handle_request(now, rng, &message, bytes, src, dst)
        }
    }

    /// Strips the non-ESP marker on port 4500; `None` for ESP and keepalives.
    fn unframe(dst: SocketAddrV4, datagram: &[u8]) -> Result<Option<&[u8]>, SaError> {
        if dst.port() != NAT_T_PORT {
            return Ok(Some(datagram));
        }
        Ok(match classify_port_4500(datagram)? {
            Port4500::Ike(bytes) => Some(bytes),
            Port4500::Esp(_) | Port4500::Keepalive => None,
        })
    }

    fn handle_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        message: &Message,
        bytes: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Result<Received, SaError> {
        let expected = self.outstanding.as_ref().map(|o| o.message_id);
        if expected != Some(message.header.message_id) {
            return Ok(Received::Ignored("response to no outstanding request"));
        }
        if let State::ExpectSaInitResponse(_) = self.state {
            if message.header.exchange_type != ExchangeType::IKE_SA_INIT {
                return Ok(Received::Ignored("not an IKE_SA_INIT response"));
            }
            return self
                .on_sa_init_response(now, rng, message, bytes, src, dst)
                .map(|()| Received::Processed);
        }
        let inner = self.open(message, bytes)?;
        self.outstanding = None;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.last_heard = now;
        let p = Payloads(&inner);
        match &self.state {
            State::ExpectAuthResponse(s) => {
                let s = s.clone();
                self.on_auth_response(now, s, p)?;
            }
            State::ExpectChildResponse(s) => {
                let s = s.clone();
                self.on_child_response(now, rng, s, p)?;
            }
            State::ExpectInformationalResponse(s) => {
                for spi in s.deleting.clone() {
                    self.remove_child(spi);
                }
                self.set_state(State::Established(Established));
            }
            State::Deleting(s) => {
                let reason = s.reason.clone();
                self.close(reason);
            }
            State::ExpectIkeRekeyResponse(_) => self.on_ike_rekey_response(now, rng, p)?,
            _ => return Ok(Received::Ignored("unexpected response")),
        }
        Ok(Received::Processed)
    }

    fn handle_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        message: &Message,
        bytes: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Result<Received, SaError> {
        let id = message.header.message_id;
        if id.wrapping_add(1) == self.next_peer_request_id
            && let Some((cached_id, response)) = &self.cached_response
            && *cached_id == id
        {
            let response = response.clone();
            self.transmit(response);
            return Ok(Received::Retransmission);
        }
        if id != self.next_peer_request_id {
            return Ok(Received::Ignored("request outside the window"));
        }
        let inner = self.open(message, bytes)?;
        let p = Payloads(&inner);
        // The peer's address is the one its latest authenticated request came from
        // (RFC 7296 §2.23); the first such request on 4500 moves us there too.
        self.remote = src;
        self.local = dst;
        self.udp_encapsulation |= dst.port() == NAT_T_PORT;
        self.last_heard = now;
        self.next_peer_request_id = id.wrapping_add(1);
        match (message.header.exchange_type, &self.state) {
            (ExchangeType::IKE_AUTH, State::ExpectAuthRequest(_)) => {
                self.on_auth_request(now, rng, id, p)?
            }
            (ExchangeType::INFORMATIONAL, s)
                if s.is_established() || matches!(s, State::Deleting(_) | State::Rekeyed(_)) =>
            {
                self.on_informational_request(rng, id, p)?
            }
            (ExchangeType::CREATE_CHILD_SA, s) if s.is_established() => {
                self.on_create_child_request(now, rng, id, p)?
            }
            _ => {
                let reply = vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())];
                let response = self.seal(rng, message.header.exchange_type, true, id, &reply)?;
                self.send_response(id, &response);
            }
        }
        Ok(Received::Processed)
    }

    // ------------------------------------------------------ IKE_SA_INIT, IKE_AUTH

    fn send_sa_init_request(
        &mut self,
        now: Instant,
        mut state: ExpectSaInitResponse,
    ) -> Result<(), SaError> {
        let message =
            self.plain_message(ExchangeType::IKE_SA_INIT, false, 0, state.payloads.clone());
        state.request = message.emit()?;
        let datagram = state.request.clone();
        self.set_state(State::ExpectSaInitResponse(state));
        self.send_request(now, 0, datagram);
        Ok(())
    }

    /// Sends the IKE_SA_INIT request again after `edit` changed its payloads (a cookie, another
    /// DH group), as a fresh request with its own retransmission timer.
    fn retry_sa_init(
        &mut self,
        now: Instant,
        edit: impl FnOnce(&mut ExpectSaInitResponse) -> Result<(), SaError>,
    ) -> Result<(), SaError> {
        let header = self.header(ExchangeType::IKE_SA_INIT, false, 0);
        let State::ExpectSaInitResponse(state) = &mut self.state else {
            return Err(SaError::Protocol("not waiting for IKE_SA_INIT"));
        };
        edit(state)?;
        state.request = Message {
            header,
            payloads: state.payloads.clone(),
        }
        .emit()?;
        let datagram = state.request.clone();
        tracing::info!(
            spi_i = format_args!("{:016x}", self.spi_i),
            "IKE_SA_INIT retried"
        );
        self.send_request(now, 0, datagram);
        Ok(())
    }

    /// The DH group an INVALID_KE_PAYLOAD asks for, if we offered it and are not using it.
    fn wanted_group(&self, p: &Payloads<'_>, current: DhGroup) -> Option<DhGroup> {
        let data = &p.notify(NotifyType::INVALID_KE_PAYLOAD)?.data;
        let group = DhGroup(u16::from_be_bytes(
            <[u8; 2]>::try_from(data.as_slice()).ok()?,
        ));
        (group != current && self.config.ike_suites.iter().any(|s| s.dh == group)).then_some(group)
    }

    fn on_sa_init_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        message: &Message,
        bytes: &[u8],
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Result<(), SaError> {
        let p = Payloads(&message.payloads);
        if let Some(cookie) = p.notify(NotifyType::COOKIE) {
            // RFC 7296 §2.6: retry with the cookie as the first payload.
            let cookie = notify(NotifyType::COOKIE, cookie.data.clone());
            return self.retry_sa_init(now, |state| {
                state.payloads.retain(
                    |p| !matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::COOKIE),
                );
                state.payloads.insert(0, cookie);
                Ok(())
            });
        }
        let State::ExpectSaInitResponse(state) = &self.state else {
            return Err(SaError::Protocol("not waiting for IKE_SA_INIT"));
        };
        let group = state.dh.group();
        if let Some(wanted) = self.wanted_group(&p, group) {
            // RFC 7296 §1.3: retry with the group the responder asked for.
            let dh = DhPrivateKey::generate(wanted, rng)?;
            return self.retry_sa_init(now, |state| {
                let ke = KePayload {
                    dh_group: wanted.0,
                    data: dh.public_value().to_vec(),
                };
                for payload in &mut state.payloads {
                    if let Payload::Ke(old) = payload {
                        *old = ke.clone();
                    }
                }
                state.dh = dh;
                Ok(())
            });
        }
        if let Some(error) = p.error_notify() {
            self.close(CloseReason::Notify(error));
            return Ok(());
        }
        let (Some(sa), Some(ke), Some(nr)) = (p.sa(), p.ke(), p.nonce()) else {
            self.close(CloseReason::Notify(NotifyType::INVALID_SYNTAX));
            return Ok(());
        };
        let suite = accepted_ike(sa, &self.config.ike_suites).filter(|s| s.dh == group);
        let (Some(suite), true, true) = (suite, ke.dh_group == group.0, nonce_ok(nr)) else {
            self.close(CloseReason::Notify(NotifyType::NO_PROPOSAL_CHOSEN));
            return Ok(());
        };
        let g_ir = state.dh.shared_secret(&ke.data)?;
        let transcript = SaInitTranscript {
            ni: state.ni.clone(),
            nr: nr.clone(),
            request: state.request.clone(),
            response: bytes.to_vec(),
        };
        self.spi_r = message.header.responder_spi;
        self.outstanding = None;
        self.next_request_id = 1;
        self.last_heard = now;
        self.install_ike_keys(suite, g_ir.as_bytes(), &transcript.ni, nr)?;
        if self.nat_detected(&p, src, dst) || self.config.force_udp_encapsulation {
            // RFC 7296 §2.23: continue on 4500, from there on with the non-ESP marker.
            self.local.set_port(NAT_T_PORT);
            self.remote.set_port(NAT_T_PORT);
            self.udp_encapsulation = true;
        }
        self.send_auth_request(now, rng, transcript)
    }

    /// Whether either NAT detection hash differs from what the addresses give.
    fn nat_detected(&self, p: &Payloads<'_>, src: SocketAddrV4, dst: SocketAddrV4) -> bool {
        let differs = |t: NotifyType, addr| {
            p.notify(t)
                .is_some_and(|n| n.data != natd_hash(self.spi_i, self.spi_r, addr))
        };
        differs(NotifyType::NAT_DETECTION_SOURCE_IP, src)
            || differs(NotifyType::NAT_DETECTION_DESTINATION_IP, dst)
    }

    fn install_ike_keys(
        &mut self,
        suite: IkeSuite,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), SaError> {
        self.install_keys_from_seed(suite, &skeyseed(suite.prf, ni, nr, g_ir), ni, nr)
    }

    /// Derives SK_* from SKEYSEED with our SPIs and keys the SK payload ciphers.
    fn install_keys_from_seed(
        &mut self,
        suite: IkeSuite,
        seed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
    ) -> Result<(), SaError> {
        let keys = IkeSaKeys::derive(&suite, seed, ni, nr, self.spi_i, self.spi_r)?;
        let (outbound, inbound) = keys.ciphers(&suite, self.role)?;
        self.crypto = Some(SaCrypto {
            suite,
            keys,
            outbound,
            inbound,
        });
        Ok(())
    }

    fn crypto(&self) -> Result<&SaCrypto, SaError> {
        self.crypto
            .as_ref()
            .ok_or(SaError::Protocol("no keys before IKE_SA_INIT completes"))
    }

    /// AUTH data for `signer`: prf(prf(PSK, "Key Pad for IKEv2"), first message | peer nonce |
    /// prf(SK_p, ID body)) (RFC 7296 §2.15).
    fn psk_auth(
        &self,
        signer: Role,
        transcript: &SaInitTranscript,
        id: &Identity,
    ) -> Result<Vec<u8>, SaError> {
        let crypto = self.crypto()?;
        let (first_message, peer_nonce) = match signer {
            Role::Initiator => (&transcript.request, &transcript.nr),
            Role::Responder => (&transcript.response, &transcript.ni),
        };
        let octets = auth::signed_octets(
            crypto.suite.prf,
            crypto.keys.sk_p(signer).as_bytes(),
            first_message,
            peer_nonce,
            &id.payload_body(),
        );
        Ok(auth::psk_auth(
            crypto.suite.prf,
            self.config.psk.as_bytes(),
            &octets,
        ))
    }

    fn verify_auth(
        &self,
        signer: Role,
        transcript: &SaInitTranscript,
        id: &Identity,
        auth: &AuthPayload,
    ) -> Result<bool, SaError> {
        if auth.method != AuthMethod::SHARED_KEY_MIC {
            return Ok(false);
        }
        let crypto = self.crypto()?;
        let (first_message, peer_nonce) = match signer {
            Role::Initiator => (&transcript.request, &transcript.nr),
            Role::Responder => (&transcript.response, &transcript.ni),
        };
        let octets = auth::signed_octets(
            crypto.suite.prf,
            crypto.keys.sk_p(signer).as_bytes(),
            first_message,
            peer_nonce,
            &id.payload_body(),
        );
        Ok(auth::verify_psk_auth(
            crypto.suite.prf,
            self.config.psk.as_bytes(),
            &octets,
            &auth.data,
        ))
    }

    /// The payloads that propose a CHILD SA: [USE_TRANSPORT_MODE], ESP_TFC_PADDING_NOT_SUPPORTED,
    /// SA, TSi, TSr (ours as initiator of the exchange).
    fn child_request_payloads(&self, spi: u32) -> Vec<Payload> {
        let mut payloads = Vec::new();
        if self.config.mode == Mode::Transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        payloads.push(notify(
            NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED,
            Vec::new(),
        ));
        payloads.push(Payload::Sa(offer(&self.config.esp_suites, |n, s| {
            esp_proposal(n, s, spi)
        })));
        payloads.push(Payload::TsI(ts(self.config.local_ts)));
        payloads.push(Payload::TsR(ts(self.config.remote_ts)));
        payloads
    }

    fn send_auth_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        transcript: SaInitTranscript,
    ) -> Result<(), SaError> {
        let spi = child_spi(rng);
        let id = self.config.local_id.clone();
        let mut payloads = vec![Payload::IdI(id.clone())];
        if self.config.initial_contact {
            payloads.push(notify(NotifyType::INITIAL_CONTACT, Vec::new()));
        }
        payloads.push(Payload::Auth(AuthPayload {
            method: AuthMethod::SHARED_KEY_MIC,
            data: self.psk_auth(Role::Initiator, &transcript, &id)?,
        }));
        payloads.extend(self.child_request_payloads(spi));
        let request = self.seal(rng, ExchangeType::IKE_AUTH, false, 1, &payloads)?;
        self.set_state(State::ExpectAuthResponse(ExpectAuthResponse {
            transcript,
            child_spi: spi,
        }));
        self.send_request(now, 1, request);
        Ok(())
    }

    fn on_auth_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let State::ExpectAuthRequest(state) = &self.state else {
            return Err(SaError::Protocol("not waiting for IKE_AUTH"));
        };
        let transcript = state.transcript.clone();
        let failure = match (p.id_i(), p.auth()) {
            (Some(peer), _) if *peer != self.config.remote_id => {
                Some(CloseReason::IdentityMismatch(peer.clone()))
            }
            (Some(peer), Some(auth))
                if self.verify_auth(Role::Initiator, &transcript, peer, auth)? =>
            {
                None
            }
            _ => Some(CloseReason::Notify(NotifyType::AUTHENTICATION_FAILED)),
        };
        if let Some(reason) = failure {
            // RFC 7296 §2.21.2: answer AUTHENTICATION_FAILED and keep nothing.
            let reply = vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())];
            let response = self.seal(rng, ExchangeType::IKE_AUTH, true, id, &reply)?;
            self.send_response(id, &response);
            self.close(reason);
            return Ok(());
        }
        let own_id = self.config.local_id.clone();
        let mut reply = vec![
            Payload::IdR(own_id.clone()),
            Payload::Auth(AuthPayload {
                method: AuthMethod::SHARED_KEY_MIC,
                data: self.psk_auth(Role::Responder, &transcript, &own_id)?,
            }),
        ];
        let child = self.accept_child(rng, &p, &transcript.ni, &transcript.nr, None)?;
        match &child {
            Ok((payloads, _)) => reply.extend(payloads.iter().cloned()),
            Err(error) => reply.push(notify(*error, Vec::new())),
        }
        let response = self.seal(rng, ExchangeType::IKE_AUTH, true, id, &reply)?;
        self.send_response(id, &response);
        if p.notify(NotifyType::INITIAL_CONTACT).is_some() {
            self.actions.push(Action::InitialContact {
                local_id: self.config.local_id.clone(),
                remote_id: self.config.remote_id.clone(),
            });
        }
        self.establish(now);
        if let Ok((_, install)) = child {
            self.install_child(install);
        }
        Ok(())
    }

    /// Responder side of a CHILD SA proposal (IKE_AUTH or CREATE_CHILD_SA): the payloads to
    /// answer with and the SA to install, or the error notify to answer with.
    fn accept_child<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        p: &Payloads<'_>,
        ni: &[u8],
        nr: &[u8],
        replaces: Option<u32>,
    ) -> Result<Result<(Vec<Payload>, ChildSaInstall), NotifyType>, SaError> {
        let Some(sa) = p.sa() else {
            return Ok(Err(NotifyType::INVALID_SYNTAX));
        };
        let Some((proposal, suite)) = choose_esp(sa, &self.config.esp_suites) else {
            return Ok(Err(NotifyType::NO_PROPOSAL_CHOSEN));
        };
        let Some(outbound_spi) = proposal.child_spi() else {
            return Ok(Err(NotifyType::INVALID_SYNTAX));
        };
        // The peer is the initiator of this exchange: its TSi is the remote side for us. Its
        // first selectors may name the packet that triggered it (RFC 7296 §2.9), so the first
        // that overlaps our policy is narrowed to it.
        let Some((remote_ts, local_ts)) =
            p.narrowed_selectors(&self.config.remote_ts, &self.config.local_ts)
        else {
            return Ok(Err(NotifyType::TS_UNACCEPTABLE));
        };
        let transport = self.config.mode == Mode::Transport
            && p.notify(NotifyType::USE_TRANSPORT_MODE).is_some();
        let inbound_spi = child_spi(rng);
        let mut payloads = Vec::new();
        if transport {
            payloads.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        payloads.push(notify(
            NotifyType::ESP_TFC_PADDING_NOT_SUPPORTED,
            Vec::new(),
        ));
        payloads.push(Payload::Sa(crate::wire::SaPayload {
            proposals: vec![esp_proposal(proposal.number, &suite, inbound_spi)],
        }));
        payloads.push(Payload::TsI(ts(remote_ts)));
        payloads.push(Payload::TsR(ts(local_ts)));
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        let child = ChildSa {
            inbound_spi,
            outbound_spi,
            suite,
            mode,
            local_ts,
            remote_ts,
        };
        let install = self.child_install(&child, Role::Responder, ni, nr, replaces)?;
        Ok(Ok((payloads, install)))
    }

    /// The keys and datapath parameters of a negotiated CHILD SA. `exchange_role` is our role
    /// in the exchange that created it: its initiator's keys come first (RFC 7296 §2.17).
    fn child_install(
        &self,
        child: &ChildSa,
        exchange_role: Role,
        ni: &[u8],
        nr: &[u8],
        replaces: Option<u32>,
    ) -> Result<ChildSaInstall, SaError> {
        let crypto = self.crypto()?;
        let keys = ChildSaKeys::derive(
            crypto.suite.prf,
            crypto.keys.sk_d.as_bytes(),
            &child.suite,
            None,
            ni,
            nr,
        )?;
        let (outbound, inbound) = keys.by_direction(exchange_role);
        Ok(ChildSaInstall {
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
            suite: child.suite,
            inbound_keys: inbound.clone(),
            outbound_keys: outbound.clone(),
            mode: child.mode,
            local_ts: child.local_ts,
            remote_ts: child.remote_ts,
            local: self.local,
            remote: self.remote,
            udp_encapsulation: self.udp_encapsulation,
            lifetime: self.config.child_lifetime,
            replaces,
        })
    }

    fn on_auth_response(
        &mut self,
        now: Instant,
        state: ExpectAuthResponse,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let transcript = state.transcript;
        let (Some(peer), Some(auth)) = (p.id_r(), p.auth()) else {
            let error = p
                .error_notify()
                .unwrap_or(NotifyType::AUTHENTICATION_FAILED);
            self.close(CloseReason::Notify(error));
            return Ok(());
        };
        if *peer != self.config.remote_id {
            self.close(CloseReason::IdentityMismatch(peer.clone()));
            return Ok(());
        }
        if !self.verify_auth(Role::Responder, &transcript, peer, auth)? {
            self.close(CloseReason::Notify(NotifyType::AUTHENTICATION_FAILED));
            return Ok(());
        }
        self.establish(now);
        if let Some(child) = self.accepted_child(&p, state.child_spi) {
            let install = self.child_install(
                &child,
                Role::Initiator,
                &transcript.ni,
                &transcript.nr,
                None,
            )?;
            self.install_child(install);
        }
        Ok(())
    }

    /// Initiator side: the CHILD SA the responder accepted, if it accepted one of ours.
    fn accepted_child(&self, p: &Payloads<'_>, inbound_spi: u32) -> Option<ChildSa> {
        if p.error_notify().is_some() {
            return None;
        }
        let (suite, outbound_spi) = accepted_esp(p.sa()?, &self.config.esp_suites)?;
        let (local_ts, remote_ts) = p.selectors()?;
        if !self.config.local_ts.contains(&local_ts) || !self.config.remote_ts.contains(&remote_ts)
        {
            return None;
        }
        let transport = self.config.mode == Mode::Transport
            && p.notify(NotifyType::USE_TRANSPORT_MODE).is_some();
        let mode = if transport {
            Mode::Transport
        } else {
            Mode::Tunnel
        };
        Some(ChildSa {
            inbound_spi,
            outbound_spi,
            suite,
            mode,
            local_ts,
            remote_ts,
        })
    }

    fn establish(&mut self, now: Instant) {
        self.last_heard = now;
        let Ok(crypto) = self.crypto() else { return };
        let summary = IkeSaSummary {
            role: self.role,
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            local: self.local,
            remote: self.remote,
            local_id: self.config.local_id.clone(),
            remote_id: self.config.remote_id.clone(),
            suite: crypto.suite,
            udp_encapsulation: self.udp_encapsulation,
        };
        self.actions.push(Action::IkeSaEstablished(summary));
        self.set_state(State::Established(Established));
    }

    fn install_child(&mut self, install: ChildSaInstall) {
        self.children.push(ChildSa {
            inbound_spi: install.inbound_spi,
            outbound_spi: install.outbound_spi,
            suite: install.suite,
            mode: install.mode,
            local_ts: install.local_ts,
            remote_ts: install.remote_ts,
        });
        self.actions.push(Action::InstallChildSa(install));
    }

    fn remove_child(&mut self, inbound_spi: u32) {
        if let Some(i) = self
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        {
            let child = self.children.remove(i);
            self.actions.push(Action::DeleteChildSa {
                inbound_spi: child.inbound_spi,
                outbound_spi: child.outbound_spi,
            });
        }
    }

    // ------------------------------------------------ CREATE_CHILD_SA, INFORMATIONAL

    fn on_create_child_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let proposes_ike = p
            .sa()
            .is_some_and(|sa| sa.proposals.iter().any(|p| p.protocol == ProtocolId::IKE));
        if proposes_ike {
            return self.on_ike_rekey_request(now, rng, id, p);
        }
        let rekeyed = p.notify(NotifyType::REKEY_SA).map(|n| {
            let spi = <[u8; 4]>::try_from(n.spi.as_slice())
                .map(u32::from_be_bytes)
                .ok();
            spi.and_then(|out| self.children.iter().find(|c| c.outbound_spi == out))
                .map(|c| c.inbound_spi)
        });
        let outcome = match (p.nonce(), rekeyed, p.ke()) {
            (_, Some(None), _) => Err(NotifyType::CHILD_SA_NOT_FOUND),
            // No PFS and no IKE SA rekey here: a KE payload or an IKE proposal is refused.
            (_, _, Some(_)) => Err(NotifyType::NO_PROPOSAL_CHOSEN),
            (Some(ni), rekeyed, None) if nonce_ok(ni) => {
                let nr = nonce(rng);
                self.accept_child(rng, &p, ni, &nr, rekeyed.flatten())?.map(
                    |(mut payloads, install)| {
                        payloads.insert(0, Payload::Nonce(nr));
                        (payloads, install)
                    },
                )
            }
            _ => Err(NotifyType::INVALID_SYNTAX),
        };
        let reply = match &outcome {
            Ok((payloads, _)) => payloads.clone(),
            Err(error) => vec![notify(*error, Vec::new())],
        };
        let response = self.seal(rng, ExchangeType::CREATE_CHILD_SA, true, id, &reply)?;
        self.send_response(id, &response);
        if let Ok((_, install)) = outcome {
            self.install_child(install);
        }
        Ok(())
    }

    fn on_informational_request<R: RngCore + CryptoRng>(
        &mut self,
        rng: &mut R,
        id: u32,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        let mut reply = Vec::new();
        let mut delete_ike = false;
        for delete in p.deletes() {
            match delete.protocol {
                ProtocolId::IKE => delete_ike = true,
                ProtocolId::ESP | ProtocolId::AH => {
                    // The SPIs are the peer's inbound ones, our outbound; answer with ours.
                    let ours: Vec<u32> = delete
                        .child_spis()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|out| self.children.iter().find(|c| c.outbound_spi == *out))
                        .map(|c| c.inbound_spi)
                        .collect();
                    if !ours.is_empty() {
                        reply.push(Payload::Delete(DeletePayload::child(
                            delete.protocol,
                            &ours,
                        )));
                    }
                    for spi in ours {
                        self.remove_child(spi);
                    }
                }
                _ => {}
            }
        }
        let response = self.seal(
            rng,
            ExchangeType::INFORMATIONAL,
            true,
            id,
            if delete_ike { &[] } else { &reply },
        )?;
        self.send_response(id, &response);
        if delete_ike {
            let rekeyed = matches!(self.state, State::Rekeyed(_));
            self.close(if rekeyed {
                CloseReason::Rekeyed
            } else {
                CloseReason::DeletedByPeer
            });
        }
        Ok(())
    }

    fn on_child_response<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        state: ExpectChildResponse,
        p: Payloads<'_>,
    ) -> Result<(), SaError> {
        self.set_state(State::Established(Established));
        let Some(nr) = p.nonce().filter(|n| nonce_ok(n)) else {
            return Ok(());
        };
        let Some(child) = self.accepted_child(&p, state.child_spi) else {
            return Ok(());
        };
        let install =
            self.child_install(&child, Role::Initiator, &state.nonce, nr, state.replaces)?;
        self.install_child(install);
        if let Some(old) = state.replaces {
            // RFC 7296 §2.8: the rekey's initiator deletes the old CHILD SA.
            self.delete_child(now, rng, old)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- commands

    fn ready(&self, command: &'static str) -> Result<(), SaError> {
        match self.state {
            State::Established(_) if self.outstanding.is_none() => Ok(()),
            _ => Err(SaError::NotReady {
                state: self.state.to_string(),
                command,
            }),
        }
    }

    /// Sends an empty INFORMATIONAL request to check that the peer is alive (RFC 7296 §2.4).
    pub fn check_liveness<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        self.ready("liveness check")?;
        self.informational_request(now, rng, Vec::new(), Vec::new())
    }

    /// Deletes one CHILD SA, named by its inbound SPI.
    pub fn delete_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        inbound_spi: u32,
    ) -> Result<(), SaError> {
        self.ready("CHILD SA delete")?;
        if !self.children.iter().any(|c| c.inbound_spi == inbound_spi) {
            return Err(SaError::UnknownChildSa(inbound_spi));
        }
        let payloads = vec![Payload::Delete(DeletePayload::child(
            ProtocolId::ESP,
            &[inbound_spi],
        ))];
        self.informational_request(now, rng, payloads, vec![inbound_spi])
    }

    fn informational_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        payloads: Vec<Payload>,
        deleting: Vec<u32>,
    ) -> Result<(), SaError> {
        let id = self.next_request_id;
        let request = self.seal(rng, ExchangeType::INFORMATIONAL, false, id, &payloads)?;
        self.set_state(State::ExpectInformationalResponse(
            ExpectInformationalResponse { deleting },
        ));
        self.send_request(now, id, request);
        Ok(())
    }

    /// Deletes the IKE SA and all its CHILD SAs (INFORMATIONAL with D(IKE)).
    pub fn delete<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        self.ready("IKE SA delete")?;
        let id = self.next_request_id;
        let request = self.seal(
            rng,
            ExchangeType::INFORMATIONAL,
            false,
            id,
            &[Payload::Delete(DeletePayload::ike())],
        )?;
        self.set_state(State::Deleting(Deleting {
            reason: CloseReason::DeletedLocally,
        }));
        self.send_request(now, id, request);
        Ok(())
    }

    /// Negotiates an additional CHILD SA with the configured selectors (CREATE_CHILD_SA).
    pub fn create_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        self.ready("CHILD SA create")?;
        self.child_request(now, rng, None)
    }

    /// Rekeys the CHILD SA with this inbound SPI; the old one is deleted once the new one is
    /// installed (RFC 7296 §2.8).
    pub fn rekey_child<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        inbound_spi: u32,
    ) -> Result<(), SaError> {
        self.ready("CHILD SA rekey")?;
        if !self.children.iter().any(|c| c.inbound_spi == inbound_spi) {
            return Err(SaError::UnknownChildSa(inbound_spi));
        }
        self.child_request(now, rng, Some(inbound_spi))
    }

    fn child_request<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
        replaces: Option<u32>,
    ) -> Result<(), SaError> {
        let spi = child_spi(rng);
        let ni = nonce(rng);
        let mut payloads = Vec::new();
        if let Some(old) = replaces {
            payloads.push(Payload::Notify(NotifyPayload {
                protocol: ProtocolId::ESP,
                spi: old.to_be_bytes().to_vec(),
                notify_type: NotifyType::REKEY_SA,
                data: Vec::new(),
            }));
        }
        let mut child = self.child_request_payloads(spi);
        // SA, Ni, TSi, TSr (RFC 7296 §1.3.1): the nonce goes right after SA.
        let sa_at = child
            .iter()
            .position(|p| matches!(p, Payload::Sa(_)))
            .unwrap_or(0);
        child.insert(sa_at + 1, Payload::Nonce(ni.clone()));
        payloads.extend(child);
        let id = self.next_request_id;
        let request = self.seal(rng, ExchangeType::CREATE_CHILD_SA, false, id, &payloads)?;
        self.set_state(State::ExpectChildResponse(ExpectChildResponse {
            nonce: ni,
            child_spi: spi,
            replaces,
        }));
        self.send_request(now, id, request);
        Ok(())
    }

    // ---------------------------------------------------------------- timers

    /// When [`IkeSa::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(o) = &self.outstanding {
            return Some(o.deadline);
        }
        match (&self.state, self.config.dpd_interval) {
            (State::Established(_), Some(interval)) => Some(self.last_heard + interval),
            _ => None,
        }
    }

    /// Retransmits an unanswered request with back-off, gives up on a dead peer, and starts
    /// liveness checks when the peer has been quiet for the DPD interval.
    pub fn handle_timeout<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        rng: &mut R,
    ) -> Result<(), SaError> {
        if let Some(o) = &mut self.outstanding {
            if now < o.deadline {
                return Ok(());
            }
            if o.attempt >= self.config.retransmit.tries {
                self.close(CloseReason::PeerUnreachable);
                return Ok(());
            }
            o.attempt += 1;
            o.deadline = now + self.config.retransmit.timeout(o.attempt);
            let datagram = o.datagram.clone();
            self.transmit(datagram);
            return Ok(());
        }
        if let (State::Established(_), Some(interval)) = (&self.state, self.config.dpd_interval)
            && now >= self.last_heard + interval
        {
            self.check_liveness(now, rng)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- output

    fn header(&self, exchange_type: ExchangeType, response: bool, message_id: u32) -> HeaderRepr {
        HeaderRepr {
            initiator_spi: self.spi_i,
            responder_spi: self.spi_r,
            minor_version: 0,
            exchange_type,
            flags: Flags::new(self.role == Role::Initiator, response),
            message_id,
        }
    }

    fn plain_message(
        &self,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: Vec<Payload>,
    ) -> Message {
        Message {
            header: self.header(exchange_type, response, message_id),
            payloads,
        }
    }

    /// An IKE message whose payloads travel inside an SK payload.
    fn seal<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        exchange_type: ExchangeType,
        response: bool,
        message_id: u32,
        inner: &[Payload],
    ) -> Result<Vec<u8>, SaError> {
        let crypto = self.crypto()?;
        let mut plaintext = Vec::new();
        let first_inner = emit_chain(inner, &mut plaintext)?;
        let sealed_len = crypto.outbound.sealed_len(plaintext.len());
        let placeholder = Payload::Encrypted(EncryptedPayload {
            first_inner,
            data: vec![0; sealed_len],
        });
        let mut bytes = self
            .plain_message(exchange_type, response, message_id, vec![placeholder])
            .emit()?;
        let associated_len = bytes.len() - sealed_len;
        let sealed = crypto
            .outbound
            .seal(&bytes[..associated_len], &plaintext, rng)?;
        bytes.truncate(associated_len);
        bytes.extend_from_slice(&sealed);
        Ok(bytes)
    }

    /// Checks and decrypts the SK payload of a received message into its inner payloads.
    fn open(&self, message: &Message, bytes: &[u8]) -> Result<Vec<Payload>, SaError> {
        let crypto = self.crypto()?;
        let sk = message
            .encrypted()
            .ok_or(SaError::Protocol("no SK payload"))?;
        let associated = bytes
            .get(..bytes.len() - sk.data.len())
            .ok_or(SaError::Protocol("SK payload outside the message"))?;
        let plaintext = crypto.inbound.open(associated, &sk.data)?;
        Ok(parse_chain(sk.first_inner, &plaintext, 0)?)
    }

    /// Sends a request and arms its retransmission timer.
    fn send_request(&mut self, now: Instant, message_id: u32, message: Vec<u8>) {
        let datagram = self.frame(message);
        self.outstanding = Some(Outstanding {
            message_id,
            datagram: datagram.clone(),
            attempt: 0,
            deadline: now + self.config.retransmit.timeout(0),
        });
        self.transmit(datagram);
    }

    /// Sends a response and keeps it for retransmitted requests.
    fn send_response(&mut self, message_id: u32, message: &[u8]) {
        let datagram = self.frame(message.to_vec());
        self.cached_response = Some((message_id, datagram.clone()));
        self.transmit(datagram);
    }

    fn frame(&self, message: Vec<u8>) -> Vec<u8> {
        if self.local.port() == NAT_T_PORT {
            with_non_esp_marker(&message)
        } else {
            message
        }
    }

    fn transmit(&mut self, bytes: Vec<u8>) {
        self.actions.push(Action::SendDatagram {
            from: self.local,
            to: self.remote,
            bytes,
        });
    }

    /// Deletes every CHILD SA, reports the close, and stops all timers.
    fn close(&mut self, reason: CloseReason) {
        let spis: Vec<u32> = self.children.iter().map(|c| c.inbound_spi).collect();
        for spi in spis {
            self.remove_child(spi);
        }
        self.outstanding = None;
        self.actions.push(Action::IkeSaClosed(reason.clone()));
        self.set_state(State::Closed(Closed { reason }));
    }

    /// The one place where the state changes; every transition is logged.
    fn set_state(&mut self, next: State) {
        tracing::info!(
            spi_i = format_args!("{:016x}", self.spi_i),
            spi_r = format_args!("{:016x}", self.spi_r),
            remote = %self.remote,
            "IKE SA {} -> {}",
            self.state,
            next
        );
        self.state = next;
    }

    // ---------------------------------------------------------------- queries

    /// Everything the SA asked for since the last call, in order.
    pub fn drain_actions(&mut self) -> Vec<Action> {
        mem::take(&mut self.actions)
    }

    /// Whether we initiated the SA.
    pub fn role(&self) -> Role {
        self.role
    }

    /// (SPIi, SPIr); SPIr is zero until the IKE_SA_INIT response.
    pub fn spis(&self) -> (u64, u64) {
        (self.spi_i, self.spi_r)
    }

    /// Our current address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's current address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// Whether IKE runs on 4500 and ESP is UDP-encapsulated.
    pub fn udp_encapsulation(&self) -> bool {
        self.udp_encapsulation
    }

    /// The configuration the SA runs with.
    pub fn config(&self) -> &IkeSaConfig {
        &self.config
    }

    /// Replaces the policy after a Policy Agent refresh: negotiations from now on (new and
    /// rekeyed CHILD SAs, IKE SA rekeys) use it; SAs already negotiated stay as they are.
    pub fn refresh_policy(&mut self, config: IkeSaConfig) {
        self.config = config;
    }

    /// The negotiated IKE algorithms, once IKE_SA_INIT is done.
    pub fn suite(&self) -> Option<IkeSuite> {
        self.crypto.as_ref().map(|c| c.suite)
    }

    /// Whether the SA is authenticated and usable.
    pub fn is_established(&self) -> bool {
        self.state.is_established()
    }

    /// Why the SA closed, once it has.
    pub fn closed(&self) -> Option<&CloseReason> {
        match &self.state {
            State::Closed(c) => Some(&c.reason),
            _ => None,
        }
    }

    /// The CHILD SAs.
    pub fn children(&self) -> &[ChildSa] {
        &self.children
    }
}

impl fmt::Display for IkeSa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IKE SA {:016x}_i {:016x}_r {} {} <-> {} {}",
            self.spi_i, self.spi_r, self.state, self.local, self.remote, self.config.remote_id
        )
    }
}
