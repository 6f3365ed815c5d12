//! The `ipsec` command of an LPAR's stack: `ipsec -k display` (IKE tunnels), `ipsec -y
//! display` (dynamic tunnels) and `ipsec -f display` (filters), rendered by
//! [`stacks::ipsec::display`] from the stack's IPSec state, with the heading's time of day.

use stacks::ipsec::{IpsecService, display};

/// Which `ipsec` display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpsecDisplay {
    /// `-k display`: the IKE (phase 1) tunnels, `Kn`.
    IkeTunnels,
    /// `-y display`: the dynamic (phase 2) tunnels, `Yn`.
    DynamicTunnels,
    /// `-f display`: the filters (IPSECRULEs both ways, then the dynamic filters).
    Filters,
}

/// Renders `which` for the stack `tcpname` (DVIPSEC on or off) from `service`, at `now`
/// (seconds since 1970-01-01 UTC).
pub fn render(
    which: IpsecDisplay,
    tcpname: &str,
    dvipsec: bool,
    service: &IpsecService,
    now: u64,
) -> String {
    let heading = display::Heading {
        stack: tcpname.to_owned(),
        time: asctime(now),
        dvipsec,
    };
    let ike = service.daemon_state().ike_tunnels;
    let state = service.state();
    match which {
        IpsecDisplay::IkeTunnels => display::ike_tunnels(&heading, &ike),
        IpsecDisplay::DynamicTunnels => {
            let children: Vec<_> = state
                .sad
                .children()
                .iter()
                .map(|c| (c.clone(), state.sad.counters(c.inbound_spi)))
                .collect();
            display::dynamic_tunnels(&heading, &children, &ike)
        }
        IpsecDisplay::Filters => display::filters(&heading, &state.spd, state.sad.children()),
    }
}

/// The time as C's `asctime` writes it, as the `ipsec` heading shows it:
/// `Sun Nov 22 08:00:00 2026`.
pub fn asctime(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday =
        usize::try_from(days % 7).map_or("???", |d| DAYS.get(d).copied().unwrap_or("???"));
    let month = usize::try_from(month)
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("???");
    let time = secs % 86_400;
    format!(
        "{weekday} {month} {day:>2} {:02}:{:02}:{:02} {year}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// days-to-civil).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asctime_writes_the_day_month_and_time_as_the_ipsec_heading() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        // 2026-11-22 08:00:00 UTC, a Sunday.
        assert_eq!(asctime(1_795_334_400), "Sun Nov 22 08:00:00 2026");
        // 2024-02-29 23:59:59 UTC, a Thursday in a leap year.
        assert_eq!(asctime(1_709_251_199), "Thu Feb 29 23:59:59 2024");
    }
}
