//! IPSec through the stack on the in-memory LAN, no privileges: our stack (TCPCS, IKE
//! responder) and a remote host (a stack too, with its own IKE daemon as initiator). IKE
//! establishes over UDP 500/4500 with NAT-T forced (as with strongSwan's kernel-libipsec), a
//! checksummed TCP stream crosses ESP-in-UDP with a CHILD rekey midway, clear traffic the
//! policy protects is dropped and counted, hostile ESP and IKE are dropped while the SAs carry
//! on, and a DELETE removes the SAs on both sides. Paused tokio time: the LAN is in memory.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use ike::crypto::{EspKeys, SecretBytes};
use ike::daemon::shell::DaemonState;
use ike::daemon::{DaemonInput, IkeDaemon, Peer, ProposalFamily};
use ike::sa::Mode;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use smoltcp::wire::{EthernetFrame, EthernetProtocol, Ipv4Cidr, Ipv4Packet, UdpPacket};
use stacks::apps::stream::{SinkServer, StreamEnd, run_source};
use stacks::esp::{Direction, SaParameters, SecurityAssociation, Spi};
use stacks::ipsec::{IpsecOptions, IpsecService, display};
use stacks::lan::LanPort;
use stacks::lan::switch::{EthernetSwitch, Mirror};
use stacks::profile::IpSecRule;
use stacks::stack::ping::PingOutcome;
use stacks::stack::{Stack, StackConfig, StackHandle};

const ZOS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
const HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 50);
const SINK_PORT: u16 = 5001;
const STREAM_BYTES: u64 = 4 << 20;

fn mac(last: u8) -> smoltcp::wire::EthernetAddress {
    smoltcp::wire::EthernetAddress([0x02, 0x00, 0x5e, 0x00, 0x00, last])
}

fn stack(switch: &EthernetSwitch, name: &str, last: u8, home: Ipv4Addr) -> StackHandle {
    let mut config = StackConfig::new(name, mac(last), vec![Ipv4Cidr::new(home, 24)]);
    config.seed = u64::from(last);
    // Room for the ESP-in-UDP overhead inside a 1500-octet LAN, as libipsec's TUN MTU.
    config.ip_mtu = 1400;
    let (handle, _task) = Stack::spawn(config, Box::new(switch.port())).expect("stack starts");
    handle
}

fn peer(local: Ipv4Addr, remote: Ipv4Addr, autoactivate: bool) -> Peer {
    let mut peer = Peer::host_to_host(
        local,
        remote,
        b"zsysplex-ipsec-lab",
        ProposalFamily::AesGcm16X25519,
    );
    peer.autoactivate = autoactivate;
    peer
}

struct Lab {
    switch: EthernetSwitch,
    zos: StackHandle,
    host: StackHandle,
    zos_ipsec: IpsecService,
    host_ipsec: Option<IpsecService>,
}

fn up(state: &DaemonState) -> bool {
    state
        .ike_tunnels
        .iter()
        .any(|t| t.established && !t.dynamic_tunnels.is_empty())
}

/// Our stack with IPSec; the host with IPSec too when `host_ipsec`, else a plain host.
async fn lab(host_ipsec: bool) -> Lab {
    lab_with(host_ipsec, |_| {}).await
}

/// [`lab_with`], our stack writing its keys for Wireshark into `keys`.
async fn lab_with(host_ipsec: bool, tweak: fn(&mut Peer)) -> Lab {
    lab_exporting(host_ipsec, tweak, None).await
}

/// [`lab`] with both peers' configurations changed by `tweak`, our stack exporting its keys
/// for Wireshark into `keys` when given.
async fn lab_exporting(host_ipsec: bool, tweak: fn(&mut Peer), keys: Option<PathBuf>) -> Lab {
    let tweaked = |mut peer: Peer| {
        tweak(&mut peer);
        peer
    };
    let switch = EthernetSwitch::new();
    let zos = stack(&switch, "TCPCS", 0x0b, ZOS);
    let host = stack(&switch, "HOST", 0x50, HOST);
    let zos_daemon = IkeDaemon::new(
        vec![tweaked(peer(ZOS, HOST, false))],
        ChaCha20Rng::seed_from_u64(11),
    );
    let options = IpsecOptions {
        seed: 11,
        wireshark_keys: keys,
    };
    let zos_ipsec =
        IpsecService::start_with(&zos, vec![IpSecRule::permit_all()], zos_daemon, options)
            .await
            .expect("IPSec starts on TCPCS");
    let host_ipsec = if host_ipsec {
        let daemon = IkeDaemon::new(
            vec![tweaked(peer(HOST, ZOS, true))],
            ChaCha20Rng::seed_from_u64(50),
        );
        Some(
            IpsecService::start(&host, vec![IpSecRule::permit_all()], daemon, 50)
                .await
                .expect("IPSec starts on the host"),
        )
    } else {
        None
    };
    Lab {
        switch,
        zos,
        host,
        zos_ipsec,
        host_ipsec,
    }
}

impl Lab {
    async fn established(&mut self) {
        let host = self.host_ipsec.as_mut().expect("host runs IPSec");
        host.wait_for(up).await;
        self.zos_ipsec.wait_for(up).await;
        let ping = self.host.ping(ZOS, Duration::from_secs(2)).await;
        assert!(matches!(ping, Ok(PingOutcome::Reply { .. })), "{ping:?}");
    }

    fn host_ipsec(&self) -> &IpsecService {
        self.host_ipsec.as_ref().expect("host runs IPSec")
    }
}

fn drops(service: &IpsecService, reason: &str) -> u64 {
    service
        .state()
        .counters
        .drops
        .get(reason)
        .copied()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn a_checksummed_stream_crosses_esp_with_a_child_rekey_midway() {
    let mut lab = lab(true).await;
    lab.established().await;
    let mut sink = SinkServer::start(&lab.zos, SocketAddrV4::new(ZOS, SINK_PORT), 7)
        .await
        .expect("sink starts");
    let host = lab.host.clone();
    let source = tokio::spawn(async move {
        run_source(&host, SocketAddrV4::new(ZOS, SINK_PORT), 7, STREAM_BYTES).await
    });
    // Rekey the CHILD SA from the host once a good part of the stream went through ESP.
    // Yield, not sleep: paused time does not advance while the stream keeps the runtime busy.
    let mut turns = 0u32;
    while lab.zos_ipsec.state().counters.esp_in < 300 {
        turns += 1;
        assert!(
            turns < 10_000_000,
            "the stream stalled: {:?}",
            lab.zos_ipsec.state().counters
        );
        tokio::task::yield_now().await;
    }
    let spi = lab.host_ipsec().state().sad.children()[0].inbound_spi;
    lab.host_ipsec()
        .command(DaemonInput::RekeyChild(spi))
        .await
        .expect("daemon runs");
    let sent = source.await.expect("source task").expect("source connects");
    let received = sink.next_report().await.expect("sink report");
    assert_eq!(sent.bytes_sent, STREAM_BYTES);
    assert_eq!(received.bytes_received, STREAM_BYTES);
    assert_eq!(received.bytes_verified, STREAM_BYTES);
    assert_eq!(received.first_mismatch, None);
    assert_eq!(received.checksum, sent.checksum);
    assert_eq!(received.end, StreamEnd::Closed);

    // The old pair goes with the DELETE that follows the rekey.
    while !lab
        .zos_ipsec
        .state()
        .sad
        .children()
        .iter()
        .all(|c| c.tunnel.generation == 2)
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let zos = lab.zos_ipsec.state();
    let children = zos.sad.children();
    assert_eq!(children.len(), 1, "the rekeyed pair replaced the first");
    assert_eq!(
        (children[0].tunnel.id, children[0].tunnel.generation),
        (1, 2)
    );
    let counters = zos.sad.counters(children[0].inbound_spi);
    assert!(
        counters.inbound_packets > 0,
        "the stream went on on the new SA"
    );
    assert!(
        zos.counters.esp_in > 3000 && zos.counters.esp_out > 100,
        "{:?}",
        zos.counters
    );
    assert_eq!(
        zos.counters.drops.get("clear traffic that policy protects"),
        None
    );
}

/// Establishes with `tweak` applied, pings through, and checks what travelled on the LAN.
async fn ping_through(tweak: fn(&mut Peer)) -> (bool, bool) {
    let mut lab = lab_with(true, tweak).await;
    let mut mirror = lab.switch.mirror();
    lab.established().await;
    let (mut raw_esp, mut udp_esp) = (false, false);
    while let Some(frame) = mirror.try_recv() {
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            continue;
        };
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            continue;
        };
        match ip.next_header() {
            smoltcp::wire::IpProtocol::IpSecEsp => raw_esp = true,
            smoltcp::wire::IpProtocol::Udp => {
                let udp = UdpPacket::new_checked(ip.payload()).expect("UDP");
                udp_esp |= udp.dst_port() == 4500 && !udp.payload().starts_with(&[0, 0, 0, 0]);
            }
            smoltcp::wire::IpProtocol::Icmp => panic!("an ICMP echo crossed the LAN in clear"),
            _ => {}
        }
    }
    assert_eq!(lab.zos_ipsec.state().counters.esp_in, 1);
    (raw_esp, udp_esp)
}

#[tokio::test(start_paused = true)]
async fn without_nat_t_esp_travels_as_ip_protocol_50() {
    let (raw, udp) = ping_through(|p| p.config.force_udp_encapsulation = false).await;
    assert!(raw && !udp, "raw ESP {raw}, ESP in UDP {udp}");
}

#[tokio::test(start_paused = true)]
async fn transport_mode_carries_the_ping_in_udp_encapsulated_esp() {
    let (raw, udp) = ping_through(|p| p.config.mode = Mode::Transport).await;
    assert!(udp && !raw, "raw ESP {raw}, ESP in UDP {udp}");
}

#[tokio::test(start_paused = true)]
async fn clear_traffic_that_policy_protects_is_dropped_and_counted() {
    let lab = lab(false).await;
    let ping = lab.host.ping(ZOS, Duration::from_secs(1)).await;
    assert!(matches!(ping, Ok(PingOutcome::Timeout)), "{ping:?}");
    assert_eq!(
        drops(&lab.zos_ipsec, "clear traffic that policy protects"),
        1
    );
    let stats = lab.zos.datapath_stats().await.expect("stack runs");
    assert_eq!(
        stats.stage_drops.get("clear traffic that policy protects"),
        Some(&1)
    );
}

/// The first UDP-encapsulated ESP frame the host sent to our stack.
async fn captured_esp(mirror: &mut Mirror) -> Vec<u8> {
    loop {
        let frame = mirror.recv().await.expect("switch runs");
        let Ok(eth) = EthernetFrame::new_checked(&frame[..]) else {
            continue;
        };
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            continue;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            continue;
        };
        if ip.src_addr() != HOST || ip.next_header() != smoltcp::wire::IpProtocol::Udp {
            continue;
        }
        let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
            continue;
        };
        if udp.dst_port() == 4500 && !udp.payload().starts_with(&[0, 0, 0, 0]) {
            return frame.to_vec();
        }
    }
}

/// `frame` with its UDP payload replaced by `edit` of it (lengths and checksums fixed).
fn edited(frame: &[u8], edit: impl Fn(&mut Vec<u8>)) -> Bytes {
    let eth = EthernetFrame::new_checked(frame).expect("frame");
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("IPv4");
    let udp = UdpPacket::new_checked(ip.payload()).expect("UDP");
    let mut payload = udp.payload().to_vec();
    edit(&mut payload);
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut out = frame[..14 + 20].to_vec();
    out.extend_from_slice(&4500u16.to_be_bytes());
    out.extend_from_slice(&4500u16.to_be_bytes());
    out.extend_from_slice(&u16::try_from(udp_len).expect("fits").to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&payload);
    let mut ip = Ipv4Packet::new_unchecked(&mut out[14..]);
    ip.set_total_len(u16::try_from(ip_len).expect("fits"));
    ip.fill_checksum();
    Bytes::from(out)
}

#[tokio::test(start_paused = true)]
async fn hostile_esp_and_ike_are_dropped_while_the_sas_carry_on() {
    let mut lab = lab(true).await;
    let mut mirror = lab.switch.mirror();
    lab.established().await;
    let esp = captured_esp(&mut mirror).await;
    let dropped_before = lab.zos_ipsec.daemon_state().stats.datagrams_dropped;
    let mut attacker = lab.switch.port();
    // A replay of a packet already accepted.
    attacker.send(Bytes::from(esp.clone())).expect("sent");
    // A flipped bit in the ciphertext: the ICV fails.
    attacker
        .send(edited(&esp, |p| {
            // A sequence number above the window, so the replay check lets it through.
            p[4..8].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
            let last = p.len() - 20;
            p[last] ^= 1;
        }))
        .expect("sent");
    // An SPI nobody installed.
    attacker
        .send(edited(&esp, |p| {
            p[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef])
        }))
        .expect("sent");
    // A truncated IKE message (non-ESP marker, then half a header).
    attacker
        .send(edited(&esp, |p| {
            p.truncate(16);
            p[..4].copy_from_slice(&[0, 0, 0, 0]);
        }))
        .expect("sent");
    let ping = lab.host.ping(ZOS, Duration::from_secs(2)).await;
    assert!(matches!(ping, Ok(PingOutcome::Reply { .. })), "{ping:?}");
    assert_eq!(drops(&lab.zos_ipsec, "ESP: replayed"), 1);
    assert_eq!(drops(&lab.zos_ipsec, "ESP: bad ICV"), 1);
    assert_eq!(drops(&lab.zos_ipsec, "ESP: unknown SPI"), 1);
    let daemon = lab
        .zos_ipsec
        .wait_for(|s| s.stats.datagrams_dropped > dropped_before)
        .await;
    assert_eq!(
        daemon.stats.datagrams_dropped,
        dropped_before + 1,
        "the truncated IKE message: {:?} {:?}",
        daemon.stats,
        lab.zos_ipsec.state().counters
    );
    assert!(daemon.ike_tunnels[0].established);
}

#[tokio::test(start_paused = true)]
async fn a_delete_removes_the_sas_on_both_sides_and_clear_traffic_is_refused_again() {
    let mut lab = lab(true).await;
    lab.established().await;
    lab.host_ipsec()
        .command(DaemonInput::DeleteIkeTunnel(1))
        .await
        .expect("daemon runs");
    lab.zos_ipsec.wait_for(|s| s.ike_tunnels.is_empty()).await;
    lab.host_ipsec
        .as_mut()
        .expect("host runs IPSec")
        .wait_for(|s| s.ike_tunnels.is_empty())
        .await;
    let ping = lab.host.ping(ZOS, Duration::from_secs(1)).await;
    assert!(matches!(ping, Ok(PingOutcome::Timeout)), "{ping:?}");
    assert!(lab.zos_ipsec.state().sad.children().is_empty());
    assert!(lab.host_ipsec().state().sad.children().is_empty());
    assert_eq!(
        drops(lab.host_ipsec(), "no SA for traffic that policy protects"),
        1,
        "the host refuses to send in clear what its policy protects"
    );
}

/// The octets of a `0x...` key field of an `esp_sa` line.
fn key_field(field: &str) -> SecretBytes {
    let hex = field.trim_matches('"').trim_start_matches("0x");
    let octets = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex key"))
        .collect();
    SecretBytes::new(octets)
}

#[tokio::test(start_paused = true)]
async fn the_keys_exported_for_wireshark_decrypt_the_esp_on_the_lan() {
    let dir = std::env::temp_dir().join(format!("ipsec-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("key directory");
    let mut lab = lab_exporting(true, |_| {}, Some(dir.clone())).await;
    let mut mirror = lab.switch.mirror();
    lab.established().await;
    let frame = captured_esp(&mut mirror).await;
    let eth = EthernetFrame::new_checked(&frame[..]).expect("frame");
    let ip = Ipv4Packet::new_checked(eth.payload()).expect("IPv4");
    let esp = UdpPacket::new_checked(ip.payload())
        .expect("UDP")
        .payload()
        .to_vec();
    let spi = format!("\"0x{}\"", hex_spi(&esp));
    let table = std::fs::read_to_string(dir.join(ike::daemon::ESP_TABLE)).expect("esp_sa");
    let ikev2 = std::fs::read_to_string(dir.join(ike::daemon::IKEV2_TABLE)).expect("ikev2");
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(ikev2.lines().count(), 1, "{ikev2}");
    let fields: Vec<&str> = table
        .lines()
        .find(|line| line.split(',').nth(3) == Some(spi.as_str()))
        .expect("a line for the captured SPI")
        .split(',')
        .collect();
    assert_eq!(
        &fields[..3],
        ["\"IPv4\"", "\"192.0.2.50\"", "\"192.0.2.11\""]
    );
    assert_eq!(fields[4], "\"AES-GCM with 16 octet ICV [RFC4106]\"");
    let suite = ProposalFamily::AesGcm16X25519.esp_suite();
    let parameters = SaParameters {
        spi: Spi(u32::from_be_bytes(esp[..4].try_into().expect("SPI"))),
        direction: Direction::Inbound,
        mode: stacks::esp::Mode::Tunnel,
        suite,
        lifetime: stacks::esp::Lifetime::default(),
    };
    let keys = EspKeys {
        encryption: key_field(fields[5]),
        integrity: SecretBytes::new(Vec::new()),
    };
    let now = std::time::Instant::now();
    let mut sa = SecurityAssociation::new(parameters, &keys, now).expect("SA from the file");
    let inner = sa
        .decapsulate(now, &esp)
        .expect("decrypted with the exported key");
    let inner = Ipv4Packet::new_checked(&inner.payload[..]).expect("inner IPv4");
    assert_eq!((inner.src_addr(), inner.dst_addr()), (HOST, ZOS));
}

fn hex_spi(esp: &[u8]) -> String {
    esp[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares a display with its golden file in fixtures/displays/ipsec (rewritten when
/// UPDATE_GOLDEN is set).
fn golden(name: &str, actual: &str) {
    let path = format!(
        "{}/../fixtures/displays/ipsec/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(format!(
            "{}/../fixtures/displays/ipsec",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixtures directory");
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("golden file exists");
    assert_eq!(actual, expected, "{path} differs");
}

#[tokio::test(start_paused = true)]
async fn ipsec_displays_show_the_tunnels_and_filters_in_the_zos_layout() {
    let mut lab = lab(true).await;
    lab.established().await;
    let heading = display::Heading {
        stack: "TCPCS".into(),
        time: "Sun Nov 22 08:00:00 2026".into(),
        dvipsec: false,
    };
    let ike = lab.zos_ipsec.daemon_state().ike_tunnels;
    let state = lab.zos_ipsec.state();
    let children: Vec<_> = state
        .sad
        .children()
        .iter()
        .map(|c| (c.clone(), state.sad.counters(c.inbound_spi)))
        .collect();
    golden(
        "tcpcs-y.txt",
        &display::dynamic_tunnels(&heading, &children, &ike),
    );
    golden("tcpcs-k.txt", &display::ike_tunnels(&heading, &ike));
    golden(
        "tcpcs-f.txt",
        &display::filters(&heading, &state.spd, state.sad.children()),
    );
}
