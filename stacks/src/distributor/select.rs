//! Target selection for a new connection, one pure function per DISTMETHOD.
//!
//! Every method chooses only among *available* targets: a ready listener (Rdy > 0) and not
//! quiesced. When none is available the connection gets no target.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::profile::ServerType;

/// A target as the selection sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The target's dynamic XCF address.
    pub xcf: Ipv4Addr,
    /// Rdy > 0 and not quiesced.
    pub available: bool,
    /// The target's server is healthy (TSR and Health above 0).
    pub healthy: bool,
    /// ActiveConn.
    pub active: u64,
    /// The configured WEIGHT (WEIGHTEDACTIVE).
    pub weight: u8,
    /// The WLM weight scaled by TSR (BASEWLM, SERVERWLM).
    pub wlm: u32,
    /// PREFERRED or BACKUP rank (HOTSTANDBY).
    pub server_type: Option<ServerType>,
}

/// ROUNDROBIN: the next available target after `last` in XCF address order, wrapping.
pub fn round_robin(candidates: &[Candidate], last: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
    let available = || candidates.iter().filter(|c| c.available);
    last.and_then(|last| available().find(|c| c.xcf > last))
        .or_else(|| available().next())
        .map(|c| c.xcf)
}

/// WEIGHTEDACTIVE: the available target whose active connections, one more counted, are the
/// smallest share of its WEIGHT; so active connections stay in the ratio of the weights. A
/// WEIGHT of 0 gets no connections.
pub fn weighted_active(candidates: &[Candidate]) -> Option<Ipv4Addr> {
    candidates
        .iter()
        .filter(|c| c.available && c.weight > 0)
        .min_by(|a, b| {
            // (a.active + 1) / a.weight against (b.active + 1) / b.weight, without division.
            let left = u128::from(a.active + 1) * u128::from(b.weight);
            let right = u128::from(b.active + 1) * u128::from(a.weight);
            left.cmp(&right)
        })
        .map(|c| c.xcf)
}

/// HOTSTANDBY: all work to one target. The PREFERRED while it is available (and healthy, with
/// HEALTHSWITCH); otherwise the current target while it stays so; otherwise the highest-ranked
/// available BACKUP. With AUTOSWITCHBACK work returns to the PREFERRED as soon as it can take it;
/// without, it stays on the backup until that one fails.
pub fn hot_standby(
    candidates: &[Candidate],
    current: Option<Ipv4Addr>,
    auto_switch_back: bool,
    health_switch: bool,
) -> Option<Ipv4Addr> {
    let usable = |c: &&Candidate| c.available && (!health_switch || c.healthy);
    let preferred = candidates
        .iter()
        .filter(usable)
        .find(|c| c.server_type == Some(ServerType::Preferred));
    let current = current.and_then(|xcf| candidates.iter().filter(usable).find(|c| c.xcf == xcf));
    let best_backup = candidates
        .iter()
        .filter(usable)
        .filter_map(|c| match c.server_type {
            Some(ServerType::Backup(rank)) => Some((rank, c)),
            _ => None,
        })
        // Highest rank first; among equal ranks the lowest XCF address.
        .max_by(|(ra, a), (rb, b)| ra.cmp(rb).then(b.xcf.cmp(&a.xcf)))
        .map(|(_, c)| c);
    let choice = if auto_switch_back {
        preferred.or(current).or(best_backup)
    } else {
        current.or(preferred).or(best_backup)
    };
    choice.map(|c| c.xcf)
}

/// BASEWLM and SERVERWLM: a smooth weighted round robin over the TSR-scaled WLM weights, so each
/// target's share of new connections follows its weight and the picks interleave. `credit` keeps
/// each target's running credit between calls. When every available target has weight 0 the
/// choice falls back to round robin after `last`.
pub fn wlm(
    candidates: &[Candidate],
    credit: &mut BTreeMap<Ipv4Addr, i64>,
    last: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let weighted: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.available && c.wlm > 0)
        .collect();
    credit.retain(|xcf, _| weighted.iter().any(|c| c.xcf == *xcf));
    if weighted.is_empty() {
        return round_robin(candidates, last);
    }
    let total: i64 = weighted.iter().map(|c| i64::from(c.wlm)).sum();
    let mut best: Option<(Ipv4Addr, i64)> = None;
    for c in &weighted {
        let value = credit.entry(c.xcf).or_insert(0);
        *value += i64::from(c.wlm);
        if best.is_none_or(|(_, b)| *value > b) {
            best = Some((c.xcf, *value));
        }
    }
    let (xcf, _) = best?;
    if let Some(value) = credit.get_mut(&xcf) {
        *value -= total;
    }
    Some(xcf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xcf(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, last)
    }

    fn candidate(last: u8) -> Candidate {
        Candidate {
            xcf: xcf(last),
            available: true,
            healthy: true,
            active: 0,
            weight: 10,
            wlm: 1,
            server_type: None,
        }
    }

    #[test]
    fn round_robin_rotates_strictly_over_available_targets_only() {
        let mut candidates = vec![candidate(1), candidate(2), candidate(3), candidate(4)];
        candidates[2].available = false;
        let mut last = None;
        let mut picks = Vec::new();
        for _ in 0..7 {
            last = round_robin(&candidates, last);
            picks.push(last.map(|a| a.octets()[3]));
        }
        let expected: Vec<Option<u8>> = [1, 2, 4, 1, 2, 4, 1].into_iter().map(Some).collect();
        assert_eq!(picks, expected);
        for c in &mut candidates {
            c.available = false;
        }
        assert_eq!(round_robin(&candidates, last), None);
    }

    #[test]
    fn weighted_active_never_picks_a_zero_weight_and_favours_the_least_loaded_share() {
        let mut a = candidate(1);
        a.weight = 1;
        a.active = 1;
        let mut b = candidate(2);
        b.weight = 3;
        b.active = 2;
        let mut zero = candidate(3);
        zero.weight = 0;
        // a: 2/1 = 2, b: 3/3 = 1.
        assert_eq!(weighted_active(&[a, b, zero]), Some(xcf(2)));
        assert_eq!(weighted_active(&[zero]), None);
    }

    #[test]
    fn hot_standby_prefers_the_preferred_then_the_highest_ranked_backup() {
        let mut preferred = candidate(1);
        preferred.server_type = Some(ServerType::Preferred);
        let mut low = candidate(2);
        low.server_type = Some(ServerType::Backup(50));
        let mut high = candidate(3);
        high.server_type = Some(ServerType::Backup(200));
        let all = [preferred, low, high];
        assert_eq!(hot_standby(&all, None, true, true), Some(xcf(1)));
        let mut sick = all;
        sick[0].healthy = false;
        assert_eq!(hot_standby(&sick, Some(xcf(1)), true, true), Some(xcf(3)));
        // Without HEALTHSWITCH an unhealthy but ready PREFERRED keeps the work.
        assert_eq!(hot_standby(&sick, Some(xcf(1)), true, false), Some(xcf(1)));
        // NOAUTOSWITCHBACK stays on the backup in use; AUTOSWITCHBACK returns.
        assert_eq!(hot_standby(&all, Some(xcf(3)), false, true), Some(xcf(3)));
        assert_eq!(hot_standby(&all, Some(xcf(3)), true, true), Some(xcf(1)));
    }

    #[test]
    fn wlm_shares_follow_the_weights_and_interleave() {
        let mut a = candidate(1);
        a.wlm = 3;
        let mut b = candidate(2);
        b.wlm = 1;
        let mut credit = BTreeMap::new();
        let picks: Vec<u8> = (0..8)
            .filter_map(|_| wlm(&[a, b], &mut credit, None))
            .map(|x| x.octets()[3])
            .collect();
        assert_eq!(picks, vec![1, 1, 2, 1, 1, 1, 2, 1]);
    }

    #[test]
    fn wlm_with_all_weights_zero_falls_back_to_round_robin() {
        let mut a = candidate(1);
        a.wlm = 0;
        let mut b = candidate(2);
        b.wlm = 0;
        let mut credit = BTreeMap::new();
        assert_eq!(wlm(&[a, b], &mut credit, Some(xcf(1))), Some(xcf(2)));
    }
}
