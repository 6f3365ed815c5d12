//! `NETSTAT HOME`: the stack's HOME list.
//!
//! ```text
//! Home address list:
//! Address          Link             Flg
//! -------          ----             ---
//! 192.0.2.21       OSAQDIO1         P
//! 198.51.100.30    VIPLC633641E
//! 127.0.0.1        LOOPBACK
//! ```
//! Flag `P` marks the primary interface, `I` a DVIPA held only as a distributor target.

use std::net::Ipv4Addr;

use super::{dvipa_link_name, header, lines};
use crate::datapath::addresses::{AddressBook, DvipaRole};
use crate::dvipa::model::ActTime;

/// One HOME list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeAddress {
    /// The address.
    pub addr: Ipv4Addr,
    /// The link (interface) name.
    pub link: String,
    /// The flags (`P`, `I` or empty).
    pub flags: &'static str,
}

/// The HOME list of a stack whose LAN interface is `lan_link`: its HOME addresses (the first
/// is primary), its DVIPAs (`VIPLxxxxxxxx`, flag `I` when held as a target), the loopback.
pub fn home_list(book: &AddressBook, lan_link: &str) -> Vec<HomeAddress> {
    let home = book.home().iter().enumerate().map(|(i, cidr)| HomeAddress {
        addr: cidr.address(),
        link: lan_link.to_owned(),
        flags: if i == 0 { "P" } else { "" },
    });
    let dvipas = book.dvipas().map(|(addr, role)| HomeAddress {
        addr,
        link: dvipa_link_name(addr),
        flags: match role {
            DvipaRole::Advertised => "",
            DvipaRole::Target => "I",
        },
    });
    let loopback = HomeAddress {
        addr: Ipv4Addr::LOCALHOST,
        link: "LOOPBACK".to_owned(),
        flags: "",
    };
    home.chain(dvipas).chain([loopback]).collect()
}

/// The report.
pub fn report(tcpname: &str, now: ActTime, entries: &[HomeAddress]) -> String {
    let head = [
        header(tcpname, now),
        "Home address list:".to_owned(),
        "Address          Link             Flg".to_owned(),
        "-------          ----             ---".to_owned(),
    ];
    let rows = entries
        .iter()
        .map(|e| format!("{:<17}{:<17}{}", e.addr.to_string(), e.link, e.flags));
    lines(head.into_iter().chain(rows))
}

#[cfg(test)]
mod tests {
    use smoltcp::wire::Ipv4Cidr;

    use super::*;

    #[test]
    fn lists_home_then_dvipas_then_loopback() {
        let mut book = AddressBook::new(vec![Ipv4Cidr::new(Ipv4Addr::new(192, 0, 2, 21), 24)]);
        book.set_dvipa(Ipv4Addr::new(198, 51, 100, 30), DvipaRole::Advertised);
        book.set_dvipa(Ipv4Addr::new(198, 51, 100, 31), DvipaRole::Target);
        let list = home_list(&book, "OSAQDIO1");
        let flags: Vec<(&str, &str)> = list.iter().map(|e| (e.link.as_str(), e.flags)).collect();
        assert_eq!(
            flags,
            vec![
                ("OSAQDIO1", "P"),
                ("VIPLC633641E", ""),
                ("VIPLC633641F", "I"),
                ("LOOPBACK", "")
            ]
        );
    }
}
