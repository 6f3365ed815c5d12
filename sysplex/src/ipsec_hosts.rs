//! Remote IPSec hosts built in code, for labs with many peers (1, 10, 100): the hosts
//! `PEERn` at 192.0.2.(100+n), each with the FQDN identity `peern.example.org` and its own
//! shared key, the Policy Agent policies of both sides generated as text (the same format as
//! `fixtures/policies/swsa-distributor.conf` and `swsa-hosts.conf`, which are this for two
//! hosts) and parsed as files are, and the topology's remote hosts.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sysplex::Error> {
//! use sysplex::ipsec_hosts::IpsecHosts;
//! let topology = IpsecHosts::new(10).swsa_lab()?; // fixtures/topologies/swsa-lab.toml, 10 hosts
//! let mut lab = sysplex::lab::Lab::start(topology).await?;
//! for host in lab.remotes_mut() {
//!     host.wait_for_tunnels().await?;
//! }
//! # Ok(()) }
//! ```

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use crate::Error;
use crate::ipsec::IpsecPolicy;
use crate::topology::{Remote, RemoteRun, RemoteSection, Topology};

/// The most hosts [`IpsecHosts`] builds: 192.0.2.101 to 192.0.2.254.
pub const MAX_HOSTS: usize = 154;

/// N remote IPSec hosts that negotiate with a DVIPA and stream to a port on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpsecHosts {
    /// How many hosts (1 to [`MAX_HOSTS`]).
    pub count: usize,
    /// The DVIPA: the z/OS side's IKE endpoint and the hosts' stream target.
    pub dvipa: Ipv4Addr,
    /// The stream sink's port on the DVIPA.
    pub port: u16,
    /// The bytes of each host's checksummed stream (its `run`); 0 for none.
    pub stream_bytes: u64,
}

impl IpsecHosts {
    /// `count` hosts for the SWSA lab's DVIPA 198.51.100.10 port 5001, each with a 1 MiB
    /// stream.
    pub fn new(count: usize) -> Self {
        Self {
            count,
            dvipa: Ipv4Addr::new(198, 51, 100, 10),
            port: 5001,
            stream_bytes: 1 << 20,
        }
    }

    /// The name of host `n` (1-based): `PEERn`.
    pub fn name(n: usize) -> String {
        format!("PEER{n}")
    }

    /// The LAN address of host `n` (1-based): 192.0.2.(100+n).
    pub fn address(n: usize) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, u8::try_from(100 + n).unwrap_or(u8::MAX))
    }

    /// The host's address in the DVIPA's subnet, which makes that subnet on-link for it (as
    /// for a router on the LAN): the DVIPA's last octet replaced by 100+n.
    fn on_link(&self, n: usize) -> Ipv4Addr {
        let [a, b, c, _] = self.dvipa.octets();
        Ipv4Addr::new(a, b, c, u8::try_from(100 + n).unwrap_or(u8::MAX))
    }

    fn check(&self) -> Result<(), Error> {
        if (1..=MAX_HOSTS).contains(&self.count) {
            Ok(())
        } else {
            Err(Error::Lab(format!(
                "{} remote IPSec hosts: from 1 to {MAX_HOSTS} fit in 192.0.2.101-254",
                self.count
            )))
        }
    }

    /// The z/OS side's policy (the distributor and its backups): one KeyExchangeRule per
    /// host, all traffic between the DVIPA and the range of every host this module can build
    /// (192.0.2.101-254, as in the fixture) in ESP tunnel mode.
    pub fn distributor_policy(&self) -> String {
        let mut text = format!(
            "# The distributor's side for {} remote IPSec hosts (generated).\n\n\
             IpAddr Dvipa\n{{\n  Addr {}\n}}\n\n\
             IpAddrSet RemoteHosts\n{{\n  Range {} {}\n}}\n\n",
            self.count,
            self.dvipa,
            Self::address(1),
            Self::address(MAX_HOSTS)
        );
        text.push_str(COMMON);
        text.push_str(
            "IpFilterPolicy\n{\n  IpFilterRule Dvipa-Hosts\n  {\n    IpSourceAddrRef Dvipa\n    \
             IpDestAddrSetRef RemoteHosts\n    IpServiceRef All-Traffic\n    \
             IpDynVpnActionRef Stream-Gold\n  }\n}\n\n",
        );
        let _ = write!(
            text,
            "LocalSecurityEndpoint Dvipa-Ike\n{{\n  Identity IpAddr {0}\n  Location {0}\n}}\n\n",
            self.dvipa
        );
        text.push_str("KeyExchangePolicy\n{\n");
        for n in 1..=self.count {
            let _ = write!(
                text,
                "  KeyExchangeRule Dvipa-Peer{n}\n  {{\n    LocalSecurityEndpointRef Dvipa-Ike\n    \
                 RemoteSecurityEndpoint\n    {{\n      Identity Fqdn peer{n}.example.org\n      \
                 Location {}\n    }}\n    KeyExchangeActionRef Ikev2-Psk\n    \
                 SharedKey Ascii swsa-peer{n}-secret\n  }}\n",
                Self::address(n)
            );
        }
        text.push_str("}\n");
        text
    }

    /// The hosts' side: for each host, its IpFilterRule to the DVIPA and its
    /// KeyExchangeRule with its identity and key.
    pub fn hosts_policy(&self) -> String {
        let mut text = format!(
            "# The side of {} remote IPSec hosts (generated).\n\n\
             IpAddr Dvipa\n{{\n  Addr {}\n}}\n\n",
            self.count, self.dvipa
        );
        text.push_str(COMMON);
        text.push_str("IpFilterPolicy\n{\n");
        for n in 1..=self.count {
            let _ = write!(
                text,
                "  IpFilterRule Peer{n}-Dvipa\n  {{\n    IpSourceAddr {}\n    IpDestAddrRef Dvipa\n    \
                 IpServiceRef All-Traffic\n    IpDynVpnActionRef Stream-Gold\n  }}\n",
                Self::address(n)
            );
        }
        let _ = write!(
            text,
            "}}\n\nRemoteSecurityEndpoint Dvipa-Ike\n{{\n  Identity IpAddr {0}\n  Location {0}\n}}\n\n\
             KeyExchangePolicy\n{{\n",
            self.dvipa
        );
        for n in 1..=self.count {
            let _ = write!(
                text,
                "  KeyExchangeRule Peer{n}-Dvipa\n  {{\n    LocalSecurityEndpoint\n    {{\n      \
                 Identity Fqdn peer{n}.example.org\n      Location {}\n    }}\n    \
                 RemoteSecurityEndpointRef Dvipa-Ike\n    KeyExchangeActionRef Ikev2-Psk\n    \
                 SharedKey Ascii swsa-peer{n}-secret\n  }}\n",
                Self::address(n)
            );
        }
        text.push_str("}\n");
        text
    }

    /// The remote hosts, each with its side of [`IpsecHosts::hosts_policy`] and, when
    /// `stream_bytes` is not 0, one stream to the DVIPA port.
    pub fn remotes(&self) -> Result<Vec<Remote>, Error> {
        self.check()?;
        let source = format!("generated policy of {} remote IPSec hosts", self.count);
        let policy = IpsecPolicy::parse(&source, &self.hosts_policy()).map_err(Error::Lab)?;
        let mut remotes = Vec::with_capacity(self.count);
        for n in 1..=self.count {
            let address = Self::address(n);
            let on_link = self.on_link(n);
            let run = if self.stream_bytes == 0 {
                Vec::new()
            } else {
                vec![RemoteRun::Stream {
                    target: SocketAddrV4::new(self.dvipa, self.port),
                    bytes: self.stream_bytes,
                }]
            };
            remotes.push(Remote {
                section: RemoteSection {
                    name: Self::name(n),
                    address: format!("{address}/24"),
                    on_link: vec![format!("{on_link}/24")],
                    gateway: None,
                    policy: None,
                    run,
                },
                address,
                prefix_len: 24,
                on_link: vec![(on_link, 24)],
                ipsec: Some(policy.clone().for_host(address).map_err(Error::Lab)?),
            });
        }
        Ok(remotes)
    }

    /// Replaces the remote hosts of `topology` by these hosts, and the policy of each LPAR
    /// of `distributors` (which must have IPCONFIG IPSECURITY) by
    /// [`IpsecHosts::distributor_policy`].
    pub fn apply(&self, topology: &mut Topology, distributors: &[&str]) -> Result<(), Error> {
        let remotes = self.remotes()?;
        let source = format!(
            "generated distributor policy for {} remote IPSec hosts",
            self.count
        );
        let policy = IpsecPolicy::parse(&source, &self.distributor_policy()).map_err(Error::Lab)?;
        for sysname in distributors {
            let lpar = topology
                .lpars
                .iter_mut()
                .find(|l| l.section.sysname == *sysname)
                .ok_or_else(|| Error::Lab(format!("no LPAR {sysname} in the topology")))?;
            if !lpar.profile.ipconfig.ipsecurity {
                return Err(Error::Lab(format!(
                    "LPAR {sysname}: profile {} has no IPCONFIG IPSECURITY",
                    lpar.profile_path.display()
                )));
            }
            lpar.ipsec = Some(policy.clone());
        }
        topology.remotes = remotes;
        Ok(())
    }

    /// The SWSA lab of `fixtures/topologies/swsa-lab.toml` with these hosts instead of its
    /// two, SYS1 and SYS2 (its distributors) running [`IpsecHosts::distributor_policy`].
    pub fn swsa_lab(&self) -> Result<Topology, Error> {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/swsa-lab.toml");
        let mut topology = Topology::load(&path)?;
        self.apply(&mut topology, &["SYS1", "SYS2"])?;
        Ok(topology)
    }
}

/// What both sides' policies share: the offers, the action and the service.
const COMMON: &str = "IpService All-Traffic\n{\n  Protocol All\n}\n\n\
IpDataOffer Esp-Gcm256-Tunnel\n{\n  HowToEncap Tunnel\n  HowToEncrypt AES_GCM_16 KeyLength 256\n  \
HowToAuth ESP\n  RefreshLifetimeProposed 60\n}\n\n\
IpDynVpnAction Stream-Gold\n{\n  Initiation Either\n  IpDataOfferRef Esp-Gcm256-Tunnel\n}\n\n\
KeyExchangeOffer Ike-Gcm256-X25519\n{\n  HowToEncrypt AES_GCM_16 KeyLength 256\n  \
PseudoRandomFunction HMAC_SHA2_256\n  DHGroup Group31\n  HowToAuthPeers PresharedKey\n  \
RefreshLifetimeProposed 480\n}\n\n\
KeyExchangeAction Ikev2-Psk\n{\n  HowToInitiate IKEv2\n  HowToAuthMe PresharedKey\n  \
KeyExchangeOfferRef Ike-Gcm256-X25519\n}\n\n";

#[cfg(test)]
mod tests {
    use ike::wire::Identity;

    use super::*;

    fn fixture_peers(name: &str) -> Vec<ike::daemon::Peer> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/policies")
            .join(name);
        IpsecPolicy::load(&path).expect("fixture parses").peers
    }

    #[test]
    fn two_generated_hosts_negotiate_what_the_fixture_policies_say() {
        let hosts = IpsecHosts::new(2);
        for (generated, fixture) in [
            (hosts.distributor_policy(), "swsa-distributor.conf"),
            (hosts.hosts_policy(), "swsa-hosts.conf"),
        ] {
            let generated = IpsecPolicy::parse("generated", &generated)
                .expect("generated policy parses")
                .peers;
            let fixture = fixture_peers(fixture);
            assert_eq!(generated.len(), fixture.len());
            for (g, f) in generated.iter().zip(&fixture) {
                assert_eq!((g.local, g.remote), (f.local, f.remote));
                assert_eq!(
                    (&g.config.local_id, &g.config.remote_id),
                    (&f.config.local_id, &f.config.remote_id)
                );
                assert_eq!(g.config.psk.as_bytes(), f.config.psk.as_bytes());
                assert_eq!(g.config.ike_suites, f.config.ike_suites);
                assert_eq!(g.config.esp_suites, f.config.esp_suites);
                assert_eq!(g.config.mode, f.config.mode);
                assert_eq!(g.config.local_ts.start_addr, f.config.local_ts.start_addr);
                assert_eq!(g.config.remote_ts.start_addr, f.config.remote_ts.start_addr);
            }
        }
    }

    #[test]
    fn the_generated_policies_of_two_hosts_read_as_policy_agent_files() {
        let hosts = IpsecHosts::new(2);
        insta::assert_snapshot!("distributor_policy_2_hosts", hosts.distributor_policy());
        insta::assert_snapshot!("hosts_policy_2_hosts", hosts.hosts_policy());
    }

    #[test]
    fn a_hundred_hosts_each_get_their_own_identity_key_and_address() {
        let remotes = IpsecHosts::new(100).remotes().expect("100 hosts fit");
        assert_eq!(remotes.len(), 100);
        let last = &remotes[99];
        assert_eq!(last.section.name, "PEER100");
        assert_eq!(last.address, Ipv4Addr::new(192, 0, 2, 200));
        let peer = &last.ipsec.as_ref().expect("IPSec").peers[0];
        assert_eq!(peer.local, last.address);
        assert_eq!(
            peer.config.local_id,
            Identity::Fqdn("peer100.example.org".into())
        );
        assert_eq!(peer.config.psk.as_bytes(), b"swsa-peer100-secret");
        assert!(peer.autoactivate);
    }

    #[test]
    fn the_host_count_must_fit_the_address_range() {
        assert!(IpsecHosts::new(0).remotes().is_err());
        assert!(IpsecHosts::new(MAX_HOSTS + 1).remotes().is_err());
        assert_eq!(
            IpsecHosts::address(MAX_HOSTS),
            Ipv4Addr::new(192, 0, 2, 254)
        );
    }

    #[test]
    fn apply_replaces_the_hosts_and_the_distributors_policies() {
        let topology = IpsecHosts::new(10).swsa_lab().expect("the lab builds");
        assert_eq!(topology.remotes.len(), 10);
        let peers: Vec<usize> = topology
            .lpars
            .iter()
            .map(|l| l.ipsec.as_ref().map_or(0, |p| p.peers.len()))
            .collect();
        assert_eq!(peers, [10, 10, 0]);
        let mut topology = topology;
        let error = IpsecHosts::new(1)
            .apply(&mut topology, &["SYS9"])
            .unwrap_err();
        assert!(error.to_string().contains("no LPAR SYS9"), "{error}");
    }
}
