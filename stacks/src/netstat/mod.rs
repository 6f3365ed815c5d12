//! NETSTAT reports and the `D TCPIP,,SYSPLEX,VIPADYN` display, in the z/OS layouts (TSO
//! NETSTAT short format, IPv4), as pure functions of the data they show and an injected time.
//!
//! - [`home`]: `NETSTAT HOME` (`-h`).
//! - [`conn`]: `NETSTAT CONN` (`-c`).
//! - [`vipadcfg`]: `NETSTAT VIPADCFG` (`-F`).
//! - [`vipadyn`]: `NETSTAT VIPADYN` (`-v`) and `D TCPIP,,SYSPLEX,VIPADYN` (EZZ8260I).

pub mod conn;
pub mod home;
pub mod vipadcfg;
pub mod vipadyn;

use std::net::Ipv4Addr;

use crate::dvipa::model::ActTime;

/// The release the reports claim to come from.
pub const RELEASE: &str = "CS V2R4";

/// The first line of every report: `MVS TCP/IP NETSTAT CS V2R4       TCPIP Name: TCPCS           18:23:46`.
pub fn header(tcpname: &str, now: ActTime) -> String {
    format!(
        "MVS TCP/IP NETSTAT {RELEASE}       TCPIP Name: {tcpname:<16}{}",
        now.clock()
    )
}

/// The lines a report starts with when the stack is not in its sysplex group: EZZ2502I and
/// EZZ2503I (texts reconstructed).
pub fn not_in_group(tcpname: &str) -> [String; 2] {
    [
        format!("EZZ2502I Stack {tcpname} is not a member of the sysplex group"),
        format!("EZZ2503I All Dynamic VIPA configuration for {tcpname} is inactive"),
    ]
}

/// The HOME link name of a DVIPA: `VIPL` and the address in hex (`VIPLC633641E`).
pub fn dvipa_link_name(addr: Ipv4Addr) -> String {
    let [a, b, c, d] = addr.octets();
    format!("VIPL{a:02X}{b:02X}{c:02X}{d:02X}")
}

/// The dotted mask of a prefix length.
pub fn mask(prefix_len: u8) -> Ipv4Addr {
    let bits = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(bits)
}

/// Joins report lines, each ending in a newline, right-trimmed.
fn lines(lines: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_the_stack_name_in_the_header() {
        assert_eq!(
            header("TCPCS", ActTime(66_226)),
            "MVS TCP/IP NETSTAT CS V2R4       TCPIP Name: TCPCS           18:23:46"
        );
    }

    #[test]
    fn names_dvipa_links_by_hex_address_and_prints_masks() {
        assert_eq!(
            dvipa_link_name(Ipv4Addr::new(198, 51, 100, 30)),
            "VIPLC633641E"
        );
        assert_eq!(mask(28), Ipv4Addr::new(255, 255, 255, 240));
        assert_eq!(mask(32), Ipv4Addr::BROADCAST);
        assert_eq!(mask(0), Ipv4Addr::UNSPECIFIED);
    }
}
