//! One ESP security association and its packet transform (RFC 4303): sequence numbers,
//! padding and trailer, encryption and ICV, the replay window and the lifetime.
//!
//! ```text
//! | SPI | Seq | IV | payload | padding 1,2,3.. | pad len | next hdr | ICV |
//!              |<------------- encrypted ------------------------>|
//! |<------------------------ authenticated ---------------------->|
//! ```

use std::time::{Duration, Instant};

use ike::crypto::{EspKeys, EspSuite, PacketCipher};
use rand::{CryptoRng, RngCore};

use super::error::EspError;
use super::lifetime::{Lifetime, LifetimeStatus};
use super::packet::{ESP_HEADER_LEN, EspPacket, Spi};
use super::replay::ReplayWindow;

/// IP protocol number of IPv4 (the next header of a tunnel-mode payload).
pub const IPPROTO_IPIP: u8 = 4;
/// "No Next Header": a dummy packet, to be dropped (RFC 4303 §2.6).
pub const IPPROTO_NONE: u8 = 59;
/// ESP payloads end on a 4-octet boundary whatever the cipher (RFC 4303 §2.4).
const ESP_ALIGNMENT: usize = 4;
/// Pad length and next header octets.
const TRAILER_LEN: usize = 2;
/// Octets of an IPv4 header without options.
const IPV4_MIN_HEADER_LEN: usize = 20;

/// Which way an SA carries traffic, seen from this stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received and decapsulated here.
    Inbound,
    /// Encapsulated and sent from here.
    Outbound,
}

/// ESP mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The whole inner IPv4 packet is protected (next header 4).
    Tunnel,
    /// Only the IPv4 payload is protected; the outer header keeps the addresses.
    Transport,
}

/// What an SA is: everything but its keys and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaParameters {
    /// The SPI (chosen by the receiving side).
    pub spi: Spi,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Cipher and integrity algorithm.
    pub suite: EspSuite,
    /// Soft and hard limits.
    pub lifetime: Lifetime,
}

/// A decapsulated packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decapsulated {
    /// Its ESP sequence number.
    pub sequence_number: u32,
    /// The Next Header field: 4 for a tunnel-mode IPv4 packet, the transport protocol in
    /// transport mode, 59 for a dummy packet to drop.
    pub next_header: u8,
    /// The protected data: the inner IPv4 packet (tunnel) or IPv4 payload (transport).
    pub payload: Vec<u8>,
}

/// One direction of a CHILD SA, with its keys, counters and replay window.
#[derive(Debug)]
pub struct SecurityAssociation {
    parameters: SaParameters,
    cipher: PacketCipher,
    installed_at: Instant,
    /// Outbound: the next sequence number to send (1 first). Above `u32::MAX` means spent.
    next_sequence: u64,
    /// Inbound: what has been received.
    replay: ReplayWindow,
    /// Payload octets protected or accepted so far.
    bytes: u64,
    /// Packets protected or accepted so far.
    packets: u64,
}

impl SecurityAssociation {
    /// Installs an SA at `now` with the keys of its direction.
    ///
    /// # Errors
    /// [`EspError::Crypto`] when the keys do not fit the suite.
    pub fn new(parameters: SaParameters, keys: &EspKeys, now: Instant) -> Result<Self, EspError> {
        let cipher = PacketCipher::new(
            parameters.suite.encryption,
            parameters.suite.integrity,
            keys.encryption.as_bytes(),
            keys.integrity.as_bytes(),
        )?;
        Ok(Self {
            parameters,
            cipher,
            installed_at: now,
            next_sequence: 1,
            replay: ReplayWindow::new(),
            bytes: 0,
            packets: 0,
        })
    }

    /// Its parameters.
    pub fn parameters(&self) -> &SaParameters {
        &self.parameters
    }

    /// The SPI.
    pub fn spi(&self) -> Spi {
        self.parameters.spi
    }

    /// Payload octets protected or accepted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Packets protected or accepted.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The highest sequence number sent (outbound) or accepted (inbound), 0 before any.
    pub fn last_sequence_number(&self) -> u32 {
        match self.parameters.direction {
            Direction::Outbound => u32::try_from(self.next_sequence - 1).unwrap_or(u32::MAX),
            Direction::Inbound => self.replay.highest(),
        }
    }

    /// Moves the outbound counter forward so the next packet carries `next` (a takeover that
    /// restores an SA must not reuse numbers the peer has seen). Never moves it back.
    pub fn advance_sequence_number(&mut self, next: u32) {
        self.next_sequence = self.next_sequence.max(u64::from(next));
    }

    /// Where the SA stands against its lifetime at `now`.
    pub fn lifetime_status(&self, now: Instant) -> LifetimeStatus {
        let age = now
            .checked_duration_since(self.installed_at)
            .unwrap_or(Duration::ZERO);
        self.parameters.lifetime.status(age, self.bytes)
    }

    /// Protects an IPv4 packet: returns the ESP packet (header to ICV) that follows the outer
    /// IPv4 header, or the UDP header on port 4500. In tunnel mode `inner` is carried whole; in
    /// transport mode only its payload is, and the caller keeps its header for the outer one.
    /// AES-CBC IVs come from `rng`; AES-GCM IVs are the sequence number (RFC 4106 §3.1).
    ///
    /// # Errors
    /// [`EspError::WrongDirection`], [`EspError::Expired`], [`EspError::SequenceExhausted`],
    /// [`EspError::NotIpv4`] for input that is not an IPv4 packet.
    pub fn encapsulate<R: RngCore + CryptoRng>(
        &mut self,
        now: Instant,
        inner: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, EspError> {
        let spi = self.spi();
        if self.parameters.direction != Direction::Outbound {
            return Err(EspError::WrongDirection(spi));
        }
        if self.lifetime_status(now) == LifetimeStatus::Hard {
            return Err(EspError::Expired(spi));
        }
        let sequence =
            u32::try_from(self.next_sequence).map_err(|_| EspError::SequenceExhausted(spi))?;
        let (payload, next_header) = match self.parameters.mode {
            Mode::Tunnel => (ipv4_packet(inner)?, IPPROTO_IPIP),
            Mode::Transport => ipv4_payload(inner)?,
        };

        let iv_len = self.cipher.iv_len();
        let alignment = self.cipher.block_len().max(ESP_ALIGNMENT);
        let padding = (alignment - (payload.len() + TRAILER_LEN) % alignment) % alignment;
        let body_len = iv_len + payload.len() + padding + TRAILER_LEN;
        let mut packet = Vec::with_capacity(ESP_HEADER_LEN + body_len + self.cipher.icv_len());
        packet.extend_from_slice(&spi.0.to_be_bytes());
        packet.extend_from_slice(&sequence.to_be_bytes());
        if self.cipher.is_aead() {
            packet.extend_from_slice(&u64::from(sequence).to_be_bytes());
        } else {
            packet.resize(ESP_HEADER_LEN + iv_len, 0);
            rng.fill_bytes(&mut packet[ESP_HEADER_LEN..]);
        }
        packet.extend_from_slice(payload);
        // Monotonic padding 1, 2, 3, ... (RFC 4303 §2.4); `padding` < 16 so the casts are exact.
        packet.extend((1..=padding).map(|n| u8::try_from(n).unwrap_or(u8::MAX)));
        packet.push(u8::try_from(padding).unwrap_or(u8::MAX));
        packet.push(next_header);
        self.cipher.seal(&mut packet, ESP_HEADER_LEN)?;

        self.next_sequence += 1;
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(payload.len()).unwrap_or(u64::MAX));
        self.packets += 1;
        Ok(packet)
    }

    /// Checks and decrypts an ESP packet (from the SPI to the ICV): SPI, replay window, ICV,
    /// trailer, in that order; the window moves only for authenticated packets.
    ///
    /// # Errors
    /// [`EspError::Truncated`], [`EspError::UnknownSpi`] (another SA's packet),
    /// [`EspError::Replay`], [`EspError::BadIcv`], [`EspError::BadTrailer`],
    /// [`EspError::Expired`], [`EspError::WrongDirection`].
    pub fn decapsulate(&mut self, now: Instant, esp: &[u8]) -> Result<Decapsulated, EspError> {
        let spi = self.spi();
        if self.parameters.direction != Direction::Inbound {
            return Err(EspError::WrongDirection(spi));
        }
        let header = EspPacket::new_checked(esp)?;
        if header.spi() != spi {
            return Err(EspError::UnknownSpi(header.spi()));
        }
        if self.lifetime_status(now) == LifetimeStatus::Hard {
            return Err(EspError::Expired(spi));
        }
        let sequence_number = header.sequence_number();
        self.replay.check(sequence_number)?;

        let mut packet = esp.to_vec();
        let plaintext = self.cipher.open(&mut packet, ESP_HEADER_LEN)?;
        let (payload, next_header) = strip_trailer(plaintext)?;
        self.replay.accept(sequence_number)?;
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(payload.len()).unwrap_or(u64::MAX));
        self.packets += 1;
        Ok(Decapsulated {
            sequence_number,
            next_header,
            payload: payload.to_vec(),
        })
    }
}

/// Splits decrypted ESP plaintext into payload and next header, checking the padding.
fn strip_trailer(plaintext: &[u8]) -> Result<(&[u8], u8), EspError> {
    let [rest @ .., pad_len, next_header] = plaintext else {
        return Err(EspError::BadTrailer);
    };
    let payload_len = rest
        .len()
        .checked_sub(usize::from(*pad_len))
        .ok_or(EspError::BadTrailer)?;
    let (payload, padding) = rest.split_at(payload_len);
    let monotonic = padding
        .iter()
        .zip(1u8..)
        .all(|(&byte, expected)| byte == expected);
    if !monotonic {
        return Err(EspError::BadTrailer);
    }
    Ok((payload, *next_header))
}

/// The whole packet, after checking it is IPv4 with a consistent header.
fn ipv4_packet(packet: &[u8]) -> Result<&[u8], EspError> {
    ipv4_header_len(packet).map(|_| packet)
}

/// The payload and protocol of an IPv4 packet (up to its Total Length).
fn ipv4_payload(packet: &[u8]) -> Result<(&[u8], u8), EspError> {
    let header_len = ipv4_header_len(packet)?;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let payload = packet.get(header_len..total).ok_or(EspError::NotIpv4)?;
    Ok((payload, packet[9]))
}

/// The header length of an IPv4 packet: version 4, IHL of at least 5 words, within the
/// packet and its Total Length.
fn ipv4_header_len(packet: &[u8]) -> Result<usize, EspError> {
    let [version_ihl, _, total_hi, total_lo, ..] = *packet else {
        return Err(EspError::NotIpv4);
    };
    let header_len = usize::from(version_ihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([total_hi, total_lo]));
    let valid = version_ihl >> 4 == 4
        && header_len >= IPV4_MIN_HEADER_LEN
        && header_len <= total
        && total <= packet.len();
    if valid {
        Ok(header_len)
    } else {
        Err(EspError::NotIpv4)
    }
}

#[cfg(test)]
mod tests {
    use hex_literal::hex;
    use ike::crypto::{AesKeySize, Encryption, Integrity, SecretBytes};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::esp::replay::ReplayError;

    const SPI: Spi = Spi(0xc0de_0001);

    fn gcm128() -> EspSuite {
        EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).unwrap()
    }

    fn cbc256() -> EspSuite {
        EspSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
        )
        .unwrap()
    }

    fn keys(suite: &EspSuite) -> EspKeys {
        EspKeys {
            encryption: SecretBytes::new(vec![0x42; suite.encryption.key_material_len()]),
            integrity: SecretBytes::new(vec![0x24; suite.integrity.map_or(0, Integrity::key_len)]),
        }
    }

    fn pair(
        suite: EspSuite,
        mode: Mode,
        lifetime: Lifetime,
        now: Instant,
    ) -> (SecurityAssociation, SecurityAssociation) {
        let make = |direction| {
            let parameters = SaParameters {
                spi: SPI,
                direction,
                mode,
                suite,
                lifetime,
            };
            SecurityAssociation::new(parameters, &keys(&suite), now).unwrap()
        };
        (make(Direction::Outbound), make(Direction::Inbound))
    }

    /// An IPv4/UDP packet 192.0.2.1 -> 198.51.100.7 with `payload_len` octets of data.
    fn ipv4_udp(payload_len: usize) -> Vec<u8> {
        let total = 20 + 8 + payload_len;
        let total_bytes = u16::try_from(total).unwrap().to_be_bytes();
        let mut packet = vec![
            0x45,
            0,
            total_bytes[0],
            total_bytes[1],
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
        ];
        packet.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 7]);
        packet.extend_from_slice(&[0x30, 0x39, 0x00, 0x07]);
        packet.extend_from_slice(&u16::try_from(8 + payload_len).unwrap().to_be_bytes());
        packet.extend_from_slice(&[0, 0]);
        packet.extend((0..payload_len).map(|i| u8::try_from(i % 251).unwrap()));
        packet
    }

    #[test]
    fn tunnel_mode_round_trips_for_each_suite() {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for suite in [gcm128(), cbc256()] {
            let (mut out, mut inbound) = pair(suite, Mode::Tunnel, Lifetime::default(), now);
            for len in [0, 1, 2, 3, 13, 100, 1372] {
                let inner = ipv4_udp(len);
                let esp = out.encapsulate(now, &inner, &mut rng).unwrap();
                let decapsulated = inbound.decapsulate(now, &esp).unwrap();
                assert_eq!(decapsulated.payload, inner);
                assert_eq!(decapsulated.next_header, IPPROTO_IPIP);
            }
            assert_eq!(out.packets(), 7);
            assert_eq!(inbound.bytes(), out.bytes());
            assert_eq!(inbound.last_sequence_number(), 7);
        }
    }

    #[test]
    fn transport_mode_carries_the_ip_payload_and_protocol() {
        let now = Instant::now();
        let (mut out, mut inbound) = pair(gcm128(), Mode::Transport, Lifetime::default(), now);
        let inner = ipv4_udp(10);
        let esp = out
            .encapsulate(now, &inner, &mut ChaCha20Rng::seed_from_u64(2))
            .unwrap();
        let decapsulated = inbound.decapsulate(now, &esp).unwrap();
        assert_eq!(decapsulated.next_header, 17);
        assert_eq!(decapsulated.payload, inner[20..]);
    }

    #[test]
    fn gcm_packets_have_header_iv_aligned_body_and_icv() {
        let now = Instant::now();
        let (mut out, _) = pair(gcm128(), Mode::Tunnel, Lifetime::default(), now);
        let inner = ipv4_udp(13); // 41 octets: 1 octet of padding makes 41 + 1 + 2 = 44.
        let esp = out
            .encapsulate(now, &inner, &mut ChaCha20Rng::seed_from_u64(3))
            .unwrap();
        assert_eq!(esp.len(), 8 + 8 + 44 + 16);
        let header = EspPacket::new_checked(&esp[..]).unwrap();
        assert_eq!((header.spi(), header.sequence_number()), (SPI, 1));
        assert_eq!(esp[8..16], 1u64.to_be_bytes());
    }

    #[test]
    fn a_replayed_packet_is_refused_and_counts_once() {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (mut out, mut inbound) = pair(gcm128(), Mode::Tunnel, Lifetime::default(), now);
        let first = out.encapsulate(now, &ipv4_udp(5), &mut rng).unwrap();
        let second = out.encapsulate(now, &ipv4_udp(5), &mut rng).unwrap();
        inbound.decapsulate(now, &second).unwrap();
        inbound.decapsulate(now, &first).unwrap();
        assert_eq!(
            inbound.decapsulate(now, &first),
            Err(EspError::Replay(ReplayError::Duplicate(1)))
        );
        assert_eq!(inbound.packets(), 2);
    }

    #[test]
    fn a_forged_packet_fails_the_icv_and_does_not_move_the_window() {
        let now = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for suite in [gcm128(), cbc256()] {
            let (mut out, mut inbound) = pair(suite, Mode::Tunnel, Lifetime::default(), now);
            let esp = out.encapsulate(now, &ipv4_udp(40), &mut rng).unwrap();
            for index in [4, 8, 30, esp.len() - 1] {
                let mut forged = esp.clone();
                forged[index] ^= 0x01;
                let result = inbound.decapsulate(now, &forged);
                assert!(
                    matches!(result, Err(EspError::BadIcv | EspError::Replay(_))),
                    "{result:?}"
                );
            }
            assert_eq!(inbound.last_sequence_number(), 0);
            assert!(inbound.decapsulate(now, &esp).is_ok());
        }
    }

    #[test]
    fn another_sas_packet_is_an_unknown_spi() {
        let now = Instant::now();
        let (mut out, mut inbound) = pair(gcm128(), Mode::Tunnel, Lifetime::default(), now);
        let mut esp = out
            .encapsulate(now, &ipv4_udp(5), &mut ChaCha20Rng::seed_from_u64(6))
            .unwrap();
        esp[3] ^= 0xff;
        assert_eq!(
            inbound.decapsulate(now, &esp),
            Err(EspError::UnknownSpi(Spi(0xc0de_00fe)))
        );
    }

    #[test]
    fn truncated_packets_are_errors_not_panics() {
        let now = Instant::now();
        for suite in [gcm128(), cbc256()] {
            let (mut out, mut inbound) = pair(suite, Mode::Tunnel, Lifetime::default(), now);
            let esp = out
                .encapsulate(now, &ipv4_udp(5), &mut ChaCha20Rng::seed_from_u64(7))
                .unwrap();
            for len in 0..esp.len() {
                assert!(inbound.decapsulate(now, &esp[..len]).is_err());
            }
        }
    }

    #[test]
    fn directions_are_enforced() {
        let now = Instant::now();
        let (mut out, mut inbound) = pair(gcm128(), Mode::Tunnel, Lifetime::default(), now);
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        assert_eq!(
            inbound.encapsulate(now, &ipv4_udp(1), &mut rng),
            Err(EspError::WrongDirection(SPI))
        );
        assert_eq!(
            out.decapsulate(now, &[0; 64]),
            Err(EspError::WrongDirection(SPI))
        );
    }

    #[test]
    fn non_ipv4_input_is_refused() {
        let now = Instant::now();
        let (mut out, _) = pair(gcm128(), Mode::Transport, Lifetime::default(), now);
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut ipv6ish = ipv4_udp(4);
        ipv6ish[0] = 0x60;
        let mut lying_length = ipv4_udp(4);
        lying_length[3] = 0xff;
        for bad in [vec![], vec![0x45; 3], ipv6ish, lying_length] {
            assert_eq!(out.encapsulate(now, &bad, &mut rng), Err(EspError::NotIpv4));
        }
    }

    #[test]
    fn hard_lifetime_stops_the_sa_and_soft_only_reports() {
        let now = Instant::now();
        let lifetime = Lifetime {
            soft_time: Some(Duration::from_secs(60)),
            hard_time: Some(Duration::from_secs(90)),
            soft_bytes: None,
            hard_bytes: Some(200),
        };
        let (mut out, _) = pair(gcm128(), Mode::Tunnel, lifetime, now);
        let mut rng = ChaCha20Rng::seed_from_u64(10);
        let later = now + Duration::from_secs(61);
        assert_eq!(out.lifetime_status(later), LifetimeStatus::Soft);
        assert!(out.encapsulate(later, &ipv4_udp(100), &mut rng).is_ok());
        assert!(out.encapsulate(later, &ipv4_udp(100), &mut rng).is_ok());
        assert_eq!(out.lifetime_status(later), LifetimeStatus::Hard);
        assert_eq!(
            out.encapsulate(later, &ipv4_udp(1), &mut rng),
            Err(EspError::Expired(SPI))
        );
        let (mut fresh, _) = pair(gcm128(), Mode::Tunnel, lifetime, now);
        let dead = now + Duration::from_secs(90);
        assert_eq!(
            fresh.encapsulate(dead, &ipv4_udp(1), &mut rng),
            Err(EspError::Expired(SPI))
        );
    }

    #[test]
    fn sequence_numbers_never_wrap() {
        let now = Instant::now();
        let (mut out, mut inbound) = pair(gcm128(), Mode::Tunnel, Lifetime::default(), now);
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        out.advance_sequence_number(u32::MAX);
        let last = out.encapsulate(now, &ipv4_udp(1), &mut rng).unwrap();
        assert_eq!(
            inbound.decapsulate(now, &last).unwrap().sequence_number,
            u32::MAX
        );
        assert_eq!(
            out.encapsulate(now, &ipv4_udp(1), &mut rng),
            Err(EspError::SequenceExhausted(SPI))
        );
        out.advance_sequence_number(5);
        assert_eq!(out.last_sequence_number(), u32::MAX);
    }

    /// One ESP packet of draft-mcgrew-gcm-test-01.
    struct GcmEspVector {
        size: AesKeySize,
        /// Key then 4-octet salt.
        key: &'static [u8],
        /// SPI, sequence number and explicit IV.
        header_and_iv: &'static [u8],
        spi: u32,
        /// Ciphertext then tag.
        sealed: &'static [u8],
        /// Inner packet then ESP trailer.
        plaintext: &'static [u8],
        inner_len: usize,
    }

    /// ESP packets of draft-mcgrew-gcm-test-01 (GCM test vectors for ESP) §4, cases with
    /// 32-bit sequence numbers: AES-128 (SPI 0xa5f8, seq 10) and AES-256 (SPI 0x4a2cbfe3, seq 2).
    #[test]
    fn decapsulates_the_gcm_for_esp_test_vectors() {
        let cases = [
            GcmEspVector {
                size: AesKeySize::Aes128,
                key: &hex!("feffe9928665731c6d6a8f9467308308 cafebabe"),
                header_and_iv: &hex!("0000a5f8 0000000a facedbaddecaf888"),
                spi: 0xa5f8,
                sealed: &hex!(
                    "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
                    "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
                    "83b70d3aa8bc6ee4c309e9d85a41ad4a"
                ),
                plaintext: &hex!(
                    "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
                    "0001000000000000037369700963796265726369747902646b00000100010001"
                ),
                inner_len: 62,
            },
            GcmEspVector {
                size: AesKeySize::Aes256,
                key: &hex!(
                    "abbccddef00112233445566778899aababbccddef00112233445566778899aab 11223344"
                ),
                header_and_iv: &hex!("4a2cbfe3 00000002 0102030405060708"),
                spi: 0x4a2c_bfe3,
                sealed: &hex!(
                    "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
                    "748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49"
                    "15956c96"
                ),
                plaintext: &hex!(
                    "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
                    "7002400020bf0000020405b40101040201020201"
                ),
                inner_len: 48,
            },
        ];
        let now = Instant::now();
        for vector in cases {
            let suite = EspSuite::new(Encryption::AesGcm16(vector.size), None).unwrap();
            let parameters = SaParameters {
                spi: Spi(vector.spi),
                direction: Direction::Inbound,
                mode: Mode::Tunnel,
                suite,
                lifetime: Lifetime::default(),
            };
            let keys = EspKeys {
                encryption: SecretBytes::from(vector.key),
                integrity: SecretBytes::new(vec![]),
            };
            let mut sa = SecurityAssociation::new(parameters, &keys, now).unwrap();
            let esp = [vector.header_and_iv, vector.sealed].concat();
            let decapsulated = sa.decapsulate(now, &esp).unwrap();
            assert_eq!(decapsulated.payload, vector.plaintext[..vector.inner_len]);
            assert_eq!(decapsulated.next_header, 1);
        }
    }

    #[test]
    fn padding_must_be_monotonic() {
        assert_eq!(
            strip_trailer(&[9, 9, 1, 2, 3, 3, 4]),
            Ok((&[9u8, 9][..], 4))
        );
        assert_eq!(
            strip_trailer(&[9, 9, 1, 3, 3, 3, 4]),
            Err(EspError::BadTrailer)
        );
        assert_eq!(strip_trailer(&[1, 2, 5, 4]), Err(EspError::BadTrailer));
        assert_eq!(strip_trailer(&[4]), Err(EspError::BadTrailer));
    }
}
