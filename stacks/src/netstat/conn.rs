//! `NETSTAT CONN`: the stack's TCP listeners and connections.
//!
//! ```text
//! User Id  Conn     Local Socket           Foreign Socket         State
//! -------  ----     ------------           --------------         -----
//! ECHOSRV  00000002 0.0.0.0..7             0.0.0.0..0             Listen
//! ```

use std::net::SocketAddrV4;

use super::{header, lines};
use crate::dvipa::model::ActTime;
use crate::stack::netstat::ConnectionInfo;

/// A socket as NETSTAT prints it: `address..port`.
pub fn socket(addr: SocketAddrV4) -> String {
    format!("{}..{}", addr.ip(), addr.port())
}

/// The report; connections in connection-number order.
pub fn report(tcpname: &str, now: ActTime, connections: &[ConnectionInfo]) -> String {
    let mut sorted: Vec<&ConnectionInfo> = connections.iter().collect();
    sorted.sort_by_key(|c| c.conn_id);
    let head = [
        header(tcpname, now),
        "User Id  Conn     Local Socket           Foreign Socket         State".to_owned(),
        "-------  ----     ------------           --------------         -----".to_owned(),
    ];
    let rows = sorted.into_iter().map(|c| {
        format!(
            "{:<9}{:<9}{:<23}{:<23}{}",
            c.owner,
            c.conn_id.to_string(),
            socket(c.local),
            socket(c.foreign),
            c.state.netstat_name()
        )
    });
    lines(head.into_iter().chain(rows))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn prints_sockets_with_two_dots() {
        assert_eq!(
            socket(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 50), 1064)),
            "192.0.2.50..1064"
        );
    }
}
