//! An in-memory learning Ethernet switch: many stacks of one process on one LAN, no privileges.
//!
//! The switch learns which port each source MAC address lives behind, forwards known unicast
//! frames to that port only and floods broadcast, multicast and unknown unicast frames to every
//! other port, like an IEEE 802.1D bridge (without aging: a MAC moves when it is seen on another
//! port, and is forgotten when its port goes away). Each port has a bounded queue; a full queue
//! drops the frame, as a congested switch port does. A mirror (a SPAN port) gets a copy of every
//! frame, so that tests can watch the LAN.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::{fmt, io};

use bytes::Bytes;
use smoltcp::wire::{EthernetAddress, EthernetFrame};
use tokio::sync::mpsc;

use super::{LanFrame, LanPort, SendOutcome};

/// Frames a port queues before the switch drops what comes next.
const PORT_QUEUE_FRAMES: usize = 1024;

/// Frames a mirror queues before it misses frames.
const MIRROR_QUEUE_FRAMES: usize = 8192;

/// The number of a switch port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u32);

/// Which port each learned MAC address lives behind: the pure core of the switch.
#[derive(Debug, Default, Clone)]
pub struct ForwardingTable {
    entries: BTreeMap<EthernetAddress, PortId>,
}

/// Where the switch sends a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// To this one port.
    Port(PortId),
    /// To every port but the one it came from.
    Flood,
    /// Nowhere: the destination lives behind the port the frame came from.
    Filter,
}

impl ForwardingTable {
    /// Learns the source of a frame that arrived on `port` and says where the frame goes.
    pub fn forward(
        &mut self,
        port: PortId,
        src: EthernetAddress,
        dst: EthernetAddress,
    ) -> Forwarding {
        if src.is_unicast() {
            self.entries.insert(src, port);
        }
        if !dst.is_unicast() {
            return Forwarding::Flood;
        }
        match self.entries.get(&dst) {
            Some(&known) if known == port => Forwarding::Filter,
            Some(&known) => Forwarding::Port(known),
            None => Forwarding::Flood,
        }
    }

    /// The port a MAC address was last seen on.
    pub fn lookup(&self, mac: EthernetAddress) -> Option<PortId> {
        self.entries.get(&mac).copied()
    }

    /// Forgets every address learned on a port that went away.
    pub fn forget_port(&mut self, port: PortId) {
        self.entries.retain(|_, p| *p != port);
    }
}

/// Frame counters of a switch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SwitchStats {
    /// Frames that entered the switch.
    pub frames_in: u64,
    /// Frame copies queued to ports.
    pub frames_out: u64,
    /// Frames too short to carry an Ethernet header.
    pub runts: u64,
    /// Frame copies dropped because a port's queue was full.
    pub queue_drops: u64,
}

#[derive(Debug, Default)]
struct SwitchState {
    ports: BTreeMap<PortId, mpsc::Sender<Bytes>>,
    table: ForwardingTable,
    mirrors: Vec<mpsc::Sender<Bytes>>,
    next_port: u32,
    stats: SwitchStats,
}

impl SwitchState {
    fn deliver(&mut self, to: PortId, frame: &Bytes) {
        let Some(queue) = self.ports.get(&to) else {
            return;
        };
        match queue.try_send(frame.clone()) {
            Ok(()) => self.stats.frames_out += 1,
            Err(mpsc::error::TrySendError::Full(_)) => self.stats.queue_drops += 1,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.ports.remove(&to);
                self.table.forget_port(to);
            }
        }
    }

    fn switch_frame(&mut self, from: PortId, frame: Bytes) -> SendOutcome {
        self.stats.frames_in += 1;
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            self.stats.runts += 1;
            return SendOutcome::Dropped;
        };
        let (src, dst) = (eth.src_addr(), eth.dst_addr());
        self.mirrors.retain(|mirror| {
            !matches!(
                mirror.try_send(frame.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
        match self.table.forward(from, src, dst) {
            Forwarding::Port(to) => self.deliver(to, &frame),
            Forwarding::Flood => {
                let others: Vec<PortId> =
                    self.ports.keys().copied().filter(|p| *p != from).collect();
                for to in others {
                    self.deliver(to, &frame);
                }
            }
            Forwarding::Filter => {}
        }
        SendOutcome::Sent
    }
}

/// An in-memory learning Ethernet switch; clones share the same switch.
#[derive(Clone, Default)]
pub struct EthernetSwitch {
    state: Arc<Mutex<SwitchState>>,
}

impl fmt::Debug for EthernetSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EthernetSwitch")
            .field("stats", &self.stats())
            .finish()
    }
}

fn lock(state: &Mutex<SwitchState>) -> MutexGuard<'_, SwitchState> {
    // The state stays consistent at every step, so a panic elsewhere cannot leave it torn.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EthernetSwitch {
    /// A switch with no ports.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plugs a new port into the switch.
    pub fn port(&self) -> SwitchPort {
        let (tx, rx) = mpsc::channel(PORT_QUEUE_FRAMES);
        let mut state = lock(&self.state);
        let id = PortId(state.next_port);
        state.next_port += 1;
        state.ports.insert(id, tx);
        SwitchPort {
            id,
            switch: self.clone(),
            rx,
        }
    }

    /// A mirror port that receives a copy of every frame entering the switch.
    pub fn mirror(&self) -> Mirror {
        let (tx, rx) = mpsc::channel(MIRROR_QUEUE_FRAMES);
        lock(&self.state).mirrors.push(tx);
        Mirror { rx }
    }

    /// The port a MAC address was last learned on.
    pub fn lookup(&self, mac: EthernetAddress) -> Option<PortId> {
        lock(&self.state).table.lookup(mac)
    }

    /// Frame counters so far.
    pub fn stats(&self) -> SwitchStats {
        lock(&self.state).stats
    }
}

/// A port of an [`EthernetSwitch`]; unplugged when dropped.
#[derive(Debug)]
pub struct SwitchPort {
    id: PortId,
    switch: EthernetSwitch,
    rx: mpsc::Receiver<Bytes>,
}

impl SwitchPort {
    /// The number of this port on its switch.
    pub fn id(&self) -> PortId {
        self.id
    }
}

impl LanPort for SwitchPort {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<LanFrame>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Ok(frame.into())),
            // The switch holds this port's sender for as long as the port exists.
            Poll::Ready(None) => Poll::Pending,
            Poll::Pending => Poll::Pending,
        }
    }

    fn send(&mut self, frame: Bytes) -> io::Result<SendOutcome> {
        Ok(lock(&self.switch.state).switch_frame(self.id, frame))
    }
}

impl Drop for SwitchPort {
    fn drop(&mut self) {
        let mut state = lock(&self.switch.state);
        state.ports.remove(&self.id);
        state.table.forget_port(self.id);
    }
}

/// A mirror (SPAN) port: a copy of every frame entering the switch.
#[derive(Debug)]
pub struct Mirror {
    rx: mpsc::Receiver<Bytes>,
}

impl Mirror {
    /// The next mirrored frame; `None` only if the switch is gone.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    /// A mirrored frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> EthernetAddress {
        EthernetAddress([0x02, 0, 0, 0, 0, last])
    }

    fn frame(dst: EthernetAddress, src: EthernetAddress) -> Bytes {
        let mut bytes = vec![0u8; 60];
        let mut eth = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.set_dst_addr(dst);
        eth.set_src_addr(src);
        eth.set_ethertype(smoltcp::wire::EthernetProtocol::Ipv4);
        Bytes::from(bytes)
    }

    #[test]
    fn floods_unknown_unicast_then_forwards_once_learned() {
        let mut table = ForwardingTable::default();
        assert_eq!(table.forward(PortId(0), mac(1), mac(2)), Forwarding::Flood);
        assert_eq!(
            table.forward(PortId(1), mac(2), mac(1)),
            Forwarding::Port(PortId(0))
        );
        assert_eq!(
            table.forward(PortId(0), mac(1), mac(2)),
            Forwarding::Port(PortId(1))
        );
    }

    #[test]
    fn filters_frames_for_the_port_they_came_from() {
        let mut table = ForwardingTable::default();
        table.forward(PortId(3), mac(1), EthernetAddress::BROADCAST);
        assert_eq!(table.forward(PortId(3), mac(2), mac(1)), Forwarding::Filter);
    }

    #[test]
    fn moves_a_mac_seen_on_another_port_and_forgets_a_gone_port() {
        let mut table = ForwardingTable::default();
        table.forward(PortId(0), mac(1), EthernetAddress::BROADCAST);
        table.forward(PortId(5), mac(1), EthernetAddress::BROADCAST);
        assert_eq!(table.lookup(mac(1)), Some(PortId(5)));
        table.forget_port(PortId(5));
        assert_eq!(table.lookup(mac(1)), None);
    }

    #[test]
    fn never_learns_a_multicast_source() {
        let mut table = ForwardingTable::default();
        table.forward(PortId(0), EthernetAddress::BROADCAST, mac(1));
        assert_eq!(table.lookup(EthernetAddress::BROADCAST), None);
    }

    #[tokio::test]
    async fn switch_delivers_broadcast_to_others_and_unicast_to_the_learned_port() {
        let switch = EthernetSwitch::new();
        let mut a = switch.port();
        let mut b = switch.port();
        let mut c = switch.port();
        let mut mirror = switch.mirror();
        a.send(frame(EthernetAddress::BROADCAST, mac(1))).unwrap();
        assert!(b.rx.try_recv().is_ok());
        assert!(c.rx.try_recv().is_ok());
        assert!(a.rx.try_recv().is_err());
        b.send(frame(mac(1), mac(2))).unwrap();
        assert!(a.rx.try_recv().is_ok());
        assert!(c.rx.try_recv().is_err());
        assert_eq!(mirror.try_recv().map(|f| f.len()), Some(60));
        assert!(mirror.try_recv().is_some());
        assert_eq!(switch.stats().frames_in, 2);
        assert_eq!(switch.stats().frames_out, 3);
    }

    #[tokio::test]
    async fn unplugging_a_port_forgets_its_addresses() {
        let switch = EthernetSwitch::new();
        let mut a = switch.port();
        a.send(frame(EthernetAddress::BROADCAST, mac(1))).unwrap();
        assert_eq!(switch.lookup(mac(1)), Some(a.id()));
        drop(a);
        assert_eq!(switch.lookup(mac(1)), None);
    }

    #[tokio::test]
    async fn drops_runt_frames() {
        let switch = EthernetSwitch::new();
        let mut a = switch.port();
        assert_eq!(
            a.send(Bytes::from_static(&[1, 2, 3])).unwrap(),
            SendOutcome::Dropped
        );
        assert_eq!(switch.stats().runts, 1);
    }
}
