//! Structure full monitoring: IXC585E when usage reaches FULLTHRESHOLD, IXC586I when it drops
//! back below.

use super::instance::ListStructure;
use super::reply::Delivery;

impl ListStructure {
    /// The physical structure version: the allocation time in TOD clock format (bit 51 is one
    /// microsecond) with the allocation number in the low bits.
    pub fn physical_version(&self) -> u64 {
        (self.allocated_at.0 << 12) | u64::from(self.allocation & 0xFFF)
    }

    /// Issues IXC585E or IXC586I when usage crosses the threshold.
    pub(crate) fn check_full_threshold(&mut self, cfname: &str, out: &mut Vec<Delivery>) {
        let threshold = u32::from(self.attrs.full_threshold);
        if threshold == 0 {
            return;
        }
        let above = self.percent_full() >= threshold;
        if above == self.above_full_threshold {
            return;
        }
        self.above_full_threshold = above;
        let header = self.full_message_header(cfname);
        let text = if above {
            let usage = |what: &str, used: u32, total: u32| {
                let pct = u64::from(used) * 100 / u64::from(total.max(1));
                format!("\n {what:<9} IN-USE: {used:>10} TOTAL: {total:>10}, {pct:>3}% FULL")
            };
            format!(
                "IXC585E {header}\n IS AT OR ABOVE STRUCTURE FULL MONITORING THRESHOLD OF {threshold}%.{}{}",
                usage("ENTRIES:", self.entries_in_use(), self.attrs.entry_count),
                usage("ELEMENTS:", self.elements_in_use, self.attrs.element_count),
            )
        } else {
            format!("IXC586I {header}\n IS NOW BELOW STRUCTURE FULL MONITORING THRESHOLD.")
        };
        out.push(Delivery::Console { text });
    }

    fn full_message_header(&self, cfname: &str) -> String {
        let version = self.physical_version();
        format!(
            "STRUCTURE {} IN COUPLING FACILITY {cfname},\n PHYSICAL STRUCTURE VERSION {:08X} {:08X},",
            self.name,
            version >> 32,
            version & 0xFFFF_FFFF
        )
    }
}
