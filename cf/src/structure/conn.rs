//! The connections to one structure: CONTOKEN, CONNAME, CONID, version and state.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::attrs::ConDisp;
use super::ids::{ConId, ConName, ConToken, LinkId, SysName, Tod};

/// A connection's state, as IXC360I shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnState {
    /// Connected and usable.
    Active,
    /// Failed with CONDISP=KEEP: keeps its name and CONID until released or reconnected.
    FailedPersistent,
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Active => "ACTIVE",
            Self::FailedPersistent => "FAILED-PERSISTENT",
        })
    }
}

/// One connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// CONNAME.
    pub conname: ConName,
    /// CONID.
    pub conid: ConId,
    /// Connection version: bumped each time the CONID is (re)used.
    pub version: u32,
    /// CONTOKEN of the current (or last) incarnation.
    pub token: ConToken,
    /// The CF link it is on.
    pub link: LinkId,
    /// The system it connected from.
    pub system: SysName,
    /// Job name, for displays.
    pub jobname: String,
    /// Address space id, for displays.
    pub asid: u16,
    /// CONDISP.
    pub condisp: ConDisp,
    /// State.
    pub state: ConnState,
    /// When it connected.
    pub connected_at: Tod,
    /// The list notification vector (VECTORLEN bits).
    pub vector: Vec<bool>,
}

/// The connections of one structure, by CONID.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connections {
    by_conid: BTreeMap<ConId, Connection>,
    /// The last version given to each CONID, so versions grow across reuse.
    versions: BTreeMap<ConId, u32>,
}

impl Connections {
    /// All connections, by CONID.
    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.by_conid.values()
    }

    /// Active connections, by CONID.
    pub fn active(&self) -> impl Iterator<Item = &Connection> {
        self.iter().filter(|c| c.state == ConnState::Active)
    }

    /// Whether there are no connections, active or failed-persistent.
    pub fn is_empty(&self) -> bool {
        self.by_conid.is_empty()
    }

    /// The connection with `conid`.
    pub fn get(&self, conid: ConId) -> Option<&Connection> {
        self.by_conid.get(&conid)
    }

    /// The connection with `conid`, mutably.
    pub fn get_mut(&mut self, conid: ConId) -> Option<&mut Connection> {
        self.by_conid.get_mut(&conid)
    }

    /// The active connection holding `token`.
    pub fn by_token(&self, token: ConToken) -> Option<&Connection> {
        self.by_conid
            .get(&token.conid()?)
            .filter(|c| c.token == token && c.state == ConnState::Active)
    }

    /// The connection named `conname`.
    pub fn by_name(&self, conname: &ConName) -> Option<&Connection> {
        self.iter().find(|c| &c.conname == conname)
    }

    /// The lowest free CONID up to `max_conn`.
    pub fn free_conid(&self, max_conn: u8) -> Option<ConId> {
        (1..=max_conn)
            .map(ConId)
            .find(|id| !self.by_conid.contains_key(id))
    }

    /// The next version for `conid`.
    pub fn next_version(&mut self, conid: ConId) -> u32 {
        let version = self.versions.entry(conid).or_insert(0);
        *version = version.wrapping_add(1);
        *version
    }

    /// Adds (or replaces, on reconnect) a connection.
    pub fn insert(&mut self, connection: Connection) {
        self.by_conid.insert(connection.conid, connection);
    }

    /// Removes a connection.
    pub fn remove(&mut self, conid: ConId) -> Option<Connection> {
        self.by_conid.remove(&conid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(conid: u8, state: ConnState) -> Connection {
        Connection {
            conname: ConName::new(&format!("C{conid}")).expect("valid name"),
            conid: ConId(conid),
            version: 1,
            token: ConToken::new(1, u32::from(conid), ConId(conid), 1),
            link: LinkId(1),
            system: SysName::new("SYS1").expect("valid name"),
            jobname: "TCPIP".into(),
            asid: 0x40,
            condisp: ConDisp::Keep,
            state,
            connected_at: Tod(0),
            vector: Vec::new(),
        }
    }

    #[test]
    fn gives_the_lowest_free_conid() {
        let mut conns = Connections::default();
        conns.insert(connection(1, ConnState::Active));
        conns.insert(connection(3, ConnState::FailedPersistent));
        assert_eq!(conns.free_conid(32), Some(ConId(2)));
        conns.insert(connection(2, ConnState::Active));
        assert_eq!(conns.free_conid(3), None);
    }

    #[test]
    fn failed_persistent_connections_hold_no_usable_token() {
        let mut conns = Connections::default();
        let failed = connection(3, ConnState::FailedPersistent);
        let token = failed.token;
        conns.insert(failed);
        assert!(conns.by_token(token).is_none());
        assert_eq!(conns.active().count(), 0);
    }

    #[test]
    fn versions_grow_across_reuse_of_a_conid() {
        let mut conns = Connections::default();
        assert_eq!(conns.next_version(ConId(1)), 1);
        assert_eq!(conns.next_version(ConId(1)), 2);
        assert_eq!(conns.next_version(ConId(2)), 1);
    }
}
