//! IPSec in the lab. An LPAR whose profile has `IPCONFIG IPSECURITY` runs
//! [`IpsecService`] with its profile's IPSECRULEs and the IKE peers of its Policy Agent
//! policy (`policy = "..."` in the topology); a remote host given a policy runs the same
//! service as an IPSec host, initiating the tunnels of the KeyExchangeRules whose local
//! endpoint is its own address. Every IKE daemon and security stage gets its own seed, made
//! from the topology's `[sysplex] seed`, its place in the topology and how often it started.

use std::net::Ipv4Addr;
use std::time::Duration;

use ike::daemon::shell::DaemonState;
use ike::daemon::{IkeDaemon, Peer, peers_from_policy};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use stacks::ipsec::IpsecService;
use stacks::profile::IpSecRule;
use stacks::stack::StackHandle;

use crate::Error;

/// The IP MTU of a stack that runs IPSec: room for the ESP overhead (outer header, SPI,
/// sequence, IV, padding, ICV, and a UDP header for NAT traversal) inside a 1500-octet LAN.
pub const IPSEC_IP_MTU: usize = 1400;

/// A Policy Agent policy, read into the IKE daemon's peers.
#[derive(Debug, Clone)]
pub struct IpsecPolicy {
    /// Where the policy came from: its file, or a description of a generated one.
    pub source: String,
    /// The peers of its KeyExchangeRules (see [`ike::daemon::peers_from_policy`]).
    pub peers: Vec<Peer>,
}

impl IpsecPolicy {
    /// Parses the policy `text` read from `source`; the refusal lists every problem with its
    /// line, as `source line N: what`.
    pub fn parse(source: &str, text: &str) -> Result<Self, String> {
        let policy = ike::policy::parse(text).map_err(|error| {
            error
                .problems
                .iter()
                .map(|p| format!("{source} line {}: {}", p.line, p.kind))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(Self {
            source: source.to_owned(),
            peers: peers_from_policy(&policy),
        })
    }

    /// Reads and parses the policy file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read policy {source}: {e}"))?;
        Self::parse(&source, &text)
    }

    /// The policy as the remote host at `address` runs it: the peers whose local endpoint is
    /// `address`, each started by the host's daemon when it starts (the host initiates). A
    /// policy with none for `address` is refused.
    pub fn for_host(self, address: Ipv4Addr) -> Result<Self, String> {
        let peers: Vec<Peer> = self
            .peers
            .into_iter()
            .filter(|p| p.local == address)
            .map(|mut p| {
                p.autoactivate = true;
                p
            })
            .collect();
        if peers.is_empty() {
            return Err(format!(
                "policy {} has no KeyExchangeRule whose LocalSecurityEndpoint is {address} \
                 (with an IpFilterRule from it to an IpDynVpnAction)",
                self.source
            ));
        }
        Ok(Self {
            source: self.source,
            peers,
        })
    }
}

/// What a seed is for; mixed into [`seed`] so that no two random sources share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedUse {
    /// The IKE daemon of an LPAR (SPIs, nonces, Diffie-Hellman keys).
    LparIke,
    /// The security stage of an LPAR (AES-CBC IVs).
    LparStage,
    /// The IKE daemon of a remote host.
    HostIke,
    /// The security stage of a remote host.
    HostStage,
}

/// The seed of one random source: `topology_seed` (the `[sysplex] seed`), what it is for,
/// the LPAR's or host's `index` in the topology and its `start` count (0 at the lab's start,
/// then one more at each re-IPL, so a restarted IKE daemon does not repeat its SPIs).
pub fn seed(topology_seed: u64, what: SeedUse, index: usize, start: u64) -> u64 {
    let tag: u64 = match what {
        SeedUse::LparIke => 1,
        SeedUse::LparStage => 2,
        SeedUse::HostIke => 3,
        SeedUse::HostStage => 4,
    };
    let index = u64::try_from(index).unwrap_or(u64::MAX);
    [tag, index, start]
        .into_iter()
        .fold(splitmix(topology_seed), |acc, v| splitmix(acc ^ v))
}

/// SplitMix64's output function: spreads neighbouring inputs over the whole range.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Starts IPSec on `stack` with the IPSECRULEs `rules`, the peers of `policy`, and the
/// daemon and stage seeds `ike_seed` and `stage_seed`.
pub async fn start(
    stack: &StackHandle,
    rules: Vec<IpSecRule>,
    policy: &IpsecPolicy,
    ike_seed: u64,
    stage_seed: u64,
) -> Result<IpsecService, Error> {
    let daemon = IkeDaemon::new(policy.peers.clone(), ChaCha20Rng::seed_from_u64(ike_seed));
    Ok(IpsecService::start(stack, rules, daemon, stage_seed).await?)
}

/// How many IKE tunnels of `state` are established with at least one CHILD SA.
pub fn tunnels_up(state: &DaemonState) -> usize {
    state
        .ike_tunnels
        .iter()
        .filter(|t| t.established && !t.dynamic_tunnels.is_empty())
        .count()
}

/// Waits until `service` has `count` IKE tunnels up with their CHILD SAs installed in its
/// SAD, and returns the daemon's state then.
pub async fn wait_for_tunnels(service: &mut IpsecService, count: usize) -> DaemonState {
    let state = service.wait_for(|s| tunnels_up(s) >= count).await;
    // The daemon publishes its state before the stack has installed the SAs it announced.
    while service.state().sad.children().len() < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/policies")
            .join(name)
    }

    #[test]
    fn a_policy_with_problems_is_refused_with_its_file_and_lines() {
        let message = IpsecPolicy::load(&fixture("bad.conf")).unwrap_err();
        assert!(message.contains("bad.conf line "), "{message}");
    }

    #[test]
    fn a_missing_policy_file_is_named() {
        let message = IpsecPolicy::load(&fixture("nope.conf")).unwrap_err();
        assert!(message.contains("cannot read policy"), "{message}");
        assert!(message.contains("nope.conf"), "{message}");
    }

    #[test]
    fn a_host_keeps_only_its_own_rules_and_initiates_them() {
        let hosts = IpsecPolicy::load(&fixture("swsa-hosts.conf")).expect("policy parses");
        assert_eq!(hosts.peers.len(), 2);
        let first = hosts
            .clone()
            .for_host(Ipv4Addr::new(192, 0, 2, 101))
            .expect("a rule for .101");
        assert_eq!(first.peers.len(), 1);
        assert!(first.peers[0].autoactivate);
        assert_eq!(first.peers[0].remote, Ipv4Addr::new(198, 51, 100, 10));
        let message = hosts.for_host(Ipv4Addr::new(192, 0, 2, 99)).unwrap_err();
        assert!(message.contains("192.0.2.99"), "{message}");
    }

    #[test]
    fn seeds_differ_by_use_place_and_start_and_repeat_for_the_same_inputs() {
        let base = seed(7, SeedUse::LparIke, 0, 0);
        assert_eq!(base, seed(7, SeedUse::LparIke, 0, 0));
        for other in [
            seed(8, SeedUse::LparIke, 0, 0),
            seed(7, SeedUse::LparStage, 0, 0),
            seed(7, SeedUse::HostIke, 0, 0),
            seed(7, SeedUse::LparIke, 1, 0),
            seed(7, SeedUse::LparIke, 0, 1),
        ] {
            assert_ne!(base, other);
        }
    }
}
