//! IKE SA responder: whatever datagrams arrive, in whatever order and at whatever times, the
//! state machine returns errors or actions and never panics. Input: a sequence of records
//! `[flags, len_hi, len_lo, bytes...]`; the first record opens the SA with `IkeSa::respond`,
//! the others go to `handle_datagram` (flags bit 0: to port 4500) or, with bit 1, fire the timer.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use ike::crypto::ids::DhGroup;
use ike::crypto::{AesKeySize, Encryption, EspSuite, IkeSuite, Prf, SecretBytes};
use ike::sa::{IkeSa, IkeSaConfig, Mode, RetransmitPolicy};
use ike::wire::{Identity, Ipv4Range};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn config() -> Option<IkeSaConfig> {
    let gcm = Encryption::AesGcm16(AesKeySize::Aes128);
    let any = |a: Ipv4Addr| Ipv4Range {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: a,
        end_addr: a,
    };
    Some(IkeSaConfig {
        local_id: Identity::Ipv4(US),
        remote_id: Identity::Ipv4(PEER),
        psk: SecretBytes::new(b"fuzz".to_vec()),
        ike_suites: vec![IkeSuite::new(gcm, None, Prf::HmacSha2_256, DhGroup::CURVE25519).ok()?],
        esp_suites: vec![EspSuite::new(gcm, None).ok()?],
        // PFS, so that the KE payloads of CREATE_CHILD_SA are parsed and used too.
        pfs: DhGroup::CURVE25519,
        local_ts: any(US),
        remote_ts: any(PEER),
        mode: Mode::Tunnel,
        force_udp_encapsulation: true,
        initial_contact: false,
        retransmit: RetransmitPolicy::STRONGSWAN,
        dpd_interval: Some(Duration::from_secs(30)),
        child_lifetime: Duration::from_secs(3600),
        child_rekey_time: Some(Duration::from_secs(600)),
        ike_rekey_time: Some(Duration::from_secs(3000)),
    })
}

fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&[flags, hi, lo], rest) = data.split_first_chunk::<3>()?;
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
        let (record, rest) = rest.split_at(len);
        data = rest;
        Some((flags, record))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(config) = config() else { return };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut now = Instant::now();
    let mut records = records(data);
    let Some((_, first)) = records.next() else {
        return;
    };
    let (peer, us) = (SocketAddrV4::new(PEER, 500), SocketAddrV4::new(US, 500));
    let Ok(mut sa) = IkeSa::respond(config, now, &mut rng, peer, us, first) else {
        return;
    };
    let _ = sa.drain_actions();
    for (flags, bytes) in records {
        now += Duration::from_secs(u64::from(flags >> 2));
        if flags & 2 != 0 {
            let _ = sa.handle_timeout(now, &mut rng);
        } else {
            let port = if flags & 1 != 0 { 4500 } else { 500 };
            let (peer, us) = (SocketAddrV4::new(PEER, port), SocketAddrV4::new(US, port));
            let _ = sa.handle_datagram(now, &mut rng, peer, us, bytes);
        }
        let _ = sa.drain_actions();
        let _ = sa.poll_timeout();
    }
});
