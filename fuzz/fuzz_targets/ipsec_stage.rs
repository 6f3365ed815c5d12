//! Fuzzes the IPSec security stage with one installed CHILD SA (AES-GCM, SPI 0x100, UDP
//! encapsulation): the first octet picks inbound or outbound, the rest is the IPv4 packet.
//! Flow extraction, UDP 4500 demultiplexing, ESP lookup and decryption, the selector check and
//! the SPD must never panic.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ike::crypto::{AesKeySize, Encryption, EspKeys, EspSuite, SecretBytes};
use ike::daemon::{ActivationMethod, DynamicTunnel};
use ike::sa::{ChildSaInstall, Mode};
use ike::wire::Ipv4Range;
use libfuzzer_sys::fuzz_target;
use stacks::datapath::stage::{Origin, PacketStage};
use stacks::ipsec::{IpsecStage, IpsecState, SadChange, Spd};


fuzz_target!(|data: &[u8]| {
    let Some((&way, packet)) = data.split_first() else {
        return;
    };
    let Ok(suite) = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None) else {
        return;
    };
    let keys = || EspKeys {
        encryption: SecretBytes::new(vec![0x42; suite.encryption.key_material_len()]),
        integrity: SecretBytes::new(Vec::new()),
    };
    let (us, peer) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    let install = ChildSaInstall {
        inbound_spi: 0x100,
        outbound_spi: 0x200,
        suite,
        inbound_keys: keys(),
        outbound_keys: keys(),
        mode: Mode::Tunnel,
        local_ts: Ipv4Range::host(us),
        remote_ts: Ipv4Range::host(peer),
        local: SocketAddrV4::new(us, 4500),
        remote: SocketAddrV4::new(peer, 4500),
        udp_encapsulation: true,
        lifetime: Duration::from_secs(3600),
        replaces: None,
    };
    let tunnel = DynamicTunnel {
        id: 1,
        generation: 1,
        ike_tunnel: 1,
        activation: ActivationMethod::Remote,
    };
    let mut state = IpsecState::new(Spd::default());
    state.apply(
        std::time::Instant::now(),
        SadChange::Install(tunnel, Box::new(install)),
    );
    let mut stage = IpsecStage::new(Arc::new(Mutex::new(state)), 1);
    let now = smoltcp::time::Instant::ZERO;
    if way & 1 == 0 {
        let _ = stage.inbound(now, Origin::Lan, packet.to_vec());
    } else {
        let _ = stage.outbound(now, packet.to_vec());
    }
});
