//! Stacks on the in-memory switch, no privileges: two stacks (A, B) and a remote host (H, a
//! stack too). Most tests run on paused tokio time (the LAN is in memory, so the runtime is a
//! discrete-event simulation); the XCF test uses real UDP on loopback and real time.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol, IpProtocol,
    Ipv4Cidr, Ipv4Packet, TcpPacket,
};
use stacks::apps::echo::EchoServer;
use stacks::apps::stream::{SinkServer, StreamEnd, run_source};
use stacks::datapath::addresses::DvipaRole;
use stacks::datapath::stage::{Origin, PacketStage, StageSlot, Verdict};
use stacks::lan::switch::{EthernetSwitch, Mirror, SwitchPort};
use stacks::stack::netstat::{ConnState, TcpState};
use stacks::stack::ping::PingOutcome;
use stacks::stack::tcp::{Received, TcpReader, TcpWriter};
use stacks::stack::{Stack, StackConfig, StackHandle, XcfConfig};

const A_HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const B_HOME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 12);
const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const DVIPA: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const A_XCF: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const B_XCF: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn mac(last: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, last])
}

fn stack(
    switch: &EthernetSwitch,
    name: &str,
    last: u8,
    home: Ipv4Addr,
    xcf: Option<Ipv4Addr>,
) -> StackHandle {
    let mut config = StackConfig::new(name, mac(last), vec![Ipv4Cidr::new(home, 24)]);
    config.seed = u64::from(last);
    config.xcf = xcf.map(|address| XcfConfig {
        address,
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    });
    let (handle, _task) = Stack::spawn(config, Box::new(switch.port())).expect("stack starts");
    handle
}

struct Lab {
    switch: EthernetSwitch,
    a: StackHandle,
    b: StackHandle,
    host: StackHandle,
}

fn lab(with_xcf: bool) -> Lab {
    let switch = EthernetSwitch::new();
    let a = stack(&switch, "TCPCSA", 0x0a, A_HOME, with_xcf.then_some(A_XCF));
    let b = stack(&switch, "TCPCSB", 0x0b, B_HOME, with_xcf.then_some(B_XCF));
    let host = stack(&switch, "HOST", 0x50, HOST, None);
    Lab { switch, a, b, host }
}

fn at(addr: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(addr, port)
}

/// Sends `payload` on a new connection from the host and returns what came back.
async fn echo_once(host: &StackHandle, to: SocketAddrV4, payload: &'static [u8]) -> Vec<u8> {
    let stream = host.connect("CLIENT", to).await.expect("connects");
    let (mut reader, mut writer) = stream.split();
    writer
        .send(Bytes::from_static(payload))
        .await
        .expect("sends");
    let mut back = Vec::new();
    while back.len() < payload.len() {
        match reader.recv().await {
            Received::Data(data) => back.extend_from_slice(&data),
            other => panic!("echo ended early: {other:?}"),
        }
    }
    back
}

/// ARP frames seen on the switch so far, as (operation, sender MAC, sender IP, target IP).
fn arp_seen(mirror: &mut Mirror) -> Vec<(ArpOperation, EthernetAddress, Ipv4Addr, Ipv4Addr)> {
    let mut seen = Vec::new();
    while let Some(frame) = mirror.try_recv() {
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            continue;
        };
        if eth.ethertype() != EthernetProtocol::Arp {
            continue;
        }
        let Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) = ArpPacket::new_checked(eth.payload()).and_then(|p| ArpRepr::parse(&p))
        else {
            continue;
        };
        seen.push((
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
        ));
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn host_pings_a_stack_after_resolving_its_mac() {
    let lab = lab(false);
    let mut mirror = lab.switch.mirror();
    let outcome = lab.host.ping(A_HOME, Duration::from_secs(5)).await.unwrap();
    assert!(matches!(outcome, PingOutcome::Reply { .. }), "{outcome:?}");
    assert_eq!(lab.switch.lookup(lab.a.mac()), lab.switch.lookup(mac(0x0a)));
    let arp = arp_seen(&mut mirror);
    assert!(
        arp.contains(&(ArpOperation::Request, mac(0x50), HOST, A_HOME)),
        "{arp:?}"
    );
    assert!(
        arp.contains(&(ArpOperation::Reply, mac(0x0a), A_HOME, HOST)),
        "{arp:?}"
    );
    assert!(lab.a.datapath_stats().await.unwrap().arp_passed >= 1);
}

#[tokio::test(start_paused = true)]
async fn tcp_echo_round_trip_and_connection_listing() {
    let lab = lab(false);
    let echo = EchoServer::start(&lab.a, at(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    let stream = lab.host.connect("CLIENT", at(A_HOME, 7)).await.unwrap();
    assert_eq!(stream.foreign, at(A_HOME, 7));
    let (mut reader, mut writer) = stream.split();
    writer
        .send(Bytes::from_static(b"hello sysplex"))
        .await
        .unwrap();
    let Received::Data(back) = reader.recv().await else {
        panic!("no echo")
    };
    assert_eq!(&back[..], b"hello sysplex");
    assert_eq!(echo.stats().connections(), 1);

    let listing = lab.a.connections().await.unwrap();
    let listener = listing
        .iter()
        .find(|c| c.state == ConnState::Tcp(TcpState::Listen))
        .expect("listener listed");
    assert_eq!(
        (listener.owner.as_str(), listener.local),
        ("ECHOSRV", at(Ipv4Addr::UNSPECIFIED, 7))
    );
    let conn = listing
        .iter()
        .find(|c| c.state == ConnState::Tcp(TcpState::Established))
        .expect("connection listed");
    assert_eq!((conn.local, *conn.foreign.ip()), (at(A_HOME, 7), HOST));
    assert_eq!(conn.bytes_in, 13);

    drop(writer);
    assert_eq!(reader.recv().await, Received::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_checksummed_megabyte_arrives_complete() {
    let lab = lab(false);
    let mut sink = SinkServer::start(&lab.b, at(B_HOME, 5001), 42)
        .await
        .unwrap();
    assert_eq!(sink.try_report(), None, "no stream has ended yet");
    let sent = run_source(&lab.host, at(B_HOME, 5001), 42, 1 << 20)
        .await
        .unwrap();
    let received = sink.next_report().await.unwrap();
    assert_eq!(sink.try_report(), None, "one stream, one report");
    assert_eq!((sent.bytes_sent, sent.end), (1 << 20, StreamEnd::Closed));
    assert_eq!(received.bytes_received, 1 << 20);
    assert_eq!(received.bytes_verified, 1 << 20);
    assert_eq!(received.first_mismatch, None);
    assert_eq!(received.checksum, sent.checksum);
    assert_eq!(received.end, StreamEnd::Closed);
}

/// Real time: a stack on its own thread runs on its own runtime, which the test cannot pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_on_its_own_thread_takes_a_checksummed_stream_and_stops_when_told() {
    let switch = EthernetSwitch::new();
    let port = switch.port();
    let config = StackConfig::new("TCPCSB", mac(0x0b), vec![Ipv4Cidr::new(B_HOME, 24)]);
    let (b, thread) = Stack::spawn_on_thread(config, move || {
        assert!(
            tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::CurrentThread,
            "the port opens in the stack's own runtime"
        );
        Ok(port)
    })
    .expect("stack starts");
    assert_eq!(thread.thread().name(), Some("stack-TCPCSB"));
    let host = stack(&switch, "HOST", 0x50, HOST, None);
    let mut sink = SinkServer::start(&b, at(B_HOME, 5001), 42).await.unwrap();
    let sent = run_source(&host, at(B_HOME, 5001), 42, 1 << 20)
        .await
        .unwrap();
    let received = sink.next_report().await.unwrap();
    assert_eq!(received.bytes_verified, 1 << 20);
    assert_eq!(received.checksum, sent.checksum);

    b.shutdown().await;
    let ended = tokio::task::spawn_blocking(move || thread.join())
        .await
        .unwrap();
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the thread ends with the stack"
    );
    assert!(b.connections().await.is_err(), "the stack is gone");
}

#[test]
fn a_stack_whose_lan_port_cannot_open_is_not_started_and_says_why() {
    let config = StackConfig::new("TCPCSB", mac(0x0b), vec![Ipv4Cidr::new(B_HOME, 24)]);
    let refused = Stack::spawn_on_thread(config, || {
        Err::<SwitchPort, _>(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "TUNSETIFF: operation not permitted",
        ))
    })
    .expect_err("no port, no stack");
    assert!(refused.to_string().contains("TUNSETIFF"), "{refused}");
}

#[tokio::test(start_paused = true)]
async fn a_stack_never_answers_arp_for_a_dvipa_it_holds_only_as_target() {
    let lab = lab(false);
    let mut mirror = lab.switch.mirror();
    lab.b.hold_as_target(DVIPA).await.unwrap();
    let outcome = lab.host.ping(DVIPA, Duration::from_secs(3)).await.unwrap();
    assert_eq!(outcome, PingOutcome::Timeout);
    let arp = arp_seen(&mut mirror);
    assert!(
        arp.iter()
            .any(|(op, _, _, target)| *op == ArpOperation::Request && *target == DVIPA)
    );
    assert!(
        !arp.iter()
            .any(|(op, _, sender, _)| *op == ArpOperation::Reply && *sender == DVIPA),
        "{arp:?}"
    );
    assert!(lab.b.datapath_stats().await.unwrap().arp_target_only >= 1);

    // The owner announces it, and answers.
    lab.a.activate_dvipa(DVIPA).await.unwrap();
    let outcome = lab.host.ping(DVIPA, Duration::from_secs(3)).await.unwrap();
    assert!(matches!(outcome, PingOutcome::Reply { .. }), "{outcome:?}");
    assert!(arp_seen(&mut mirror).contains(&(ArpOperation::Request, mac(0x0a), DVIPA, DVIPA)));
}

#[tokio::test(start_paused = true)]
async fn a_dvipa_moved_to_another_stack_is_announced_and_the_host_follows() {
    let lab = lab(false);
    let mut mirror = lab.switch.mirror();
    let echo_a = EchoServer::start(&lab.a, at(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    let echo_b = EchoServer::start(&lab.b, at(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    lab.a.activate_dvipa(DVIPA).await.unwrap();
    assert_eq!(echo_once(&lab.host, at(DVIPA, 7), b"to A").await, b"to A");
    assert_eq!(
        (echo_a.stats().connections(), echo_b.stats().connections()),
        (1, 0)
    );

    assert_eq!(
        lab.a.deactivate_dvipa(DVIPA).await.unwrap(),
        Some(DvipaRole::Advertised)
    );
    arp_seen(&mut mirror);
    lab.b.activate_dvipa(DVIPA).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let garps: Vec<_> = arp_seen(&mut mirror)
        .into_iter()
        .filter(|(op, _, sender, target)| {
            *op == ArpOperation::Request && *sender == DVIPA && *target == DVIPA
        })
        .collect();
    assert_eq!(garps.len(), 3, "one burst of gratuitous ARP at once");
    assert!(
        garps
            .iter()
            .all(|(_, sender_mac, _, _)| *sender_mac == mac(0x0b))
    );

    // The host's neighbour cache followed the announcement: a new connection reaches B at once
    // (without it the host would keep sending to A until its ARP entry expired, and time out).
    assert_eq!(echo_once(&lab.host, at(DVIPA, 7), b"to B").await, b"to B");
    assert_eq!(
        (echo_a.stats().connections(), echo_b.stats().connections()),
        (1, 1)
    );
    assert!(lab.host.datapath_stats().await.unwrap().garp_learned >= 1);

    // The repeats follow.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let repeats = arp_seen(&mut mirror)
        .iter()
        .filter(|(_, _, s, t)| *s == DVIPA && *t == DVIPA)
        .count();
    assert_eq!(repeats, 6);
}

#[tokio::test(start_paused = true)]
async fn releasing_a_dvipa_resets_the_connections_on_it() {
    let lab = lab(false);
    lab.a.activate_dvipa(DVIPA).await.unwrap();
    let mut listener = lab.a.listen("APPL", at(DVIPA, 9), 1).await.unwrap();
    let client = lab.host.connect("CLIENT", at(DVIPA, 9)).await.unwrap();
    let server = listener.accept().await.unwrap();
    assert_eq!(server.foreign, client.local);
    let (mut reader, _writer) = server.split();
    lab.a.deactivate_dvipa(DVIPA).await.unwrap();
    assert_eq!(reader.recv().await, Received::Reset);
}

#[tokio::test(start_paused = true)]
async fn a_second_listener_on_the_same_port_is_refused() {
    let lab = lab(false);
    let _first = lab
        .a
        .listen("APPL", at(Ipv4Addr::UNSPECIFIED, 21), 1)
        .await
        .unwrap();
    let error = lab.a.listen("APPL", at(A_HOME, 21), 1).await.unwrap_err();
    assert!(error.to_string().contains("already in use"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn connecting_to_a_closed_port_is_refused() {
    let lab = lab(false);
    let error = lab
        .host
        .connect("CLIENT", at(A_HOME, 4444))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("refused"), "{error}");
}

/// The distributor's stage as the CRT will drive it: TCP to DVIPA:port goes to one target.
#[derive(Debug)]
struct ForwardPort {
    dvipa: Ipv4Addr,
    port: u16,
    target: Ipv4Addr,
}

impl PacketStage for ForwardPort {
    fn inbound(&mut self, _now: Instant, _origin: Origin, packet: Vec<u8>) -> Verdict {
        let ours = Ipv4Packet::new_checked(&packet[..]).is_ok_and(|ip| {
            ip.dst_addr() == self.dvipa
                && ip.next_header() == IpProtocol::Tcp
                && TcpPacket::new_checked(ip.payload()).is_ok_and(|tcp| tcp.dst_port() == self.port)
        });
        if ours {
            Verdict::ForwardXcf {
                to: self.target,
                packet,
            }
        } else {
            Verdict::Continue(packet)
        }
    }
}

#[tokio::test]
async fn xcf_links_carry_packets_to_a_target_that_accepts_the_dvipa_without_arp() {
    let lab = lab(true);
    let (a_end, b_end) = (lab.a.xcf_endpoint().unwrap(), lab.b.xcf_endpoint().unwrap());
    lab.a.add_xcf_partner(B_XCF, b_end).await.unwrap();
    lab.b.add_xcf_partner(A_XCF, a_end).await.unwrap();
    lab.a.activate_dvipa(DVIPA).await.unwrap();
    lab.b.hold_as_target(DVIPA).await.unwrap();
    let stage = ForwardPort {
        dvipa: DVIPA,
        port: 8000,
        target: B_XCF,
    };
    lab.a
        .install_stage(StageSlot::Distributor, Box::new(stage))
        .await
        .unwrap();
    let echo_b = EchoServer::start(&lab.b, at(DVIPA, 8000)).await.unwrap();

    assert_eq!(
        echo_once(&lab.host, at(DVIPA, 8000), b"via XCF").await,
        b"via XCF"
    );
    assert_eq!(echo_b.stats().connections(), 1);
    let (a, b) = (
        lab.a.datapath_stats().await.unwrap(),
        lab.b.datapath_stats().await.unwrap(),
    );
    assert!(a.xcf_out >= 3, "SYN, ACK and data went over XCF: {a:?}");
    assert!(b.xcf_in >= 3, "{b:?}");
    assert_eq!(b.arp_target_only, 0, "nobody asked B for the DVIPA");
    let conn = lab
        .b
        .connections()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.state != ConnState::Tcp(TcpState::Listen))
        .unwrap();
    assert_eq!(conn.local, at(DVIPA, 8000));
}

#[tokio::test(start_paused = true)]
async fn udp_datagrams_go_both_ways_and_name_the_local_address() {
    let lab = lab(false);
    lab.a.activate_dvipa(DVIPA).await.unwrap();
    let mut ike = lab
        .a
        .udp_bind("IKED", at(Ipv4Addr::UNSPECIFIED, 500))
        .await
        .unwrap();
    let mut peer = lab.host.udp_bind("CHARON", at(HOST, 500)).await.unwrap();
    peer.send_to(Bytes::from_static(b"IKE_SA_INIT"), at(DVIPA, 500))
        .await
        .unwrap();
    let datagram = ike.recv_from().await.unwrap();
    assert_eq!(
        (datagram.from, datagram.to, &datagram.data[..]),
        (at(HOST, 500), Some(DVIPA), &b"IKE_SA_INIT"[..])
    );
    ike.send_to(Bytes::from_static(b"response"), datagram.from)
        .await
        .unwrap();
    let back = peer.recv_from().await.unwrap();
    assert_eq!(&back.data[..], b"response");
    assert!(
        lab.a.udp_bind("IKED", at(DVIPA, 500)).await.is_err(),
        "port 500 is taken on every address"
    );
    let listing = lab.a.connections().await.unwrap();
    let line = listing
        .iter()
        .find(|c| c.state == ConnState::Udp)
        .expect("UDP socket listed");
    let counters = (
        line.owner.as_str(),
        line.local,
        line.bytes_in,
        line.bytes_out,
    );
    assert_eq!(counters, ("IKED", at(Ipv4Addr::UNSPECIFIED, 500), 11, 8));
}

/// A connection from the host to APPL on stack A's port 9: the host's halves, then APPL's.
async fn host_to_appl(lab: &Lab) -> [(TcpReader, TcpWriter); 2] {
    let mut listener = lab.a.listen("APPL", at(A_HOME, 9), 1).await.unwrap();
    let client = lab.host.connect("CLIENT", at(A_HOME, 9)).await.unwrap();
    let accepted = listener.accept().await.unwrap();
    [client.split(), accepted.split()]
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_starts_late_gets_every_byte_and_then_the_fin() {
    let lab = lab(false);
    let [(_client_reader, mut client_writer), (mut reader, writer)] = host_to_appl(&lab).await;
    drop(writer);
    client_writer
        .send(Bytes::from(vec![7u8; 300 * 1024]))
        .await
        .unwrap();
    drop(client_writer);
    // Both sides close; the application reads only 30 s later.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let mut total = 0;
    let end = loop {
        match reader.recv().await {
            Received::Data(data) => total += data.len(),
            end => break end,
        }
    };
    assert_eq!((total, end), (300 * 1024, Received::Closed));
}

#[tokio::test(start_paused = true)]
async fn a_reader_dropped_while_its_queue_is_full_lets_the_stack_discard_the_rest() {
    let lab = lab(false);
    let [(_client_reader, mut client_writer), (reader, _writer)] = host_to_appl(&lab).await;
    // More than the queue to the reader and the window hold: the stack stops and waits.
    client_writer
        .send(Bytes::from(vec![7u8; 1 << 20]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(reader);
    client_writer
        .send(Bytes::from(vec![7u8; 1 << 20]))
        .await
        .unwrap();
    let bytes_in = || async {
        let connections = lab.a.connections().await.unwrap();
        connections
            .iter()
            .find(|c| c.owner == "APPL" && c.local.port() == 9 && c.foreign.port() != 0)
            .map(|c| c.bytes_in)
    };
    for _ in 0..100 {
        if bytes_in().await == Some(2 << 20) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the stack took {:?} of 2 MiB", bytes_in().await);
}

#[tokio::test(start_paused = true)]
async fn a_connection_closed_here_first_leaves_time_wait_after_the_configured_second() {
    let lab = lab(false);
    let _echo = EchoServer::start(&lab.a, at(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    let stream = lab.host.connect("CLIENT", at(A_HOME, 7)).await.unwrap();
    let (mut reader, writer) = stream.split();
    drop(writer);
    assert_eq!(reader.recv().await, Received::Closed);
    let in_time_wait = |listing: Vec<stacks::stack::netstat::ConnectionInfo>| {
        listing
            .iter()
            .any(|c| c.state == ConnState::Tcp(TcpState::TimeWait))
    };
    assert!(in_time_wait(lab.host.connections().await.unwrap()));
    let closed = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        in_time_wait(lab.host.connections().await.unwrap()),
        "TIME_WAIT lasts the configured second"
    );
    while in_time_wait(lab.host.connections().await.unwrap()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        closed.elapsed() < Duration::from_secs(2),
        "still in TIME_WAIT after {:?} (smoltcp alone keeps it 10 s)",
        closed.elapsed()
    );
}

/// A TCP segment seen on the switch: (source, destination, FIN, ACK, RST).
fn tcp_seen(frame: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, bool, bool, bool)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    Some((
        at(ip.src_addr(), tcp.src_port()),
        at(ip.dst_addr(), tcp.dst_port()),
        tcp.fin(),
        tcp.ack(),
        tcp.rst(),
    ))
}

#[tokio::test(start_paused = true)]
async fn a_connection_in_time_wait_acknowledges_a_retransmitted_fin() {
    let lab = lab(false);
    let mut mirror = lab.switch.mirror();
    let _echo = EchoServer::start(&lab.a, at(Ipv4Addr::UNSPECIFIED, 7))
        .await
        .unwrap();
    let stream = lab.host.connect("CLIENT", at(A_HOME, 7)).await.unwrap();
    let client = stream.local;
    let (mut reader, writer) = stream.split();
    drop(writer);
    assert_eq!(reader.recv().await, Received::Closed);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut server_fin = None;
    let mut acked = false;
    while let Some(frame) = mirror.try_recv() {
        match tcp_seen(&frame) {
            Some((from, to, true, _, _)) if (from, to) == (at(A_HOME, 7), client) => {
                server_fin = Some(frame);
            }
            Some((from, to, false, true, false)) if (from, to) == (client, at(A_HOME, 7)) => {
                acked |= server_fin.is_some();
            }
            _ => {}
        }
    }
    let server_fin = server_fin.expect("the server's FIN on the switch");
    assert!(
        acked,
        "the client acknowledged the server's FIN before TIME_WAIT"
    );
    let listing = lab.host.connections().await.unwrap();
    assert!(
        listing
            .iter()
            .any(|c| c.local == client && c.state == ConnState::Tcp(TcpState::TimeWait))
    );

    // The FIN again, as if the client's last ACK had been lost.
    let mut injector = lab.switch.port();
    stacks::lan::LanPort::send(&mut injector, server_fin).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut answers = Vec::new();
    while let Some(frame) = mirror.try_recv() {
        if let Some((from, to, fin, ack, rst)) = tcp_seen(&frame)
            && (from, to) == (client, at(A_HOME, 7))
        {
            answers.push((fin, ack, rst));
        }
    }
    assert_eq!(answers, vec![(false, true, false)], "one ACK, no RST");
    let listing = lab.host.connections().await.unwrap();
    assert!(
        listing
            .iter()
            .any(|c| c.local == client && c.state == ConnState::Tcp(TcpState::TimeWait)),
        "still in TIME_WAIT"
    );
}
