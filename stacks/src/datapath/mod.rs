//! The datapath of one stack: the smoltcp [`Device`] between the stack's interface and its LAN
//! port and dynamic XCF links (the middleware pattern of smoltcp's `PcapWriter`).
//!
//! ```text
//!            LAN port                       XCF link (UDP)
//!               │ frames                        │ IPv4 packets
//!   ingress:  ARP policy ── IPv4 for us? ── stages ── rx queue ──▶ smoltcp Interface
//!   egress:   smoltcp ──▶ ARP sender fix / IPv4 ── stages ──▶ LAN port │ XCF link
//!   returned: XCF link ── stages ── next hop ──▶ LAN port
//! ```
//!
//! Inbound ARP requests reach smoltcp only for HOME addresses and advertised DVIPAs (see
//! [`arp`]); IPv4 packets only when this stack holds their destination. The datapath sends the
//! gratuitous ARPs of addresses it takes over. It never routes: a packet for an address it does
//! not hold is dropped and counted; the one exception is a packet a target returns over XCF to
//! this distributor, which goes out of the LAN port to the next hop smoltcp last used for its
//! destination (see [`nexthop`]).

pub mod addresses;
pub mod arp;
pub mod garp;
pub mod neighbours;
pub mod nexthop;
pub mod segment;
pub mod stage;
pub mod time_wait;
pub mod xcf;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::task::{Context, Poll};

use bytes::Bytes;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium, PacketMeta};
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol,
    Ipv4Cidr, Ipv4Packet,
};

use crate::lan::{FrameChecksum, LanFrame, LanPort, SendOutcome};
use addresses::{AddressBook, DvipaRole};
use arp::{ArpIgnored, ArpVerdict};
use garp::{GarpSchedule, GarpTimers};
use neighbours::Neighbours;
use nexthop::NextHops;
use stage::{Origin, PacketStage, StageSlot, Stages, Verdict};
use time_wait::TimeWaitFilter;
use xcf::{XcfDatagram, XcfKind, XcfLink, XcfSend};

/// Frames or datagrams taken from one source per [`Datapath::poll_ingress`] call, so that one
/// busy source cannot starve the stack's other work.
const INGRESS_BUDGET: usize = 64;

/// The source MAC of frames that carry packets which came over dynamic XCF (locally
/// administered; smoltcp learns no neighbour from IPv4 frames, so it never ends in a cache).
pub const XCF_PSEUDO_MAC: EthernetAddress = EthernetAddress([0x02, 0x58, 0x43, 0x46, 0x00, 0x00]);

/// How the datapath behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathConfig {
    /// The MAC address of the stack's LAN interface.
    pub mac: EthernetAddress,
    /// The IP MTU of the LAN (1500 on Ethernet).
    pub ip_mtu: usize,
    /// Gratuitous ARPs sent when an address is taken.
    pub garp: GarpSchedule,
    /// Whether a gratuitous ARP for an on-link address makes smoltcp's neighbour cache follow
    /// (what a Linux host does); on for remote hosts, harmless for stacks.
    pub learn_gratuitous_arp: bool,
}

impl DatapathConfig {
    /// A datapath with MAC `mac`, a 1500-byte MTU, the default GARP schedule, learning GARPs.
    pub fn new(mac: EthernetAddress) -> Self {
        Self {
            mac,
            ip_mtu: 1500,
            garp: GarpSchedule::default(),
            learn_gratuitous_arp: true,
        }
    }
}

/// Counters of one datapath.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatapathStats {
    /// Frames received from the LAN.
    pub lan_frames_in: u64,
    /// Frames sent to the LAN.
    pub lan_frames_out: u64,
    /// Frames the LAN port dropped on send.
    pub lan_send_drops: u64,
    /// Errors sending to the LAN.
    pub lan_send_errors: u64,
    /// Frames handed to smoltcp.
    pub delivered: u64,
    /// ARP requests handed to smoltcp for answering.
    pub arp_passed: u64,
    /// ARP requests for target-only DVIPAs, not answered.
    pub arp_target_only: u64,
    /// ARP packets about addresses not held here.
    pub arp_not_ours: u64,
    /// Gratuitous ARPs sent.
    pub garp_sent: u64,
    /// Gratuitous ARPs from others that smoltcp was made to follow.
    pub garp_learned: u64,
    /// Gratuitous ARPs from others ignored.
    pub garp_ignored: u64,
    /// ARP packets from another station claiming an address this stack answers for.
    pub arp_conflicts: u64,
    /// ARP requests smoltcp sent from a target-only address, rewritten to the HOME address.
    pub arp_sender_rewritten: u64,
    /// IPv4 packets for addresses this stack does not hold.
    pub not_for_us: u64,
    /// Frames that are neither ARP nor IPv4, or are malformed.
    pub unsupported_frames: u64,
    /// XCF datagrams received.
    pub xcf_in: u64,
    /// Packets sent over XCF.
    pub xcf_out: u64,
    /// XCF datagrams that did not parse.
    pub xcf_malformed: u64,
    /// Packets for XCF partners with no known link, or that the link dropped.
    pub xcf_send_failures: u64,
    /// Outbound packets of protected connections returned over XCF to their distributor.
    pub xcf_returned_out: u64,
    /// Packets targets returned over XCF to this stack.
    pub xcf_returned_in: u64,
    /// Returned packets sent out of the LAN port (after the stages protected them).
    pub returned_sent: u64,
    /// Returned packets whose destination had no known next hop.
    pub returned_no_next_hop: u64,
    /// Packets larger than the MTU (from a port with offload) cut into pieces before the stages.
    pub segmented: u64,
    /// Packets consumed by a stage.
    pub stage_consumed: u64,
    /// Packets dropped by a stage, by reason.
    pub stage_drops: BTreeMap<&'static str, u64>,
}

/// The datapath of one stack; the smoltcp device its interface polls.
#[derive(Debug)]
pub struct Datapath {
    config: DatapathConfig,
    lan: Box<dyn LanPort>,
    xcf: Option<XcfLink>,
    book: AddressBook,
    garp: GarpTimers,
    stages: Stages,
    next_hops: NextHops,
    neighbours: Neighbours,
    rx_queue: VecDeque<LanFrame>,
    time_wait: TimeWaitFilter,
    stats: DatapathStats,
}

impl Datapath {
    /// A datapath for a stack with HOME addresses `home` on LAN port `lan`.
    pub fn new(config: DatapathConfig, home: Vec<Ipv4Cidr>, lan: Box<dyn LanPort>) -> Self {
        let garp = GarpTimers::new(config.garp);
        Self {
            config,
            lan,
            xcf: None,
            book: AddressBook::new(home),
            garp,
            stages: Stages::default(),
            next_hops: NextHops::default(),
            neighbours: Neighbours::default(),
            rx_queue: VecDeque::new(),
            time_wait: TimeWaitFilter::default(),
            stats: DatapathStats::default(),
        }
    }

    /// Attaches the stack's dynamic XCF link.
    pub fn attach_xcf(&mut self, link: XcfLink) {
        self.xcf = Some(link);
    }

    /// The stack's XCF link, if it has one.
    pub fn xcf(&self) -> Option<&XcfLink> {
        self.xcf.as_ref()
    }

    /// Records the link endpoint of an XCF partner; false when this stack has no XCF link.
    pub fn add_xcf_partner(&mut self, xcf: Ipv4Addr, endpoint: SocketAddr) -> bool {
        match &mut self.xcf {
            Some(link) => {
                link.add_partner(xcf, endpoint);
                true
            }
            None => false,
        }
    }

    /// The MAC address of the stack's LAN interface.
    pub fn mac(&self) -> EthernetAddress {
        self.config.mac
    }

    /// The addresses the stack holds.
    pub fn addresses(&self) -> &AddressBook {
        &self.book
    }

    /// Counters so far.
    pub fn stats(&self) -> &DatapathStats {
        &self.stats
    }

    /// Announces a HOME address (or re-announces any held address) with gratuitous ARP.
    pub fn announce(&mut self, addr: Ipv4Addr, now: Instant) {
        self.garp.announce(addr, now);
    }

    /// Makes `addr` an advertised DVIPA: answered in ARP and announced with gratuitous ARP.
    pub fn advertise(&mut self, addr: Ipv4Addr, now: Instant) {
        self.book.set_dvipa(addr, DvipaRole::Advertised);
        self.garp.announce(addr, now);
    }

    /// Holds `addr` as a distributor target: accepted, never answered in ARP nor announced.
    pub fn hold_as_target(&mut self, addr: Ipv4Addr) {
        self.book.set_dvipa(addr, DvipaRole::Target);
        self.garp.cancel(addr);
    }

    /// Gives up a DVIPA; returns the role it had.
    pub fn release(&mut self, addr: Ipv4Addr) -> Option<DvipaRole> {
        self.garp.cancel(addr);
        self.book.remove_dvipa(addr)
    }

    /// Gives smoltcp back the neighbours it learned and still would know at `now`, as ARP
    /// replies to its primary HOME address: call it after changing the interface's addresses,
    /// which makes smoltcp forget them (see [`neighbours`]).
    pub fn restore_neighbours(&mut self, now: Instant) {
        let Some(own_ip) = self.book.primary_home() else {
            return;
        };
        for (addr, mac) in self.neighbours.fresh(now) {
            self.deliver(arp::neighbour_update(self.config.mac, own_ip, addr, mac));
        }
    }

    /// The connections in TIME_WAIT whose segments smoltcp takes from [`Datapath::time_wait_device`]
    /// instead of from this device.
    pub fn time_wait_mut(&mut self) -> &mut TimeWaitFilter {
        &mut self.time_wait
    }

    /// Whether segments for connections in TIME_WAIT wait to be polled.
    pub fn has_time_wait_frames(&self) -> bool {
        self.time_wait.has_frames()
    }

    /// The device to poll the TIME_WAIT sockets with: it receives the segments kept aside for
    /// them and sends like this one.
    pub fn time_wait_device(&mut self) -> TimeWaitDevice<'_> {
        TimeWaitDevice(self)
    }

    /// Installs the stage of a slot of the packet walk.
    pub fn install_stage(&mut self, slot: StageSlot, stage: Box<dyn PacketStage>) {
        self.stages.install(slot, stage);
    }

    /// Sends the gratuitous ARPs due at `now`.
    pub fn poll_timers(&mut self, now: Instant) {
        for addr in self.garp.due(now) {
            let frame = arp::gratuitous_arp(self.config.mac, addr);
            self.stats.garp_sent += 1;
            self.send_lan(frame);
        }
    }

    /// When the datapath next needs [`Datapath::poll_timers`].
    pub fn poll_at(&self) -> Option<Instant> {
        self.garp.poll_at()
    }

    /// Takes what the LAN port and the XCF link have received, walks it and queues what is for
    /// smoltcp. Ready with the number of frames and datagrams taken, once there was any.
    pub fn poll_ingress(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<io::Result<usize>> {
        let mut taken = 0;
        while taken < INGRESS_BUDGET {
            match self.lan.poll_recv(cx) {
                Poll::Ready(Ok(frame)) => {
                    taken += 1;
                    self.ingress_frame(now, frame);
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => break,
            }
        }
        let mut datagrams = 0;
        while datagrams < INGRESS_BUDGET {
            let Some(link) = &mut self.xcf else { break };
            match link.poll_recv(cx) {
                Poll::Ready(Ok(datagram)) => {
                    datagrams += 1;
                    self.ingress_xcf(now, &datagram);
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => break,
            }
        }
        taken += datagrams;
        if taken > 0 {
            Poll::Ready(Ok(taken))
        } else {
            Poll::Pending
        }
    }

    /// Walks one frame received from the LAN.
    pub fn ingress_frame(&mut self, now: Instant, frame: impl Into<LanFrame>) {
        let frame = frame.into();
        self.stats.lan_frames_in += 1;
        let Ok(eth) = EthernetFrame::new_checked(&frame.bytes[..]) else {
            self.stats.unsupported_frames += 1;
            return;
        };
        let dst = eth.dst_addr();
        if dst != self.config.mac && !dst.is_broadcast() && !dst.is_multicast() {
            return;
        }
        match eth.ethertype() {
            EthernetProtocol::Arp => self.ingress_arp(now, eth.payload(), frame.bytes.clone()),
            EthernetProtocol::Ipv4 => {
                self.ingress_ipv4(now, Origin::Lan, eth.payload(), Some(&frame), false)
            }
            _ => self.stats.unsupported_frames += 1,
        }
    }

    fn ingress_arp(&mut self, now: Instant, payload: &[u8], frame: Bytes) {
        let Ok(repr) = ArpPacket::new_checked(payload).and_then(|packet| ArpRepr::parse(&packet))
        else {
            self.stats.unsupported_frames += 1;
            return;
        };
        match arp::classify(
            &repr,
            &self.book,
            self.config.mac,
            self.config.learn_gratuitous_arp,
        ) {
            ArpVerdict::Pass => {
                self.stats.arp_passed += 1;
                // smoltcp learns the sender of a request or reply to it when it is on-link.
                if let ArpRepr::EthernetIpv4 {
                    source_hardware_addr,
                    source_protocol_addr,
                    ..
                } = repr
                    && self.book.is_on_link(source_protocol_addr)
                {
                    self.neighbours
                        .learned(source_protocol_addr, source_hardware_addr, now);
                }
                self.deliver(frame);
            }
            ArpVerdict::Learn { addr, mac } => {
                let Some(own_ip) = self.book.primary_home() else {
                    self.stats.garp_ignored += 1;
                    return;
                };
                self.stats.garp_learned += 1;
                self.neighbours.learned(addr, mac, now);
                self.deliver(arp::neighbour_update(self.config.mac, own_ip, addr, mac));
            }
            ArpVerdict::Conflict { addr, mac } => {
                self.stats.arp_conflicts += 1;
                tracing::warn!(%addr, %mac, "another station claims an address this stack owns");
            }
            ArpVerdict::Ignore(ArpIgnored::TargetOnly) => self.stats.arp_target_only += 1,
            ArpVerdict::Ignore(ArpIgnored::Gratuitous) => self.stats.garp_ignored += 1,
            ArpVerdict::Ignore(ArpIgnored::NotOurs | ArpIgnored::OwnFrame) => {
                self.stats.arp_not_ours += 1
            }
        }
    }

    fn ingress_xcf(&mut self, now: Instant, bytes: &[u8]) {
        self.stats.xcf_in += 1;
        match XcfDatagram::parse(bytes) {
            Ok(XcfDatagram {
                kind: XcfKind::Forwarded { protected },
                sender,
                packet,
            }) => self.ingress_ipv4(now, Origin::Xcf(sender), packet, None, protected),
            Ok(XcfDatagram {
                kind: XcfKind::Returned,
                sender,
                packet,
            }) => self.ingress_returned(now, sender, packet),
            Err(error) => {
                self.stats.xcf_malformed += 1;
                tracing::debug!(%error, "XCF datagram dropped");
            }
        }
    }

    /// Walks an IPv4 packet addressed to this stack; `frame` is the frame it came in, if any,
    /// handed to smoltcp as is when no stage is installed (with the port's word on its checksum,
    /// unless it is a fragment); `protected` when a distributor decrypted it.
    fn ingress_ipv4(
        &mut self,
        now: Instant,
        origin: Origin,
        packet: &[u8],
        frame: Option<&LanFrame>,
        protected: bool,
    ) {
        let Ok(header) = Ipv4Packet::new_checked(packet) else {
            self.stats.unsupported_frames += 1;
            return;
        };
        let dst = header.dst_addr();
        if !self.book.holds(dst) && !self.book.is_broadcast(dst) && !dst.is_multicast() {
            self.stats.not_for_us += 1;
            return;
        }
        if self.stages.is_empty() {
            // smoltcp would check a reassembled segment against the last fragment's word.
            let fragment = header.more_frags() || header.frag_offset() != 0;
            match frame {
                Some(frame) if fragment => self.deliver(frame.bytes.clone()),
                Some(frame) => self.deliver(frame.clone()),
                None => self.deliver(self.wrap(packet)),
            }
            return;
        }
        // Only a TCP super-packet that a port with offload took whole is cut: the stages may
        // forward or encapsulate it, so they get pieces that fit, as the sender's GSO would
        // have cut them. Anything else goes on whole: an ESP packet for an IPSec stack, whose
        // IP MTU leaves room for ESP inside the LAN's, is larger than that MTU by design.
        if packet.len() <= self.config.ip_mtu || header.next_header() != IpProtocol::Tcp {
            let Some(packet) = self.passable(packet, frame) else {
                return;
            };
            return self.walk_stages(now, origin, packet, protected);
        }
        match segment::split_tcp(packet, self.config.ip_mtu) {
            Ok(pieces) => {
                self.stats.segmented += 1;
                for piece in pieces {
                    self.walk_stages(now, origin, piece, protected);
                }
            }
            Err(error) => {
                *self
                    .stats
                    .stage_drops
                    .entry("oversized packet not segmented")
                    .or_default() += 1;
                tracing::debug!(%error, "oversized packet dropped");
            }
        }
    }

    /// `packet` (of `frame`) as the stages may pass it on, with a local sender's partial
    /// checksum completed; `None` (counted) when the port's word on it does not fit it.
    fn passable(&mut self, packet: &[u8], frame: Option<&LanFrame>) -> Option<Vec<u8>> {
        let mut packet = packet.to_vec();
        if let Some(FrameChecksum::Partial(partial)) = frame.map(|frame| frame.checksum) {
            let link_header = EthernetFrame::<&[u8]>::header_len();
            let completed = partial
                .behind(link_header)
                .is_some_and(|partial| partial.complete(&mut packet).is_ok());
            if !completed {
                *self
                    .stats
                    .stage_drops
                    .entry("partial checksum outside the packet")
                    .or_default() += 1;
                return None;
            }
        }
        Some(packet)
    }

    /// Walks one IPv4 packet for this stack through the inbound stages.
    fn walk_stages(&mut self, now: Instant, origin: Origin, packet: Vec<u8>, protected: bool) {
        let verdict = if protected {
            self.stages.inbound_protected(now, origin, packet)
        } else {
            self.stages.inbound(now, origin, packet)
        };
        match verdict {
            Verdict::Continue(packet) | Verdict::Decrypted(packet) => {
                self.deliver(self.wrap(&packet))
            }
            verdict => self.settle(verdict),
        }
    }

    /// Walks a packet a target returned over XCF from `from` and sends what the stages make of
    /// it (ESP, normally) out of the LAN port to the next hop of its destination.
    fn ingress_returned(&mut self, now: Instant, from: Ipv4Addr, packet: &[u8]) {
        self.stats.xcf_returned_in += 1;
        if Ipv4Packet::new_checked(packet).is_err() {
            self.stats.unsupported_frames += 1;
            return;
        }
        match self.stages.returned(now, from, packet.to_vec()) {
            Verdict::Continue(packet) => self.send_ip_to_lan(&packet),
            verdict => self.settle(verdict),
        }
    }

    /// Sends an IPv4 packet this stack built out of the LAN port, to the next hop smoltcp last
    /// used for its destination.
    fn send_ip_to_lan(&mut self, packet: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(packet) else {
            self.stats.unsupported_frames += 1;
            return;
        };
        let Some(next_hop) = self.next_hops.get(ip.dst_addr()) else {
            self.stats.returned_no_next_hop += 1;
            return;
        };
        let eth = EthernetRepr {
            src_addr: self.config.mac,
            dst_addr: next_hop,
            ethertype: EthernetProtocol::Ipv4,
        };
        self.stats.returned_sent += 1;
        self.send_lan(ethernet_frame(&eth, packet));
    }

    /// Carries out a verdict that does not continue to smoltcp or the LAN.
    fn settle(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::ForwardXcf { to, packet } => {
                self.send_xcf(to, XcfKind::Forwarded { protected: false }, &packet)
            }
            Verdict::ForwardXcfProtected { to, packet } => {
                self.send_xcf(to, XcfKind::Forwarded { protected: true }, &packet)
            }
            Verdict::ReturnXcf { to, packet } => {
                self.stats.xcf_returned_out += 1;
                self.send_xcf(to, XcfKind::Returned, &packet)
            }
            Verdict::Consumed => self.stats.stage_consumed += 1,
            Verdict::Drop { reason } => *self.stats.stage_drops.entry(reason).or_default() += 1,
            Verdict::Continue(_) | Verdict::Decrypted(_) => {}
        }
    }

    /// An Ethernet frame to this stack carrying `packet`.
    fn wrap(&self, packet: &[u8]) -> Bytes {
        let eth = EthernetRepr {
            src_addr: XCF_PSEUDO_MAC,
            dst_addr: self.config.mac,
            ethertype: EthernetProtocol::Ipv4,
        };
        ethernet_frame(&eth, packet)
    }

    fn deliver(&mut self, frame: impl Into<LanFrame>) {
        self.stats.delivered += 1;
        self.rx_queue.push_back(frame.into());
    }

    /// Walks a frame smoltcp emitted and sends it on.
    fn egress(&mut self, now: Instant, mut frame: Vec<u8>) {
        let ethertype = EthernetFrame::new_checked(&frame[..]).map(|eth| eth.ethertype());
        match ethertype {
            Ok(EthernetProtocol::Arp) => {
                let rewritten = arp::rewrite_outbound(&mut frame, &self.book);
                self.stats.arp_sender_rewritten += u64::from(rewritten);
            }
            Ok(EthernetProtocol::Ipv4) if !self.stages.is_empty() => {
                let header_len = EthernetFrame::<&[u8]>::header_len();
                let packet = frame.split_off(header_len);
                match self.stages.outbound(now, packet) {
                    Verdict::Continue(packet) => frame.extend_from_slice(&packet),
                    verdict => return self.settle(verdict),
                }
                self.learn_next_hop(&frame);
            }
            Ok(EthernetProtocol::Ipv4) => self.learn_next_hop(&frame),
            _ => {}
        }
        self.send_lan(Bytes::from(frame));
    }

    /// Remembers where smoltcp sent an IPv4 frame (see [`nexthop`]).
    fn learn_next_hop(&mut self, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        if let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) {
            self.next_hops.learn(ip.dst_addr(), eth.dst_addr());
        }
    }

    fn send_lan(&mut self, frame: Bytes) {
        match self.lan.send(frame) {
            Ok(SendOutcome::Sent) => self.stats.lan_frames_out += 1,
            Ok(SendOutcome::Dropped) => self.stats.lan_send_drops += 1,
            Err(error) => {
                self.stats.lan_send_errors += 1;
                tracing::debug!(%error, "LAN send failed");
            }
        }
    }

    /// Sends an IPv4 packet of `kind` over dynamic XCF to the stack with XCF address `to`.
    pub fn send_xcf(&mut self, to: Ipv4Addr, kind: XcfKind, packet: &[u8]) {
        let outcome = match &self.xcf {
            Some(link) => link.send(to, kind, packet),
            None => Ok(XcfSend::NoLink),
        };
        match outcome {
            Ok(XcfSend::Sent) => self.stats.xcf_out += 1,
            Ok(XcfSend::NoLink | XcfSend::Dropped) => self.stats.xcf_send_failures += 1,
            Err(error) => {
                self.stats.xcf_send_failures += 1;
                tracing::debug!(%error, %to, "XCF send failed");
            }
        }
    }
}

/// An Ethernet frame with header `eth` carrying `packet`.
fn ethernet_frame(eth: &EthernetRepr, packet: &[u8]) -> Bytes {
    let mut bytes = vec![0u8; eth.buffer_len() + packet.len()];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
    eth.emit(&mut frame);
    frame.payload_mut().copy_from_slice(packet);
    Bytes::from(bytes)
}

/// A received frame, handed to smoltcp.
#[derive(Debug)]
pub struct RxToken(LanFrame);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0.bytes)
    }

    fn meta(&self) -> PacketMeta {
        let mut meta = PacketMeta::default();
        meta.checksum_verified = self.0.checksum.trusted();
        meta
    }
}

/// Room for one frame smoltcp emits, walked out through the datapath.
#[derive(Debug)]
pub struct TxToken<'a> {
    datapath: &'a mut Datapath,
    now: Instant,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        self.datapath.egress(self.now, frame);
        result
    }
}

impl Device for Datapath {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = loop {
            let frame = self.rx_queue.pop_front()?;
            if let Some(frame) = self.time_wait.divert(frame) {
                break frame;
            }
        };
        Some((
            RxToken(frame),
            TxToken {
                datapath: self,
                now: timestamp,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            datapath: self,
            now: timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.config.ip_mtu + EthernetFrame::<&[u8]>::header_len();
        caps
    }
}

/// The datapath as the device of the TIME_WAIT sockets (see [`time_wait`]).
#[derive(Debug)]
pub struct TimeWaitDevice<'a>(&'a mut Datapath);

impl Device for TimeWaitDevice<'_> {
    type RxToken<'a>
        = RxToken
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.0.time_wait.pop()?;
        Some((
            RxToken(frame),
            TxToken {
                datapath: self.0,
                now: timestamp,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<TxToken<'_>> {
        self.0.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.0.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lan::switch::EthernetSwitch;
    use smoltcp::wire::Ipv4Repr;

    const MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);
    const HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0b]);
    const HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
    const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
    const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

    fn datapath(switch: &EthernetSwitch) -> Datapath {
        Datapath::new(
            DatapathConfig::new(MAC),
            vec![Ipv4Cidr::new(HOME, 24)],
            Box::new(switch.port()),
        )
    }

    fn ipv4_frame(dst: Ipv4Addr) -> Bytes {
        let ip = Ipv4Repr {
            src_addr: HOST,
            dst_addr: dst,
            next_header: IpProtocol::Udp,
            payload_len: 0,
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: HOST_MAC,
            dst_addr: MAC,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0u8; eth.buffer_len() + ip.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(frame.payload_mut()),
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        Bytes::from(bytes)
    }

    fn arp_request(target: Ipv4Addr) -> Bytes {
        let mut frame = arp::gratuitous_arp(HOST_MAC, HOST).to_vec();
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        ArpPacket::new_unchecked(eth.payload_mut()).set_target_protocol_addr(&target.octets());
        Bytes::from(frame)
    }

    #[tokio::test]
    async fn delivers_packets_for_held_addresses_and_drops_the_rest() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        dp.hold_as_target(DVIPA);
        dp.ingress_frame(Instant::ZERO, ipv4_frame(HOME));
        dp.ingress_frame(Instant::ZERO, ipv4_frame(DVIPA));
        dp.ingress_frame(Instant::ZERO, ipv4_frame(Ipv4Addr::new(192, 0, 2, 99)));
        assert_eq!(dp.rx_queue.len(), 2);
        assert_eq!(dp.stats().not_for_us, 1);
    }

    #[tokio::test]
    async fn the_neighbours_smoltcp_learned_are_given_back_after_an_address_change() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        dp.ingress_frame(Instant::from_secs(1), arp_request(HOME));
        dp.ingress_frame(
            Instant::from_secs(1),
            arp_request(Ipv4Addr::new(192, 0, 2, 99)),
        );
        dp.rx_queue.clear();
        dp.restore_neighbours(Instant::from_secs(2));
        let frames: Vec<Bytes> = dp.rx_queue.drain(..).map(|frame| frame.bytes).collect();
        assert_eq!(frames.len(), 1, "only the request smoltcp got taught it");
        let eth = EthernetFrame::new_checked(&frames[0][..]).unwrap();
        let reply = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(
            reply,
            ArpRepr::EthernetIpv4 {
                operation: smoltcp::wire::ArpOperation::Reply,
                source_hardware_addr: HOST_MAC,
                source_protocol_addr: HOST,
                target_hardware_addr: MAC,
                target_protocol_addr: HOME,
            }
        );
        dp.restore_neighbours(Instant::from_secs(61));
        assert!(
            dp.rx_queue.is_empty(),
            "smoltcp would have expired it by now"
        );
    }

    #[tokio::test]
    async fn keeps_arp_requests_for_target_dvipas_from_smoltcp() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        dp.hold_as_target(DVIPA);
        dp.ingress_frame(Instant::ZERO, arp_request(DVIPA));
        assert!(dp.rx_queue.is_empty());
        assert_eq!(dp.stats().arp_target_only, 1);
        dp.advertise(DVIPA, Instant::ZERO);
        dp.ingress_frame(Instant::ZERO, arp_request(DVIPA));
        assert_eq!(dp.rx_queue.len(), 1);
    }

    #[tokio::test]
    async fn advertising_sends_gratuitous_arp_bursts_until_released() {
        let switch = EthernetSwitch::new();
        let mut mirror = switch.mirror();
        let mut dp = datapath(&switch);
        dp.advertise(DVIPA, Instant::ZERO);
        dp.poll_timers(Instant::ZERO);
        assert_eq!(dp.stats().garp_sent, 3);
        let frame = mirror.try_recv().unwrap();
        assert_eq!(frame, arp::gratuitous_arp(MAC, DVIPA));
        assert_eq!(dp.poll_at(), Some(Instant::from_secs(2)));
        dp.release(DVIPA);
        assert_eq!(dp.poll_at(), None);
    }

    #[derive(Debug)]
    struct ForwardAll(Ipv4Addr);

    impl PacketStage for ForwardAll {
        fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
            Verdict::ForwardXcf { to: self.0, packet }
        }
    }

    #[tokio::test]
    async fn a_stage_can_forward_over_xcf_and_a_missing_link_is_counted() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        dp.install_stage(
            StageSlot::Distributor,
            Box::new(ForwardAll(Ipv4Addr::new(198, 51, 100, 2))),
        );
        dp.ingress_frame(Instant::ZERO, ipv4_frame(HOME));
        assert!(dp.rx_queue.is_empty());
        assert_eq!(dp.stats().xcf_send_failures, 1);
    }

    /// Leaves every packet alone (the default hooks).
    #[derive(Debug)]
    struct PassAll;

    impl PacketStage for PassAll {}

    fn returned_datagram(packet: &[u8]) -> Vec<u8> {
        XcfDatagram {
            kind: XcfKind::Returned,
            sender: Ipv4Addr::new(198, 51, 100, 2),
            packet,
        }
        .emit()
    }

    #[tokio::test]
    async fn a_returned_packet_leaves_to_the_next_hop_smoltcp_used_for_its_destination() {
        let switch = EthernetSwitch::new();
        let mut mirror = switch.mirror();
        let mut dp = datapath(&switch);
        dp.install_stage(StageSlot::Distributor, Box::new(PassAll));
        // A packet from the DVIPA to the host, as a target returns it.
        let mut reply = ipv4_frame(HOST).to_vec();
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut reply[14..]);
            ip.set_src_addr(DVIPA);
            ip.fill_checksum();
        }
        let packet = reply[14..].to_vec();
        dp.ingress_xcf(Instant::ZERO, &returned_datagram(&packet));
        assert_eq!(
            dp.stats().returned_no_next_hop,
            1,
            "smoltcp never sent there"
        );
        assert!(mirror.try_recv().is_none());

        // smoltcp sends to the host through its gateway's MAC: the returned packet follows.
        let gateway = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
        let mut frame = ipv4_frame(HOST).to_vec();
        EthernetFrame::new_unchecked(&mut frame[..]).set_dst_addr(gateway);
        EthernetFrame::new_unchecked(&mut frame[..]).set_src_addr(MAC);
        dp.egress(Instant::ZERO, frame);
        assert!(mirror.try_recv().is_some());
        dp.ingress_xcf(Instant::ZERO, &returned_datagram(&packet));
        assert_eq!(dp.stats().xcf_returned_in, 2);
        assert_eq!(dp.stats().returned_sent, 1);
        let sent = mirror.try_recv().expect("returned packet on the LAN");
        let eth = EthernetFrame::new_checked(&sent[..]).unwrap();
        assert_eq!((eth.src_addr(), eth.dst_addr()), (MAC, gateway));
        assert_eq!(eth.payload(), &packet[..]);
    }

    #[tokio::test]
    async fn a_returned_packet_is_dropped_without_a_distributor_stage() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        let packet = ipv4_frame(HOST)[14..].to_vec();
        dp.ingress_xcf(Instant::ZERO, &returned_datagram(&packet));
        assert_eq!(
            dp.stats()
                .stage_drops
                .get("returned packet without a distributor"),
            Some(&1)
        );
        assert_eq!(dp.stats().returned_sent, 0);
    }

    #[derive(Debug)]
    struct ReturnAll(Ipv4Addr);

    impl PacketStage for ReturnAll {
        fn outbound(&mut self, _now: Instant, packet: Vec<u8>) -> Verdict {
            Verdict::ReturnXcf { to: self.0, packet }
        }
    }

    #[tokio::test]
    async fn a_packet_a_stage_returns_goes_over_xcf_as_a_returned_datagram() {
        let loopback: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
        let distributor = Ipv4Addr::new(198, 51, 100, 1);
        let mut link = XcfLink::bind(distributor, loopback).unwrap();
        let switch = EthernetSwitch::new();
        let mut mirror = switch.mirror();
        let mut dp = datapath(&switch);
        dp.attach_xcf(XcfLink::bind(Ipv4Addr::new(198, 51, 100, 2), loopback).unwrap());
        dp.add_xcf_partner(distributor, link.endpoint().unwrap());
        dp.install_stage(StageSlot::Distributor, Box::new(ReturnAll(distributor)));
        dp.egress(Instant::ZERO, ipv4_frame(HOST).to_vec());
        assert!(mirror.try_recv().is_none(), "nothing on the LAN");
        assert_eq!(dp.stats().xcf_returned_out, 1);
        let bytes = std::future::poll_fn(|cx| link.poll_recv(cx)).await.unwrap();
        let datagram = XcfDatagram::parse(&bytes).unwrap();
        assert_eq!(datagram.kind, XcfKind::Returned);
        assert_eq!(datagram.packet, &ipv4_frame(HOST)[14..]);
    }

    /// Records the size of every packet it sees inbound and passes it on.
    #[derive(Debug)]
    struct RecordSizes(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

    impl PacketStage for RecordSizes {
        fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
            self.0.lock().unwrap().push(packet.len());
            Verdict::Continue(packet)
        }
    }

    /// A TCP/IPv4 frame to HOME with `payload` (valid checksums).
    fn tcp_frame(payload: &[u8]) -> Bytes {
        use smoltcp::wire::{TcpControl, TcpPacket, TcpRepr, TcpSeqNumber};
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        let tcp = TcpRepr {
            src_port: 40000,
            dst_port: 5001,
            control: TcpControl::None,
            seq_number: TcpSeqNumber(1),
            ack_number: Some(TcpSeqNumber(1)),
            window_len: 512,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let ip = Ipv4Repr {
            src_addr: HOST,
            dst_addr: HOME,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: HOST_MAC,
            dst_addr: MAC,
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0u8; eth.buffer_len() + ip.buffer_len() + tcp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &HOST.into(),
            &HOME.into(),
            &caps,
        );
        Bytes::from(bytes)
    }

    #[tokio::test]
    async fn an_oversized_tcp_packet_reaches_the_stages_in_pieces_that_fit_the_mtu() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        dp.ingress_frame(Instant::ZERO, tcp_frame(&[5; 4000]));
        assert_eq!(
            dp.rx_queue.len(),
            1,
            "without stages smoltcp takes it whole"
        );
        dp.install_stage(StageSlot::Distributor, Box::new(RecordSizes(sizes.clone())));
        dp.ingress_frame(Instant::ZERO, tcp_frame(&[5; 4000]));
        assert_eq!(*sizes.lock().unwrap(), vec![1500, 1500, 1120]);
        assert_eq!(dp.stats().segmented, 1);
        assert_eq!(dp.rx_queue.len(), 4);
    }

    /// Whether smoltcp is told the checksum of the next frame it takes is vouched for.
    fn next_checksum_verified(dp: &mut Datapath) -> bool {
        use smoltcp::phy::RxToken as _;
        let (frame, _) = dp.receive(Instant::ZERO).expect("a frame for smoltcp");
        frame.meta().checksum_verified
    }

    #[tokio::test]
    async fn smoltcp_hears_the_ports_word_on_a_checksum_but_not_for_a_fragment_or_after_the_stages()
    {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        let vouched = |bytes: Bytes| LanFrame {
            bytes,
            checksum: FrameChecksum::Verified,
        };
        dp.ingress_frame(Instant::ZERO, vouched(tcp_frame(b"whole")));
        assert!(next_checksum_verified(&mut dp));
        dp.ingress_frame(Instant::ZERO, tcp_frame(b"nobody checked"));
        assert!(!next_checksum_verified(&mut dp));

        let mut fragment = tcp_frame(b"first of two pieces").to_vec();
        let mut ip =
            Ipv4Packet::new_unchecked(&mut fragment[EthernetFrame::<&[u8]>::header_len()..]);
        ip.set_more_frags(true);
        ip.fill_checksum();
        dp.ingress_frame(Instant::ZERO, vouched(Bytes::from(fragment)));
        assert!(!next_checksum_verified(&mut dp), "a fragment");

        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        dp.install_stage(StageSlot::Distributor, Box::new(RecordSizes(sizes)));
        dp.ingress_frame(Instant::ZERO, vouched(tcp_frame(b"staged")));
        assert!(
            !next_checksum_verified(&mut dp),
            "a packet the stages handed back"
        );
    }

    /// Passes packets on and keeps a copy of each.
    #[derive(Debug)]
    struct KeepPackets(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

    impl PacketStage for KeepPackets {
        fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
            self.0.lock().unwrap().push(packet.clone());
            Verdict::Continue(packet)
        }
    }

    #[tokio::test]
    async fn a_partial_checksum_is_trusted_in_and_completed_before_the_stages_see_the_packet() {
        use crate::lan::vnet::{PartialChecksum, ones_complement_sum};
        let whole = tcp_frame(b"from a local sender");
        let link = EthernetFrame::<&[u8]>::header_len();
        let field = link + 20 + 16;
        // What the sender hands over: the field holds the pseudo-header sum.
        let mut pseudo = whole[link + 12..link + 20].to_vec();
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(
            &u16::try_from(whole.len() - link - 20)
                .unwrap()
                .to_be_bytes(),
        );
        let mut partial = whole.to_vec();
        partial[field..field + 2].copy_from_slice(&ones_complement_sum(&pseudo).to_be_bytes());
        let sent = LanFrame {
            bytes: Bytes::from(partial),
            checksum: FrameChecksum::Partial(PartialChecksum {
                start: u16::try_from(link + 20).unwrap(),
                offset: 16,
            }),
        };

        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        dp.ingress_frame(Instant::ZERO, sent.clone());
        assert!(next_checksum_verified(&mut dp), "taken in as it is");

        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        dp.install_stage(StageSlot::Distributor, Box::new(KeepPackets(kept.clone())));
        dp.ingress_frame(Instant::ZERO, sent);
        assert_eq!(kept.lock().unwrap().as_slice(), [whole[link..].to_vec()]);
    }

    #[tokio::test]
    async fn an_esp_packet_larger_than_the_ip_mtu_reaches_the_stages_whole() {
        // An IPSec stack's IP MTU leaves room for ESP in the LAN's 1500 bytes, so the ESP
        // packets that arrive for it are larger than its own MTU.
        let switch = EthernetSwitch::new();
        let mut config = DatapathConfig::new(MAC);
        config.ip_mtu = 1400;
        let mut dp = Datapath::new(
            config,
            vec![Ipv4Cidr::new(HOME, 24)],
            Box::new(switch.port()),
        );
        let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        dp.install_stage(StageSlot::Distributor, Box::new(RecordSizes(sizes.clone())));
        let ip = Ipv4Repr {
            src_addr: HOST,
            dst_addr: HOME,
            next_header: IpProtocol::IpSecEsp,
            payload_len: 1480,
            hop_limit: 64,
        };
        let mut frame = ipv4_frame(HOME).to_vec();
        frame.resize(14 + 1500, 0);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut frame[14..]),
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        dp.ingress_frame(Instant::ZERO, Bytes::from(frame));
        assert_eq!(*sizes.lock().unwrap(), vec![1500]);
        assert_eq!(dp.stats().segmented, 0);
        assert!(dp.stats().stage_drops.is_empty());
    }

    /// Counts the protected packets it sees, and says they were decrypted.
    #[derive(Debug)]
    struct CountProtected(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl PacketStage for CountProtected {
        fn inbound_protected(
            &mut self,
            _now: Instant,
            _origin: Origin,
            packet: Vec<u8>,
        ) -> Verdict {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Verdict::Decrypted(packet)
        }
    }

    #[tokio::test]
    async fn a_forwarded_packet_marked_protected_walks_the_protected_side_and_is_delivered() {
        let switch = EthernetSwitch::new();
        let mut dp = datapath(&switch);
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        dp.install_stage(
            StageSlot::Distributor,
            Box::new(CountProtected(seen.clone())),
        );
        let packet = ipv4_frame(HOME)[14..].to_vec();
        for protected in [true, false] {
            let datagram = XcfDatagram {
                kind: XcfKind::Forwarded { protected },
                sender: Ipv4Addr::new(198, 51, 100, 1),
                packet: &packet,
            }
            .emit();
            dp.ingress_xcf(Instant::ZERO, &datagram);
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(dp.rx_queue.len(), 2, "both delivered");
        dp.ingress_xcf(Instant::ZERO, b"ZXCF\x01\x01\0\0\0\0\0");
        assert_eq!(dp.stats().xcf_malformed, 1, "version 1 is refused");
    }
}
