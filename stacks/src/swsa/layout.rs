//! The layout of the CF structure EZBDVIPA as the SWSA layer uses it: its name and attributes,
//! the key of a restart entry, and the encoding of the entry's data.
//!
//! One keyed list holds one entry per IKE tunnel on a DVIPA. The 16-byte key is the DVIPA, the
//! remote IKE peer's address and the owning system's name, so a key range reads the entries of
//! one DVIPA in peer order (a stable order for snapshots) and equal keys group one owner's
//! tunnels with one peer. The data is a version byte and the postcard encoding of a
//! [`StoredRecord`]: the owner, its tunnel number `Kn` and the [`RestartRecord`], which holds no
//! key material.

use std::net::Ipv4Addr;

use cf::structure::{Durability, EntryKey, ListNumber, RefOption, StrName, StructureAttrs};
use ike::swsa::RestartRecord;
use serde::{Deserialize, Serialize};

use super::SwsaError;

/// The list of restart entries.
pub const RESTART_LIST: ListNumber = ListNumber(0);

/// The encoding version of an entry's data.
const VERSION: u8 = 1;

/// The structure's name: EZBDVIPA, or EZBDVIPA01tt with `GLOBALCONFIG XCFGRPID tt` (the VTAM
/// suffix, not modelled, takes its default 01).
pub fn structure_name(xcf_group_id: Option<u8>) -> StrName {
    let name = match xcf_group_id {
        Some(tt) => format!("EZBDVIPA01{tt:02}"),
        None => "EZBDVIPA".to_owned(),
    };
    // Both forms are valid structure names (at most 16 characters, A-Z and digits).
    StrName::new(&name).unwrap_or_else(|| unreachable!("{name} is a valid structure name"))
}

/// The attributes the first stack allocates EZBDVIPA with: one keyed list, 512-byte elements
/// up to 8 KiB per entry, room for 100,000 tunnels; every write flushed before it is
/// acknowledged (`sync`), so an acknowledged restart entry survives a CF restart.
pub fn attributes() -> StructureAttrs {
    StructureAttrs {
        list_headers: 1,
        lock_entries: 0,
        adjunct: false,
        elem_char: 1,
        max_elem_num: 16,
        entry_count: 100_000,
        element_count: 400_000,
        emc_count: 0,
        ref_option: RefOption::Key,
        max_conn: 32,
        full_threshold: 90,
        durability: Durability::Sync,
        ..StructureAttrs::default()
    }
}

/// The key of the entry of a tunnel of `owner` between `dvipa` and `remote`.
pub fn entry_key(dvipa: Ipv4Addr, remote: Ipv4Addr, owner: &str) -> EntryKey {
    let mut key = [b' '; 16];
    key[..4].copy_from_slice(&dvipa.octets());
    key[4..8].copy_from_slice(&remote.octets());
    for (slot, byte) in key[8..].iter_mut().zip(owner.bytes()) {
        *slot = byte;
    }
    EntryKey(key)
}

/// The first and last keys of the entries of `dvipa`.
pub fn dvipa_keys(dvipa: Ipv4Addr) -> (EntryKey, EntryKey) {
    let mut low = [0x00; 16];
    let mut high = [0xFF; 16];
    low[..4].copy_from_slice(&dvipa.octets());
    high[..4].copy_from_slice(&dvipa.octets());
    (EntryKey(low), EntryKey(high))
}

/// What one restart entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The system whose IKE negotiated the tunnel.
    pub owner: String,
    /// Its `Kn` number there.
    pub ike_tunnel: u32,
    /// The restart record.
    pub record: RestartRecord,
}

impl StoredRecord {
    /// The DVIPA the tunnel runs on (its local IKE address).
    pub fn dvipa(&self) -> Ipv4Addr {
        *self.record.phase1.local_endpoint.ip()
    }

    /// The remote IKE peer's address.
    pub fn remote(&self) -> Ipv4Addr {
        *self.record.phase1.remote_endpoint.ip()
    }

    /// The entry key it is stored under.
    pub fn key(&self) -> EntryKey {
        entry_key(self.dvipa(), self.remote(), &self.owner)
    }

    /// The entry data: the version byte, then postcard.
    pub fn encode(&self) -> Result<Vec<u8>, SwsaError> {
        postcard::to_extend(self, vec![VERSION]).map_err(|e| SwsaError::Encode(e.to_string()))
    }

    /// Decodes entry data written by [`StoredRecord::encode`].
    ///
    /// # Errors
    /// [`SwsaError::Corrupt`] for an unknown version or data that does not decode.
    pub fn decode(data: &[u8]) -> Result<Self, SwsaError> {
        match data.split_first() {
            Some((&VERSION, rest)) => {
                let (stored, left) = postcard::take_from_bytes::<Self>(rest)
                    .map_err(|e| SwsaError::Corrupt(format!("restart entry: {e}")))?;
                if left.is_empty() {
                    Ok(stored)
                } else {
                    Err(SwsaError::Corrupt(format!(
                        "restart entry: {} bytes after the record",
                        left.len()
                    )))
                }
            }
            Some((version, _)) => Err(SwsaError::Corrupt(format!(
                "restart entry version {version}, this stack reads {VERSION}"
            ))),
            None => Err(SwsaError::Corrupt("empty restart entry".into())),
        }
    }
}

/// A restart record between `dvipa` and `remote` for tests, with `spi` as its SPIs.
#[cfg(test)]
pub(crate) fn test_record(dvipa: Ipv4Addr, remote: Ipv4Addr, spi: u32) -> RestartRecord {
    use std::net::SocketAddrV4;

    use ike::sa::Mode;
    use ike::swsa::{
        DynamicFilter, EspAlgorithms, IkeAlgorithms, Phase1Policy, Phase1Record, Phase1Role,
        Phase2Record,
    };
    use ike::wire::{AuthMethod, Identity, Ipv4Range, ProtocolId};

    let ike = IkeAlgorithms {
        encryption: 20,
        key_bits: 128,
        integrity: None,
        prf: 5,
        dh_group: 31,
    };
    let esp = EspAlgorithms {
        encryption: 20,
        key_bits: 128,
        integrity: None,
    };
    let spis = (u64::from(spi) << 32, u64::from(spi));
    RestartRecord {
        generation: 1,
        phase1: Phase1Record {
            policy: Phase1Policy {
                key_exchange_rule: "Dvipa-Peer".into(),
                key_exchange_action: "Ikev2-Psk".into(),
                auth_method: AuthMethod::SHARED_KEY_MIC,
                ike_offers: vec![ike],
                esp_offers: vec![esp],
                force_udp_encapsulation: false,
                mode: Mode::Transport,
                ike_rekey_secs: Some(25_920),
            },
            local_id: Identity::Ipv4(dvipa),
            remote_id: Identity::Fqdn("peer.example.org".into()),
            local_endpoint: SocketAddrV4::new(dvipa, 500),
            remote_endpoint: SocketAddrV4::new(remote, 500),
            role: Phase1Role::Responder,
            spi_i: spis.0,
            spi_r: spis.1,
            negotiated: ike,
            udp_encapsulation: false,
        },
        phase2: vec![Phase2Record {
            phase1_spis: spis,
            dyn_vpn_rule: "Stream-Dvipa-Peer".into(),
            vpn_action: "Gold".into(),
            filter: DynamicFilter {
                local: Ipv4Range {
                    ip_protocol: 6,
                    start_port: 5000,
                    end_port: 5000,
                    start_addr: dvipa,
                    end_addr: dvipa,
                },
                remote: Ipv4Range {
                    ip_protocol: 6,
                    start_port: 0,
                    end_port: u16::MAX,
                    start_addr: remote,
                    end_addr: remote,
                },
            },
            crypto: esp,
            mode: Mode::Transport,
            protocol: ProtocolId::ESP,
            inbound_spi: spi,
            outbound_spi: spi + 1,
            lifetime_secs: 3600,
            rekey_secs: Some(3240),
        }],
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 200);

    fn stored() -> StoredRecord {
        StoredRecord {
            owner: "SYS1".into(),
            ike_tunnel: 7,
            record: test_record(DVIPA, PEER, 0x1000),
        }
    }

    #[test]
    fn an_entry_round_trips_and_sits_in_its_dvipa_key_range() {
        let stored = stored();
        let data = stored.encode().unwrap();
        assert_eq!(StoredRecord::decode(&data).unwrap(), stored);
        let (low, high) = dvipa_keys(DVIPA);
        assert!(low <= stored.key() && stored.key() <= high);
        let (next, _) = dvipa_keys(Ipv4Addr::new(198, 51, 100, 11));
        assert!(stored.key() < next);
        assert_eq!(&stored.key().0[8..], b"SYS1    ");
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        let data = stored().encode().unwrap();
        assert!(StoredRecord::decode(&[]).is_err());
        assert!(StoredRecord::decode(&[9]).is_err());
        assert!(StoredRecord::decode(&data[..data.len() / 2]).is_err());
        let mut longer = data.clone();
        longer.push(0);
        assert!(StoredRecord::decode(&longer).is_err());
    }

    #[test]
    fn the_structure_is_named_as_z_os_names_it() {
        assert_eq!(structure_name(None).to_string(), "EZBDVIPA");
        assert_eq!(structure_name(Some(21)).to_string(), "EZBDVIPA0121");
        assert!(attributes().allocate().is_ok());
    }

    proptest! {
        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = StoredRecord::decode(&bytes);
        }
    }
}
