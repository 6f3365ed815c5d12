//! The security stage of the packet walk: IKE to the daemon's sockets, ESP (plain and in UDP
//! 4500) decrypted and checked against its SA's selectors, clear traffic judged by the SPD,
//! and outbound traffic protected when a dynamic filter covers it.
//!
//! ```text
//! inbound   proto 50 ─┐                       ┌─ selectors ok ─▶ inner packet ─▶ smoltcp
//!           UDP 4500 ─┴─ no marker ─▶ SAD ────┴─ else drop
//!           UDP 4500 marker, UDP 500 ─▶ smoltcp ─▶ the daemon's sockets
//!           other ─▶ dynamic filter / protect rule ? drop : IPSECRULE permit ? pass : drop
//!           over XCF marked protected (a distributor decrypted it) ─▶ smoltcp
//! outbound  IKE ─▶ LAN;  dynamic filter ─▶ ESP (in UDP with NAT-T) ─▶ LAN;  else the SPD
//!           (also the packets targets return to this distributor over XCF)
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ike::daemon::DynamicTunnel;
use ike::sa::ChildSaInstall;
use ike::wire::{Port4500, classify_port_4500};
use rand::SeedableRng;
use rand::rngs::StdRng;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket};

use super::flow::{Flow, IPPROTO_UDP};
use super::sad::{ChildEntry, Sad};
use super::spd::{ClearVerdict, Spd, Way};
use crate::datapath::stage::{Origin, PacketStage, Verdict};
use crate::esp::{EspError, IPPROTO_ESP, IPPROTO_NONE, Mode, UDP_HEADER_LEN, udp_header};

/// The IKE ports.
const IKE_PORT: u16 = 500;
const NAT_T_PORT: u16 = 4500;
/// TTL of the outer header of tunnel-mode ESP.
const OUTER_TTL: u8 = 64;

/// A change to the SAD from the IKE daemon.
#[derive(Debug)]
pub enum SadChange {
    /// Install a CHILD SA and its dynamic filter.
    Install(DynamicTunnel, Box<ChildSaInstall>),
    /// Delete the CHILD SA with this inbound SPI.
    Delete(u32),
}

/// Counters of the IPSec layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpsecCounters {
    /// ESP packets decrypted and passed on.
    pub esp_in: u64,
    /// ESP packets sent.
    pub esp_out: u64,
    /// Clear packets an IPSECRULE permitted, in and out.
    pub clear_permitted: u64,
    /// IKE datagrams passed to the daemon's sockets or sent by them.
    pub ike: u64,
    /// Dropped packets by reason.
    pub drops: BTreeMap<&'static str, u64>,
}

/// What the stage and the displays share: the SPD, the SAD, the counters.
#[derive(Debug)]
pub struct IpsecState {
    /// The static SPD.
    pub spd: Spd,
    /// The SAs and dynamic filters.
    pub sad: Sad,
    /// Counters.
    pub counters: IpsecCounters,
}

impl IpsecState {
    /// A state with this SPD and no SAs.
    pub fn new(spd: Spd) -> Self {
        Self {
            spd,
            sad: Sad::new(),
            counters: IpsecCounters::default(),
        }
    }

    /// Applies a SAD change from the daemon at `now`.
    pub fn apply(&mut self, now: std::time::Instant, change: SadChange) {
        match change {
            SadChange::Install(tunnel, install) => match self.sad.install(now, tunnel, &install) {
                Ok(duplicates) if !duplicates.is_empty() => {
                    tracing::info!(?duplicates, "duplicate dynamic filters removed");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "CHILD SA not installed"),
            },
            SadChange::Delete(spi) => {
                self.sad.delete(spi);
            }
        }
    }

    fn refuse(&mut self, reason: &'static str) -> Verdict {
        *self.counters.drops.entry(reason).or_default() += 1;
        Verdict::Drop { reason }
    }
}

/// The stage; see the module documentation.
#[derive(Debug)]
pub struct IpsecStage {
    state: Arc<Mutex<IpsecState>>,
    rng: StdRng,
}

impl IpsecStage {
    /// A stage over `state`, with a seeded random source (AES-CBC IVs).
    pub fn new(state: Arc<Mutex<IpsecState>>, seed: u64) -> Self {
        Self {
            state,
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

/// Locks the state; SA times are tokio's clock (the one the daemon's side applies changes
/// with; paused in tests), so expired SAs go first.
fn lock(state: &Arc<Mutex<IpsecState>>) -> (MutexGuard<'_, IpsecState>, std::time::Instant) {
    let now = tokio::time::Instant::now().into_std();
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    state.sad.expire(now);
    (state, now)
}

impl PacketStage for IpsecStage {
    fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
        let (mut state, now) = lock(&self.state);
        let Some(flow) = Flow::of(&packet) else {
            return state.refuse("malformed IPv4");
        };
        if flow.protocol == IPPROTO_ESP {
            let Ok(ip) = Ipv4Packet::new_checked(&packet[..]) else {
                return state.refuse("malformed IPv4");
            };
            return esp_in(&mut state, now, &packet, ip.payload());
        }
        if flow.protocol == IPPROTO_UDP && flow.dst_port == NAT_T_PORT {
            let Some(payload) = udp_payload(&packet) else {
                return state.refuse("malformed UDP");
            };
            return match classify_port_4500(payload) {
                Ok(Port4500::Ike(_)) => {
                    state.counters.ike += 1;
                    Verdict::Continue(packet)
                }
                Ok(Port4500::Keepalive) => state.refuse("NAT keepalive"),
                Ok(Port4500::Esp(esp)) => esp_in(&mut state, now, &packet, esp),
                Err(_) => state.refuse("ESP: truncated"),
            };
        }
        if flow.protocol == IPPROTO_UDP && flow.dst_port == IKE_PORT {
            state.counters.ike += 1;
            return Verdict::Continue(packet);
        }
        if state.sad.covers_inbound(&flow) {
            return state.refuse("clear traffic that policy protects");
        }
        match state.spd.clear(Way::Inbound, &flow) {
            ClearVerdict::Permit(_) => {
                state.counters.clear_permitted += 1;
                Verdict::Continue(packet)
            }
            ClearVerdict::MustProtect => state.refuse("clear traffic that policy protects"),
            ClearVerdict::Deny => state.refuse("no IPSECRULE permits it"),
        }
    }

    /// A packet a distributor decrypted and forwarded here over XCF passed its IPSec checks
    /// there; the SPD of this stack does not judge it as clear text.
    fn inbound_protected(&mut self, now: Instant, origin: Origin, packet: Vec<u8>) -> Verdict {
        match origin {
            Origin::Xcf(_) => Verdict::Decrypted(packet),
            Origin::Lan => self.inbound(now, origin, packet),
        }
    }

    fn outbound(&mut self, _now: Instant, packet: Vec<u8>) -> Verdict {
        let (mut state, now) = lock(&self.state);
        let Some(flow) = Flow::of(&packet) else {
            return state.refuse("malformed IPv4");
        };
        if flow.protocol == IPPROTO_UDP && is_ike(&flow, &packet) {
            state.counters.ike += 1;
            return Verdict::Continue(packet);
        }
        if let Some(child) = state.sad.outbound_for(&flow).cloned() {
            let esp = match state
                .sad
                .encapsulate(now, child.outbound_spi, &packet, &mut self.rng)
            {
                Ok(esp) => esp,
                Err(EspError::Expired(_)) => return state.refuse("ESP: SA expired"),
                Err(_) => return state.refuse("ESP: cannot protect"),
            };
            return match outer_packet(&child, &packet, &esp) {
                Some(out) => {
                    state.counters.esp_out += 1;
                    Verdict::Continue(out)
                }
                None => state.refuse("ESP: packet too big"),
            };
        }
        match state.spd.clear(Way::Outbound, &flow) {
            ClearVerdict::Permit(_) => {
                state.counters.clear_permitted += 1;
                Verdict::Continue(packet)
            }
            ClearVerdict::MustProtect => state.refuse("no SA for traffic that policy protects"),
            ClearVerdict::Deny => state.refuse("no IPSECRULE permits it"),
        }
    }
}

/// Whether an outbound UDP packet is IKE: from port 500, or from 4500 with the non-ESP marker.
fn is_ike(flow: &Flow, packet: &[u8]) -> bool {
    match flow.src_port {
        IKE_PORT => true,
        NAT_T_PORT => udp_payload(packet).is_some_and(|p| p.starts_with(&[0, 0, 0, 0])),
        _ => false,
    }
}

/// The UDP payload of an IPv4 packet.
fn udp_payload(packet: &[u8]) -> Option<&[u8]> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    let header_len = usize::from(ip.header_len());
    let total = usize::from(ip.total_len());
    let udp = UdpPacket::new_checked(packet.get(header_len..total)?).ok()?;
    let payload_len = usize::from(udp.len()).checked_sub(8)?;
    packet.get(header_len + 8..header_len + 8 + payload_len)
}

/// Decrypts an ESP packet that arrived in `outer` and checks its inner packet.
fn esp_in(state: &mut IpsecState, now: std::time::Instant, outer: &[u8], esp: &[u8]) -> Verdict {
    let (decapsulated, child) = match state.sad.decapsulate(now, esp) {
        Ok((d, child)) => (d, child.clone()),
        Err(error) => {
            return state.refuse(match error {
                EspError::UnknownSpi(_) => "ESP: unknown SPI",
                EspError::Replay(_) => "ESP: replayed",
                EspError::BadIcv => "ESP: bad ICV",
                EspError::Expired(_) => "ESP: SA expired",
                _ => "ESP: malformed",
            });
        }
    };
    if decapsulated.next_header == IPPROTO_NONE {
        return state.refuse("ESP: dummy packet");
    }
    let inner = match child.mode {
        Mode::Tunnel => decapsulated.payload,
        Mode::Transport => {
            match transport_packet(outer, decapsulated.next_header, &decapsulated.payload) {
                Some(packet) => packet,
                None => return state.refuse("ESP: malformed"),
            }
        }
    };
    let Some(flow) = Flow::of(&inner) else {
        return state.refuse("ESP: inner packet not IPv4");
    };
    if !flow.reversed().fits(&child.local_ts, &child.remote_ts) {
        return state.refuse("ESP: inner packet outside the SA's selectors");
    }
    state.counters.esp_in += 1;
    Verdict::Decrypted(inner)
}

/// The IPv4 packet a transport-mode ESP payload stands for: the outer header with the inner
/// protocol and length.
fn transport_packet(outer: &[u8], protocol: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let ip = Ipv4Packet::new_checked(outer).ok()?;
    let repr = Ipv4Repr {
        src_addr: ip.src_addr(),
        dst_addr: ip.dst_addr(),
        next_header: IpProtocol::from(protocol),
        payload_len: payload.len(),
        hop_limit: ip.hop_limit(),
    };
    Some(emit(&repr, payload))
}

/// The packet that carries `esp` for `child`: a new outer header in tunnel mode, the inner
/// header in transport mode; in UDP 4500 with NAT-T. Built in one buffer, ESP copied once.
fn outer_packet(child: &ChildEntry, inner: &[u8], esp: &[u8]) -> Option<Vec<u8>> {
    let udp = if child.udp_encapsulation {
        Some(udp_header(
            child.local.port(),
            child.remote.port(),
            esp.len(),
        )?)
    } else {
        None
    };
    let payload_len = esp.len() + udp.map_or(0, |_| UDP_HEADER_LEN);
    if payload_len > usize::from(u16::MAX) - 20 {
        return None;
    }
    let (src_addr, dst_addr, hop_limit) = match child.mode {
        Mode::Tunnel => (*child.local.ip(), *child.remote.ip(), OUTER_TTL),
        Mode::Transport => {
            let ip = Ipv4Packet::new_checked(inner).ok()?;
            (ip.src_addr(), ip.dst_addr(), ip.hop_limit())
        }
    };
    let repr = Ipv4Repr {
        src_addr,
        dst_addr,
        next_header: if udp.is_some() {
            IpProtocol::Udp
        } else {
            IpProtocol::IpSecEsp
        },
        payload_len,
        hop_limit,
    };
    let mut bytes = vec![0; repr.buffer_len() + payload_len];
    let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
    repr.emit(&mut packet, &ChecksumCapabilities::default());
    let payload = packet.payload_mut();
    let esp_at = match udp {
        Some(header) => {
            payload.get_mut(..UDP_HEADER_LEN)?.copy_from_slice(&header);
            UDP_HEADER_LEN
        }
        None => 0,
    };
    payload.get_mut(esp_at..)?.copy_from_slice(esp);
    Some(bytes)
}

fn emit(repr: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0; repr.buffer_len() + payload.len()];
    let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
    repr.emit(&mut packet, &ChecksumCapabilities::default());
    packet.payload_mut().copy_from_slice(payload);
    bytes
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::distributor::packet::tcp_packet;

    fn stage() -> (IpsecStage, Arc<Mutex<IpsecState>>) {
        let state = Arc::new(Mutex::new(IpsecState::new(Spd::default())));
        (IpsecStage::new(state.clone(), 1), state)
    }

    fn packet() -> Vec<u8> {
        tcp_packet(
            SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 5), 40_000),
            SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 10), 80),
            "S",
        )
    }

    #[test]
    fn a_packet_a_distributor_decrypted_passes_without_the_clear_text_policy() {
        let (mut stage, state) = stage();
        let from = Origin::Xcf(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            stage.inbound_protected(Instant::ZERO, from, packet()),
            Verdict::Decrypted(packet())
        );
        assert!(matches!(
            stage.inbound(Instant::ZERO, from, packet()),
            Verdict::Drop { .. }
        ));
        assert!(
            matches!(
                stage.inbound_protected(Instant::ZERO, Origin::Lan, packet()),
                Verdict::Drop { .. }
            ),
            "only XCF carries the mark"
        );
        let state = state.lock().unwrap();
        assert_eq!(
            state.counters.drops.get("no IPSECRULE permits it"),
            Some(&2)
        );
    }
}
