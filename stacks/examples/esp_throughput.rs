//! ESP throughput: encapsulate then decapsulate 1400-octet IPv4 packets (the TUN MTU of
//! strongSwan's kernel-libipsec) through a pair of SAs, one core, and print Gbit/s of inner
//! packets. A command, not a test:
//!
//! ```text
//! cargo run --release -p stacks --example esp_throughput [packets]
//! ```

use std::time::Instant;

use ike::crypto::{AesKeySize, Encryption, EspKeys, EspSuite, Integrity, SecretBytes};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use stacks::esp::{Direction, Lifetime, Mode, SaParameters, SecurityAssociation, Spi};

const PACKET_LEN: u16 = 1400;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let packets: u32 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200_000);
    let suites = [
        (
            "AES-128-GCM-16",
            EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None)?,
        ),
        (
            "AES-256-GCM-16",
            EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes256), None)?,
        ),
        (
            "AES-256-CBC + HMAC-SHA2-256-128",
            EspSuite::new(
                Encryption::AesCbc(AesKeySize::Aes256),
                Some(Integrity::HmacSha2_256_128),
            )?,
        ),
    ];
    let inner = ipv4_packet();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (name, suite) in suites {
        let keys = EspKeys {
            encryption: SecretBytes::new(vec![0x42; suite.encryption.key_material_len()]),
            integrity: SecretBytes::new(vec![0x24; suite.integrity.map_or(0, Integrity::key_len)]),
        };
        let start = Instant::now();
        let sa = |direction| {
            let parameters = SaParameters {
                spi: Spi(0x1000),
                direction,
                mode: Mode::Tunnel,
                suite,
                lifetime: Lifetime::default(),
            };
            SecurityAssociation::new(parameters, &keys, start)
        };
        let (mut outbound, mut inbound) = (sa(Direction::Outbound)?, sa(Direction::Inbound)?);
        for _ in 0..packets {
            let esp = outbound.encapsulate(start, &inner, &mut rng)?;
            let decapsulated = inbound.decapsulate(start, &esp)?;
            std::hint::black_box(decapsulated);
        }
        let seconds = start.elapsed().as_secs_f64();
        let bits = f64::from(packets) * f64::from(PACKET_LEN) * 8.0;
        println!(
            "{name:<32} {packets} x {PACKET_LEN} octets, encapsulate+decapsulate: {:.2} Gbit/s ({:.0} packets/s)",
            bits / seconds / 1e9,
            f64::from(packets) / seconds
        );
    }
    Ok(())
}

/// An IPv4/UDP packet 192.0.2.1 -> 198.51.100.7 of `PACKET_LEN` octets.
fn ipv4_packet() -> Vec<u8> {
    let [total_hi, total_lo] = PACKET_LEN.to_be_bytes();
    let [udp_hi, udp_lo] = (PACKET_LEN - 20).to_be_bytes();
    let mut packet = vec![
        0x45, 0, total_hi, total_lo, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
    ];
    packet.extend_from_slice(&[0x30, 0x39, 0x00, 0x09, udp_hi, udp_lo, 0, 0]);
    packet.resize(usize::from(PACKET_LEN), 0x5a);
    packet
}
