//! Fuzzes the ESP parser and inbound transform: header view, SPI check, replay window, ICV,
//! trailer. The first octet picks the suite; the rest is the ESP packet. Nothing may panic.
#![no_main]

use std::time::Instant;

use ike::crypto::{AesKeySize, Encryption, EspKeys, EspSuite, Integrity, SecretBytes};
use libfuzzer_sys::fuzz_target;
use stacks::esp::{Direction, EspPacket, Lifetime, Mode, SaParameters, SecurityAssociation, Spi};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, esp)) = data.split_first() else {
        return;
    };
    let suite = if selector & 1 == 0 {
        EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None)
    } else {
        EspSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
        )
    };
    let Ok(suite) = suite else {
        return;
    };
    let keys = EspKeys {
        encryption: SecretBytes::new(vec![0x42; suite.encryption.key_material_len()]),
        integrity: SecretBytes::new(vec![0x24; suite.integrity.map_or(0, Integrity::key_len)]),
    };
    let parameters = SaParameters {
        spi: Spi(0x100),
        direction: Direction::Inbound,
        mode: if selector & 2 == 0 {
            Mode::Tunnel
        } else {
            Mode::Transport
        },
        suite,
        lifetime: Lifetime::default(),
    };
    let Ok(mut sa) = SecurityAssociation::new(parameters, &keys, Instant::now()) else {
        return;
    };
    if let Ok(packet) = EspPacket::new_checked(esp) {
        let _ = packet.to_string();
    }
    let _ = sa.decapsulate(Instant::now(), esp);
});
