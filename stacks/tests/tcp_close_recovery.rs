//! A connection's FIN survives the retransmissions of a takeover.
//!
//! After a DVIPA takeover the remote host retransmits its whole window, FIN last, and the
//! target acknowledges data it already had with a run of identical ACKs. Two faults of the
//! TCP layer (smoltcp 0.14, patched in `vendor/smoltcp`) then left the connection half
//! closed for good:
//! - the receiver dropped a FIN riding on a segment whose data it already had, and
//! - the sender, seeing three duplicate ACKs with only its FIN outstanding, started a fast
//!   retransmit that had nothing to send and switched its retransmission timer off.
//!
//! A third test covers the patch's first addition: a socket in TIME_WAIT gives its buffers up
//! and still answers as TIME_WAIT must. A fourth covers the second: a segment whose checksum
//! the device vouches for is taken without checking it.
//!
//! Each test plays the remote end by hand against one smoltcp interface, on a virtual clock.

use std::collections::VecDeque;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, IpAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
};

const STACK_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
const STACK_IP: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const PEER_IP: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);
const STACK_PORT: u16 = 4000;
const PEER_PORT: u16 = 5000;
const PEER_ISS: u32 = 7_000;

/// A device whose frames the test reads and writes directly.
#[derive(Default)]
struct Wire {
    to_stack: VecDeque<Vec<u8>>,
    from_stack: VecDeque<Vec<u8>>,
    /// Vouch for the checksum of every frame handed to the stack.
    vouch: bool,
}

struct WireRx(Vec<u8>, bool);
struct WireTx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for WireRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }

    fn meta(&self) -> phy::PacketMeta {
        let mut meta = phy::PacketMeta::default();
        meta.checksum_verified = self.1;
        meta
    }
}

impl phy::TxToken for WireTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push_back(frame);
        result
    }
}

impl Device for Wire {
    type RxToken<'a> = WireRx;
    type TxToken<'a> = WireTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(WireRx, WireTx<'_>)> {
        let frame = self.to_stack.pop_front()?;
        Some((WireRx(frame, self.vouch), WireTx(&mut self.from_stack)))
    }

    fn transmit(&mut self, _: Instant) -> Option<WireTx<'_>> {
        Some(WireTx(&mut self.from_stack))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// One smoltcp interface with one TCP socket, and the remote end played by the test.
struct Lab {
    wire: Wire,
    iface: Interface,
    sockets: SocketSet<'static>,
    socket: SocketHandle,
    now: Instant,
}

impl Lab {
    fn new() -> Lab {
        let mut wire = Wire::default();
        let mut config = Config::new(HardwareAddress::Ethernet(STACK_MAC));
        config.random_seed = 6;
        let now = Instant::from_millis(0);
        let mut iface = Interface::new(config, &mut wire, now);
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::Ipv4(STACK_IP), 24))
                .expect("one address");
        });
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 4096]),
            tcp::SocketBuffer::new(vec![0; 4096]),
        );
        let mut sockets = SocketSet::new(Vec::new());
        let socket = sockets.add(socket);
        Lab {
            wire,
            iface,
            sockets,
            socket,
            now,
        }
    }

    fn tcp(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.socket)
    }

    /// Polls at `now`, answers ARP, and returns the TCP segments the stack sent.
    fn poll(&mut self) -> Vec<Segment> {
        self.iface.poll(self.now, &mut self.wire, &mut self.sockets);
        let mut segments = Vec::new();
        while let Some(frame) = self.wire.from_stack.pop_front() {
            let frame = EthernetFrame::new_checked(&frame[..]).expect("ethernet frame");
            match frame.ethertype() {
                EthernetProtocol::Arp => self.answer_arp(frame.payload()),
                EthernetProtocol::Ipv4 => segments.push(Segment::parse(frame.payload())),
                other => panic!("unexpected ethertype {other}"),
            }
        }
        if !segments.is_empty() {
            // ARP answers queued above reach the stack on the next poll.
            self.iface.poll(self.now, &mut self.wire, &mut self.sockets);
        }
        segments
    }

    /// Polls every 10 ms for `span`, collecting what the stack sends.
    fn run_for(&mut self, span: Duration) -> Vec<Segment> {
        let end = self.now + span;
        let mut segments = self.poll();
        while self.now < end {
            self.now += Duration::from_millis(10);
            segments.extend(self.poll());
        }
        segments
    }

    fn answer_arp(&mut self, packet: &[u8]) {
        let packet = ArpPacket::new_checked(packet).expect("arp packet");
        let ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            source_protocol_addr,
            ..
        } = ArpRepr::parse(&packet).expect("arp")
        else {
            return;
        };
        let reply = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: PEER_MAC,
            source_protocol_addr: PEER_IP,
            target_hardware_addr: source_hardware_addr,
            target_protocol_addr: source_protocol_addr,
        };
        let frame = peer_frame(EthernetProtocol::Arp, reply.buffer_len(), |payload| {
            reply.emit(&mut ArpPacket::new_unchecked(payload));
        });
        self.wire.to_stack.push_back(frame);
    }

    /// Sends one segment from the remote end.
    fn send(&mut self, seq: u32, ack: Option<u32>, control: TcpControl, payload: &[u8]) {
        let tcp = TcpRepr {
            src_port: PEER_PORT,
            dst_port: STACK_PORT,
            control,
            seq_number: seq_number(seq),
            ack_number: ack.map(seq_number),
            window_len: 4096,
            window_scale: None,
            max_seg_size: (control == TcpControl::Syn).then_some(1000),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload,
        };
        let ip = Ipv4Repr {
            src_addr: PEER_IP,
            dst_addr: STACK_IP,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let len = ip.buffer_len() + tcp.buffer_len();
        let frame = peer_frame(EthernetProtocol::Ipv4, len, |payload| {
            let mut ipv4 = Ipv4Packet::new_unchecked(payload);
            ip.emit(&mut ipv4, &phy::ChecksumCapabilities::default());
            tcp.emit(
                &mut TcpPacket::new_unchecked(ipv4.payload_mut()),
                &IpAddress::Ipv4(PEER_IP),
                &IpAddress::Ipv4(STACK_IP),
                &phy::ChecksumCapabilities::default(),
            );
        });
        self.wire.to_stack.push_back(frame);
    }

    /// The stack connects to the remote end, which answers; returns the stack's next sequence number.
    fn connect_out(&mut self) -> u32 {
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(self.socket)
            .connect(cx, (IpAddress::Ipv4(PEER_IP), PEER_PORT), STACK_PORT)
            .expect("connect");
        let syn = self.syn_sent();
        self.send(PEER_ISS, Some(syn.wrapping_add(1)), TcpControl::Syn, &[]);
        self.poll();
        assert_eq!(self.tcp().state(), tcp::State::Established);
        syn.wrapping_add(1)
    }

    /// The remote end connects to the stack's listener; returns the stack's next sequence number.
    fn connect_in(&mut self) -> u32 {
        self.tcp().listen(STACK_PORT).expect("listen");
        self.send(PEER_ISS, None, TcpControl::Syn, &[]);
        let syn_ack = self.syn_sent();
        self.send(
            PEER_ISS + 1,
            Some(syn_ack.wrapping_add(1)),
            TcpControl::None,
            &[],
        );
        self.poll();
        assert_eq!(self.tcp().state(), tcp::State::Established);
        syn_ack.wrapping_add(1)
    }

    /// Polls until the stack's SYN (or SYN-ACK) goes out; returns its sequence number.
    fn syn_sent(&mut self) -> u32 {
        self.run_for(Duration::from_millis(50))
            .into_iter()
            .find(|segment| segment.syn)
            .expect("the stack sends its SYN")
            .seq
    }
}

/// A frame from the remote end to the stack, its `len` octets of payload written by `fill`.
fn peer_frame(ethertype: EthernetProtocol, len: usize, fill: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut frame = vec![0; EthernetFrame::<&[u8]>::header_len() + len];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: STACK_MAC,
        ethertype,
    }
    .emit(&mut eth);
    fill(eth.payload_mut());
    frame
}

/// A sequence number from its 32 bits on the wire.
fn seq_number(bits: u32) -> TcpSeqNumber {
    TcpSeqNumber(i32::from_ne_bytes(bits.to_ne_bytes()))
}

/// What the test reads of a segment the stack sent.
#[derive(Debug, Clone, PartialEq)]
struct Segment {
    seq: u32,
    ack: u32,
    syn: bool,
    fin: bool,
    len: usize,
}

impl Segment {
    fn parse(ip: &[u8]) -> Segment {
        let ipv4 = Ipv4Packet::new_checked(ip).expect("ipv4");
        let tcp = TcpPacket::new_checked(ipv4.payload()).expect("tcp");
        Segment {
            seq: u32::from_ne_bytes(tcp.seq_number().0.to_ne_bytes()),
            ack: u32::from_ne_bytes(tcp.ack_number().0.to_ne_bytes()),
            syn: tcp.syn(),
            fin: tcp.fin(),
            len: tcp.payload().len(),
        }
    }
}

#[test]
fn a_fin_left_alone_after_duplicate_acks_is_sent_again() {
    let mut lab = Lab::new();
    let next = lab.connect_out();
    lab.tcp().send_slice(&[0x5a; 600]).expect("queue data");
    lab.tcp().close();
    let sent = lab.run_for(Duration::from_millis(20));
    let fin = sent.iter().find(|s| s.fin).expect("data and FIN go out");
    assert_eq!(
        fin.seq.wrapping_add(u32::try_from(fin.len).unwrap()),
        next.wrapping_add(600)
    );

    // The remote end acknowledges the data but not the FIN, four times over: one new ACK and
    // three duplicates, as a takeover's retransmitted window makes it do.
    for _ in 0..4 {
        lab.send(
            PEER_ISS + 1,
            Some(next.wrapping_add(600)),
            TcpControl::None,
            &[],
        );
    }
    let resent = lab.run_for(Duration::from_secs(5));
    assert!(
        resent
            .iter()
            .any(|s| s.fin && s.seq == next.wrapping_add(600) && s.len == 0),
        "the FIN is sent again, not abandoned: {resent:?}"
    );
    lab.send(
        PEER_ISS + 1,
        Some(next.wrapping_add(601)),
        TcpControl::None,
        &[],
    );
    lab.poll();
    assert_eq!(lab.tcp().state(), tcp::State::FinWait2);
}

#[test]
fn a_fin_on_a_segment_whose_data_is_already_here_closes_the_connection() {
    let mut lab = Lab::new();
    let next = lab.connect_in();
    let data = [0xa5; 300];
    lab.send(PEER_ISS + 1, Some(next), TcpControl::Psh, &data);
    lab.run_for(Duration::from_millis(20));
    assert_eq!(lab.tcp().recv_queue(), 300);

    // The same data again, now with the FIN: the data is old, the FIN is new.
    lab.send(PEER_ISS + 1, Some(next), TcpControl::Fin, &data);
    let sent = lab.run_for(Duration::from_millis(20));
    assert_eq!(lab.tcp().state(), tcp::State::CloseWait);
    assert!(
        sent.iter().any(|s| s.ack == PEER_ISS + 1 + 300 + 1),
        "the FIN is acknowledged: {sent:?}"
    );
}

#[test]
fn a_socket_in_time_wait_gives_up_its_buffers_and_still_acknowledges_a_retransmitted_fin() {
    let mut lab = Lab::new();
    let next = lab.connect_out();
    lab.tcp().close();
    lab.run_for(Duration::from_millis(20));
    // The remote end acknowledges the FIN and closes too, with its last 100 bytes.
    let data = [7; 100];
    lab.send(
        PEER_ISS + 1,
        Some(next.wrapping_add(1)),
        TcpControl::Fin,
        &data,
    );
    lab.run_for(Duration::from_millis(20));
    assert_eq!(lab.tcp().state(), tcp::State::TimeWait);

    let empty = || tcp::SocketBuffer::new(Vec::new());
    assert!(
        lab.tcp().replace_buffers(empty(), empty()).is_err(),
        "data not yet read keeps the buffers"
    );
    assert_eq!(lab.tcp().recv_slice(&mut [0; 200]), Ok(100));
    let Ok((rx, tx)) = lab.tcp().replace_buffers(empty(), empty()) else {
        panic!("a socket in TIME_WAIT with its data read gives its buffers up");
    };
    assert_eq!((rx.capacity(), tx.capacity()), (4096, 4096));
    assert_eq!(lab.tcp().recv_capacity(), 0);

    // The remote end missed the last ACK and sends its data and FIN again.
    lab.send(
        PEER_ISS + 1,
        Some(next.wrapping_add(1)),
        TcpControl::Fin,
        &data,
    );
    let sent = lab.run_for(Duration::from_millis(20));
    assert!(
        sent.iter()
            .any(|s| !s.fin && s.seq == next.wrapping_add(1) && s.ack == PEER_ISS + 102),
        "the retransmitted FIN is acknowledged: {sent:?}"
    );
    assert_eq!(lab.tcp().state(), tcp::State::TimeWait);
}

#[test]
fn a_segment_whose_checksum_the_device_vouches_for_is_taken_without_checking_it() {
    let mut lab = Lab::new();
    lab.tcp().listen(STACK_PORT).expect("listen");
    let spoil_checksum = |lab: &mut Lab| {
        let frame = lab.wire.to_stack.back_mut().expect("a queued segment");
        // The TCP checksum: Ethernet header, 20 octets of IPv4 header, offset 16.
        frame[EthernetFrame::<&[u8]>::header_len() + 20 + 16] ^= 0xff;
    };
    lab.send(PEER_ISS, None, TcpControl::Syn, &[]);
    spoil_checksum(&mut lab);
    let answered = lab.run_for(Duration::from_millis(50));
    assert!(answered.is_empty(), "checked and dropped: {answered:?}");
    assert_eq!(lab.tcp().state(), tcp::State::Listen);

    lab.wire.vouch = true;
    lab.send(PEER_ISS, None, TcpControl::Syn, &[]);
    spoil_checksum(&mut lab);
    let answered = lab.run_for(Duration::from_millis(50));
    assert!(
        answered.iter().any(|segment| segment.syn),
        "taken: {answered:?}"
    );
    assert_eq!(lab.tcp().state(), tcp::State::SynReceived);
}
