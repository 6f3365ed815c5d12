//! The IKE SA state machine (RFC 7296): IKE_SA_INIT and IKE_AUTH with a pre-shared key as
//! initiator and responder, CREATE_CHILD_SA for new and rekeyed CHILD SAs, INFORMATIONAL for
//! deletes and liveness, retransmission with back-off, NAT detection and the move to port 4500.
//!
//! Sans-IO: datagrams come in through [`IkeSa::handle_datagram`], time through `now`
//! arguments, randomness through an RNG argument; everything the SA wants done comes out as
//! [`Action`]s from [`IkeSa::drain_actions`]. Each received message is parsed (and decrypted)
//! completely before the state changes, and every state change goes through `set_state`.
//!
//! This module holds the SA, its inputs, commands and timers; the exchanges live beside it:
//! `sa_init`, `ike_auth`, `child` (CREATE_CHILD_SA and the CHILD SAs of IKE_AUTH),
//! `informational`, `ike_rekey`, and `transport` (headers, SK protection, port-4500 framing,
//! retransmission state).

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
    ChildDh, accepted_esp, accepted_ike, choose_esp, choose_ike, esp_proposal, ike_proposal, offer,
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

mod child;
mod ike_auth;
mod ike_rekey;
mod informational;
mod sa_init;
mod transport;

/// A refused request: the error notify to answer with, and its data.
type Refusal = (NotifyType, Vec<u8>);

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

/// A rekey of a CHILD SA by the peer while ours of the same CHILD SA was outstanding, with the
/// nonces of the peer's exchange (RFC 7296 §2.8.1).
#[derive(Debug)]
struct RekeyCollision {
    /// Inbound SPI of the CHILD SA both sides rekeyed.
    old_spi: u32,
    /// The peer's nonce in its exchange.
    peer_ni: Vec<u8>,
    /// Our nonce in the peer's exchange.
    our_nr: Vec<u8>,
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
    /// When to rekey the IKE SA.
    ike_rekey_at: Option<Instant>,
    /// When to rekey each CHILD SA, by inbound SPI.
    child_rekey_at: Vec<(u32, Instant)>,
    /// CHILD SAs the peer rekeyed while our rekey of them was outstanding.
    colliding_rekeys: Vec<RekeyCollision>,
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
            ike_rekey_at: None,
            child_rekey_at: Vec::new(),
            colliding_rekeys: Vec::new(),
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
            State::ExpectChildResponse(_) => {
                // The wait is over: its state moves into the handler.
                let waited = self.set_state(State::Established(Established));
                if let State::ExpectChildResponse(s) = waited {
                    self.on_child_response(now, rng, s, p)?;
                }
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

    fn crypto(&self) -> Result<&SaCrypto, SaError> {
        self.crypto
            .as_ref()
            .ok_or(SaError::Protocol("no keys before IKE_SA_INIT completes"))
    }

    fn ready(&self, command: &'static str) -> Result<(), SaError> {
        match self.state {
            State::Established(_) if self.outstanding.is_none() => Ok(()),
            _ => Err(SaError::NotReady {
                state: self.state.to_string(),
                command,
            }),
        }
    }

    /// When [`IkeSa::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(o) = &self.outstanding {
            return Some(o.deadline);
        }
        if matches!(self.state, State::Rekeyed(_)) {
            return Some(self.last_heard + self.config.retransmit.give_up_after());
        }
        if !matches!(self.state, State::Established(_)) {
            return None;
        }
        let dpd = self
            .config
            .dpd_interval
            .map(|interval| self.last_heard + interval);
        let children = self.child_rekey_at.iter().map(|(_, at)| *at);
        dpd.into_iter()
            .chain(self.ike_rekey_at)
            .chain(children)
            .min()
    }

    /// Retransmits an unanswered request with back-off, gives up on a dead peer, rekeys the
    /// IKE SA and CHILD SAs when their rekey time comes, starts liveness checks when the peer
    /// has been quiet for the DPD interval, and closes a rekeyed SA the peer never deleted.
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
        if matches!(self.state, State::Rekeyed(_))
            && now >= self.last_heard + self.config.retransmit.give_up_after()
        {
            // The rekey's initiator never deleted this SA; its CHILD SAs live in the new one.
            self.close(CloseReason::Rekeyed);
            return Ok(());
        }
        if !matches!(self.state, State::Established(_)) {
            return Ok(());
        }
        if self.ike_rekey_at.is_some_and(|at| now >= at) {
            self.ike_rekey_at = None;
            return self.rekey_ike(now, rng);
        }
        let due = self
            .child_rekey_at
            .iter()
            .filter(|(_, at)| now >= *at)
            .min_by_key(|(_, at)| *at);
        if let Some(&(spi, _)) = due {
            self.child_rekey_at.retain(|(s, _)| *s != spi);
            return self.rekey_child(now, rng, spi);
        }
        if self
            .config
            .dpd_interval
            .is_some_and(|interval| now >= self.last_heard + interval)
        {
            self.check_liveness(now, rng)?;
        }
        Ok(())
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
    /// Moves to `next`, logging the move; returns the state left.
    fn set_state(&mut self, next: State) -> State {
        tracing::info!(
            spi_i = format_args!("{:016x}", self.spi_i),
            spi_r = format_args!("{:016x}", self.spi_r),
            remote = %self.remote,
            "IKE SA {} -> {}",
            self.state,
            next
        );
        mem::replace(&mut self.state, next)
    }

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

    /// The SK keys, once IKE_SA_INIT is done: for key export to Wireshark only (see
    /// [`crate::daemon::KeyTables`]); never logged.
    pub fn keys(&self) -> Option<&IkeSaKeys> {
        self.crypto.as_ref().map(|c| &c.keys)
    }

    /// Whether the SA is authenticated and usable.
    pub fn is_established(&self) -> bool {
        self.state.is_established()
    }

    /// Whether the SA is established with no request of ours outstanding, so that a new
    /// exchange (CHILD SA create or rekey, delete, liveness check) can start now.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Established(_)) && self.outstanding.is_none()
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
