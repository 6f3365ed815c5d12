//! Connection listing data of a stack, the raw material of `NETSTAT CONN`.

use std::fmt;
use std::net::SocketAddrV4;

use smoltcp::socket::tcp;

/// A connection number, as NETSTAT prints it (`Conn` column, eight hex digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}

/// The state of a TCP connection (RFC 793 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    /// LISTEN.
    Listen,
    /// SYN-SENT.
    SynSent,
    /// SYN-RECEIVED.
    SynReceived,
    /// ESTABLISHED.
    Established,
    /// FIN-WAIT-1.
    FinWait1,
    /// FIN-WAIT-2.
    FinWait2,
    /// CLOSE-WAIT.
    CloseWait,
    /// CLOSING.
    Closing,
    /// LAST-ACK.
    LastAck,
    /// TIME-WAIT.
    TimeWait,
    /// CLOSED.
    Closed,
}

impl TcpState {
    /// The abbreviation the TSO and z/OS UNIX NETSTAT reports print (`Establsh`, `ClosWait`,
    /// ...; "TCP connection status" in the IP System Administrator's Commands).
    pub fn netstat_name(self) -> &'static str {
        match self {
            Self::Listen => "Listen",
            Self::SynSent => "SynSent",
            Self::SynReceived => "SynRcvd",
            Self::Established => "Establsh",
            Self::FinWait1 => "FinWait1",
            Self::FinWait2 => "FinWait2",
            Self::CloseWait => "ClosWait",
            Self::Closing => "Closing",
            Self::LastAck => "LastAck",
            Self::TimeWait => "TimeWait",
            Self::Closed => "Closed",
        }
    }
}

impl From<tcp::State> for TcpState {
    fn from(state: tcp::State) -> Self {
        match state {
            tcp::State::Closed => Self::Closed,
            tcp::State::Listen => Self::Listen,
            tcp::State::SynSent => Self::SynSent,
            tcp::State::SynReceived => Self::SynReceived,
            tcp::State::Established => Self::Established,
            tcp::State::FinWait1 => Self::FinWait1,
            tcp::State::FinWait2 => Self::FinWait2,
            tcp::State::CloseWait => Self::CloseWait,
            tcp::State::Closing => Self::Closing,
            tcp::State::LastAck => Self::LastAck,
            tcp::State::TimeWait => Self::TimeWait,
        }
    }
}

/// The state column of a line of the listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConnState {
    /// A TCP listener or connection.
    Tcp(TcpState),
    /// A UDP socket (NETSTAT prints `UDP` in the state column).
    Udp,
}

impl ConnState {
    /// What the NETSTAT state column prints.
    pub fn netstat_name(self) -> &'static str {
        match self {
            Self::Tcp(state) => state.netstat_name(),
            Self::Udp => "UDP",
        }
    }
}

/// One line of the connection listing: a TCP listener or connection, or a UDP socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection number.
    pub conn_id: ConnId,
    /// The owning application (the `User Id` column: a job name such as `ECHOSRV`).
    pub owner: String,
    /// The local socket (0.0.0.0 for a listener on every address).
    pub local: SocketAddrV4,
    /// The foreign socket (0.0.0.0:0 for a listener or a UDP socket).
    pub foreign: SocketAddrV4,
    /// The state.
    pub state: ConnState,
    /// Bytes received from the peer and handed to the application.
    pub bytes_in: u64,
    /// Bytes the application sent.
    pub bytes_out: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_conn_ids_as_eight_hex_digits() {
        assert_eq!(ConnId(0x2a).to_string(), "0000002A");
    }

    #[test]
    fn uses_the_netstat_abbreviations() {
        assert_eq!(
            TcpState::from(tcp::State::Established).netstat_name(),
            "Establsh"
        );
        assert_eq!(
            TcpState::from(tcp::State::CloseWait).netstat_name(),
            "ClosWait"
        );
        assert_eq!(
            TcpState::from(tcp::State::SynReceived).netstat_name(),
            "SynRcvd"
        );
    }
}
