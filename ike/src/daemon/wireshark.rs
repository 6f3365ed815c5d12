//! Key export for Wireshark, off unless asked for: the keys of every IKE SA in the
//! `ikev2_decryption_table` format and of every ESP SA in the `esp_sa` format, the two user
//! access tables (UAT) Wireshark reads from its configuration directory. Point
//! `WIRESHARK_CONFIG_DIR` (or copy the files) at the export directory and Wireshark or tshark
//! decrypts the SK payloads and the ESP of a capture (with `esp.enable_encryption_decode`).
//!
//! ```text
//! ikev2_decryption_table   SPIi,SPIr,SK_ei,SK_er,"encryption",SK_ai,SK_ar,"integrity"
//! esp_sa                   "IPv4","src","dst","0xSPI","encryption","0xkey","authentication","0xkey"
//! ```
//!
//! Lines are added as SAs are negotiated and stay after the SAs are deleted, so a capture of
//! a whole run (rekeys included) decrypts; the files start empty when the export starts.
//! Keys of the AES-GCM suites carry their 4-octet salt at the end, as Wireshark expects.

use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::crypto::{AesKeySize, Encryption, EspKeys, IkeSaKeys, IkeSuite, Integrity};
use crate::sa::ChildSaInstall;

/// The file name of the IKEv2 table in Wireshark's configuration directory.
pub const IKEV2_TABLE: &str = "ikev2_decryption_table";
/// The file name of the ESP table in Wireshark's configuration directory.
pub const ESP_TABLE: &str = "esp_sa";

/// The lines of both tables, in the order the SAs were negotiated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyTables {
    ikev2: Vec<String>,
    esp: Vec<String>,
}

impl KeyTables {
    /// Adds the line of an IKE SA with SPIs `(SPIi, SPIr)`.
    pub fn add_ike_sa(&mut self, spis: (u64, u64), suite: &IkeSuite, keys: &IkeSaKeys) {
        self.ikev2.push(ikev2_line(spis, suite, keys));
    }

    /// Adds the two lines of a CHILD SA: the inbound ESP SA (peer to us) then the outbound.
    pub fn add_child_sa(&mut self, install: &ChildSaInstall) {
        let (local, remote) = (*install.local.ip(), *install.remote.ip());
        let suite = (install.suite.encryption, install.suite.integrity);
        self.esp.push(esp_sa_line(
            (remote, local),
            install.inbound_spi,
            suite,
            &install.inbound_keys,
        ));
        self.esp.push(esp_sa_line(
            (local, remote),
            install.outbound_spi,
            suite,
            &install.outbound_keys,
        ));
    }

    /// How many lines both tables hold (grows with every SA).
    pub fn len(&self) -> usize {
        self.ikev2.len() + self.esp.len()
    }

    /// True before the first SA.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `ikev2_decryption_table` file.
    pub fn ikev2_decryption_table(&self) -> String {
        file(&self.ikev2)
    }

    /// The `esp_sa` file.
    pub fn esp_sa(&self) -> String {
        file(&self.esp)
    }

    /// Rewrites both files in `dir` (each written beside and renamed over the old one, so a
    /// reader never sees half a line).
    ///
    /// # Errors
    /// The file system's.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        for (name, text) in [
            (IKEV2_TABLE, self.ikev2_decryption_table()),
            (ESP_TABLE, self.esp_sa()),
        ] {
            let temporary = dir.join(format!(".{name}.new"));
            std::fs::write(&temporary, text)?;
            std::fs::rename(&temporary, dir.join(name))?;
        }
        Ok(())
    }
}

fn file(lines: &[String]) -> String {
    lines.iter().fold(String::new(), |mut text, line| {
        text.push_str(line);
        text.push('\n');
        text
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// One `ikev2_decryption_table` line.
pub fn ikev2_line((spi_i, spi_r): (u64, u64), suite: &IkeSuite, keys: &IkeSaKeys) -> String {
    format!(
        "{spi_i:016x},{spi_r:016x},{},{},\"{}\",{},{},\"{}\"",
        hex(keys.sk_ei.as_bytes()),
        hex(keys.sk_er.as_bytes()),
        ikev2_encryption_name(suite.encryption),
        hex(keys.sk_ai.as_bytes()),
        hex(keys.sk_ar.as_bytes()),
        ikev2_integrity_name(suite.integrity),
    )
}

/// One `esp_sa` line for the ESP SA `spi` carrying packets from `src` to `dst`.
pub fn esp_sa_line(
    (src, dst): (Ipv4Addr, Ipv4Addr),
    spi: u32,
    (encryption, integrity): (Encryption, Option<Integrity>),
    keys: &EspKeys,
) -> String {
    let authentication_key = match integrity {
        Some(_) => format!("0x{}", hex(keys.integrity.as_bytes())),
        None => String::new(),
    };
    format!(
        "\"IPv4\",\"{src}\",\"{dst}\",\"0x{spi:08x}\",\"{}\",\"0x{}\",\"{}\",\"{authentication_key}\"",
        esp_encryption_name(encryption),
        hex(keys.encryption.as_bytes()),
        esp_authentication_name(integrity),
    )
}

/// Wireshark's name of an IKEv2 encryption algorithm (packet-isakmp.c).
fn ikev2_encryption_name(encryption: Encryption) -> &'static str {
    match encryption {
        Encryption::AesCbc(AesKeySize::Aes128) => "AES-CBC-128 [RFC3602]",
        Encryption::AesCbc(AesKeySize::Aes256) => "AES-CBC-256 [RFC3602]",
        Encryption::AesGcm16(AesKeySize::Aes128) => "AES-GCM-128 with 16 octet ICV [RFC5282]",
        Encryption::AesGcm16(AesKeySize::Aes256) => "AES-GCM-256 with 16 octet ICV [RFC5282]",
    }
}

/// Wireshark's name of an IKEv2 integrity algorithm (none with AEAD).
fn ikev2_integrity_name(integrity: Option<Integrity>) -> &'static str {
    match integrity {
        None => "NONE [RFC4306]",
        Some(Integrity::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
        Some(Integrity::HmacSha2_256_128) => "HMAC_SHA2_256_128 [RFC4868]",
        Some(Integrity::HmacSha2_384_192) => "HMAC_SHA2_384_192 [RFC4868]",
        Some(Integrity::HmacSha2_512_256) => "HMAC_SHA2_512_256 [RFC4868]",
    }
}

/// Wireshark's name of an ESP encryption algorithm (packet-ipsec.c).
fn esp_encryption_name(encryption: Encryption) -> &'static str {
    match encryption {
        Encryption::AesCbc(_) => "AES-CBC [RFC3602]",
        Encryption::AesGcm16(_) => "AES-GCM with 16 octet ICV [RFC4106]",
    }
}

/// Wireshark's name of an ESP authentication algorithm (`NULL` with AEAD).
fn esp_authentication_name(integrity: Option<Integrity>) -> &'static str {
    match integrity {
        None => "NULL",
        Some(Integrity::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
        Some(Integrity::HmacSha2_256_128) => "HMAC-SHA-256-128 [RFC4868]",
        Some(Integrity::HmacSha2_384_192) => "HMAC-SHA-384-192 [RFC4868]",
        Some(Integrity::HmacSha2_512_256) => "HMAC-SHA-512-256 [RFC4868]",
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;
    use std::time::Duration;

    use super::*;
    use crate::crypto::ids::DhGroup;
    use crate::crypto::{EspSuite, Prf, SecretBytes};
    use crate::sa::Mode;
    use crate::wire::Ipv4Range;

    const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    /// Keys whose octets count up from `first`, `len` of them.
    fn key(first: u8, len: usize) -> SecretBytes {
        SecretBytes::new(
            std::iter::successors(Some(first), |b| Some(b.wrapping_add(1)))
                .take(len)
                .collect(),
        )
    }

    fn ike_keys(suite: &IkeSuite) -> IkeSaKeys {
        let integ = suite.integrity.map_or(0, Integrity::key_len);
        let encr = suite.encryption.key_material_len();
        IkeSaKeys {
            sk_d: key(0x00, 32),
            sk_ai: key(0x10, integ),
            sk_ar: key(0x30, integ),
            sk_ei: key(0x50, encr),
            sk_er: key(0x70, encr),
            sk_pi: key(0x90, 32),
            sk_pr: key(0xb0, 32),
        }
    }

    fn install(suite: EspSuite) -> ChildSaInstall {
        let integ = suite.integrity.map_or(0, Integrity::key_len);
        let encr = suite.encryption.key_material_len();
        ChildSaInstall {
            inbound_spi: 0xc1a0_0001,
            outbound_spi: 0x0bad_f00d,
            suite,
            inbound_keys: EspKeys {
                encryption: key(0xa0, encr),
                integrity: key(0xc0, integ),
            },
            outbound_keys: EspKeys {
                encryption: key(0x20, encr),
                integrity: key(0x40, integ),
            },
            mode: Mode::Tunnel,
            local_ts: Ipv4Range::host(US),
            remote_ts: Ipv4Range::host(PEER),
            local: SocketAddrV4::new(US, 4500),
            remote: SocketAddrV4::new(PEER, 4500),
            udp_encapsulation: true,
            lifetime: Duration::from_secs(3600),
            replaces: None,
        }
    }

    fn gcm_ike() -> IkeSuite {
        IkeSuite::new(
            Encryption::AesGcm16(AesKeySize::Aes128),
            None,
            Prf::HmacSha2_256,
            DhGroup::CURVE25519,
        )
        .expect("suite")
    }

    fn cbc_ike() -> IkeSuite {
        IkeSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
            Prf::HmacSha2_256,
            DhGroup::MODP_2048,
        )
        .expect("suite")
    }

    #[test]
    fn both_tables_hold_one_line_per_ike_sa_and_two_per_child_sa() {
        let mut tables = KeyTables::default();
        assert!(tables.is_empty());
        let gcm = gcm_ike();
        tables.add_ike_sa(
            (0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            &gcm,
            &ike_keys(&gcm),
        );
        let cbc = cbc_ike();
        tables.add_ike_sa((1, 2), &cbc, &ike_keys(&cbc));
        let gcm_esp = EspSuite::new(Encryption::AesGcm16(AesKeySize::Aes128), None).expect("suite");
        tables.add_child_sa(&install(gcm_esp));
        let cbc_esp = EspSuite::new(
            Encryption::AesCbc(AesKeySize::Aes256),
            Some(Integrity::HmacSha2_256_128),
        )
        .expect("suite");
        tables.add_child_sa(&install(cbc_esp));
        assert_eq!(tables.len(), 6);
        insta::assert_snapshot!("ikev2_decryption_table", tables.ikev2_decryption_table());
        insta::assert_snapshot!("esp_sa", tables.esp_sa());
    }

    #[test]
    fn writing_replaces_both_files_whole() {
        let dir = std::env::temp_dir().join(format!("ike-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("directory");
        let mut tables = KeyTables::default();
        tables.write(&dir).expect("written");
        assert_eq!(
            std::fs::read_to_string(dir.join(ESP_TABLE)).expect("read"),
            ""
        );
        let gcm = gcm_ike();
        tables.add_ike_sa((7, 8), &gcm, &ike_keys(&gcm));
        tables.write(&dir).expect("written");
        let ikev2 = std::fs::read_to_string(dir.join(IKEV2_TABLE)).expect("read");
        assert_eq!(ikev2, tables.ikev2_decryption_table());
        assert_eq!(ikev2.lines().count(), 1);
        let leftovers = std::fs::read_dir(&dir)
            .expect("listing")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .count();
        assert_eq!(leftovers, 0, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
