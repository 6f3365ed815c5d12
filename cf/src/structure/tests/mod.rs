//! Behaviour tests of the whole model through `Facility::apply`, and the model-based proptest.

mod connections;
mod dumps;
mod entries;
mod locks;
mod model;
mod monitoring;
mod replay;

use super::*;

/// A facility and the helpers to drive it as connectors on links.
pub(super) struct Harness {
    pub facility: Facility,
    pub now: u64,
}

/// A connector: its link, system and token.
#[derive(Clone, Copy, Debug)]
pub(super) struct Conn {
    pub link: u64,
    pub system: &'static str,
    pub token: ConToken,
    pub conid: ConId,
}

pub(super) fn key(n: u8) -> EntryKey {
    let mut k = [0u8; 16];
    k[15] = n;
    EntryKey(k)
}

pub(super) fn list(n: u32) -> ListNumber {
    ListNumber(n)
}

pub(super) fn sys(name: &str) -> SysName {
    SysName::new(name).expect("valid system name")
}

pub(super) fn strname(name: &str) -> StrName {
    StrName::new(name).expect("valid structure name")
}

pub(super) fn connect_request(
    name: &str,
    conname: Option<&str>,
    attrs: StructureAttrs,
) -> ConnectRequest {
    ConnectRequest {
        structure: strname(name),
        conname: conname.map(|n| ConName::new(n).expect("valid conname")),
        attrs,
        condisp: if conname.is_some() {
            ConDisp::Keep
        } else {
            ConDisp::Delete
        },
        strdisp: StrDisp::Delete,
        vector_len: 32,
        jobname: "TCPIP".into(),
        asid: 0x40,
    }
}

/// A NEW write of `data` with `key` at the tail of `list`.
pub(super) fn new_entry(to: u32, k: u8, data: &[u8]) -> WriteEntry {
    WriteEntry {
        entry_type: EntryType::New,
        list: list(to),
        locator: None,
        name: None,
        leid: None,
        key: KeySource::Explicit(key(k)),
        end: End::Tail,
        data: data.to_vec(),
        adjunct: None,
        conditions: Conditions::default(),
    }
}

impl Harness {
    pub fn new() -> Self {
        Self {
            facility: Facility::default(),
            now: 1_000_000,
        }
    }

    pub fn ctx(&self, link: u64, system: &str) -> Ctx {
        Ctx {
            link: LinkId(link),
            system: sys(system),
            now: Tod(self.now),
        }
    }

    pub fn apply(&mut self, link: u64, system: &str, request: Request) -> Outcome {
        let ctx = self.ctx(link, system);
        self.facility.apply(&ctx, request)
    }

    /// Connects and returns the connector; panics (test failure) when refused.
    pub fn connect_with(
        &mut self,
        link: u64,
        system: &'static str,
        request: ConnectRequest,
    ) -> (Conn, Outcome) {
        let outcome = self.apply(link, system, Request::Connect(request));
        let ReplyBody::Connected(c) = &outcome.reply.body else {
            panic!("connect refused: {:?}", outcome.reply);
        };
        let conn = Conn {
            link,
            system,
            token: c.token,
            conid: c.conid,
        };
        (conn, outcome)
    }

    pub fn connect(&mut self, link: u64, system: &'static str, conname: &str) -> Conn {
        self.connect_with(
            link,
            system,
            connect_request("TESTSTR", Some(conname), StructureAttrs::default()),
        )
        .0
    }

    pub fn op(&mut self, conn: Conn, op: ListOp) -> Outcome {
        self.apply(
            conn.link,
            conn.system,
            Request::List {
                token: conn.token,
                op,
            },
        )
    }

    pub fn structure(&self) -> &ListStructure {
        self.facility
            .structure(&strname("TESTSTR"))
            .expect("TESTSTR allocated")
    }

    /// The data of `list`'s entries in list order.
    pub fn contents(&self, n: u32) -> Vec<Vec<u8>> {
        let s = self.structure();
        s.lists()[usize::try_from(n).expect("small")]
            .order
            .values()
            .filter_map(|leid| s.entry(*leid).map(|e| e.data.to_vec()))
            .collect()
    }
}

/// The reply's reason, for short assertions.
pub(super) fn reason(outcome: &Outcome) -> Reason {
    outcome.reply.reason
}

/// The entry answer of a reply.
pub(super) fn entry_answer(outcome: &Outcome) -> EntryAnswer {
    match &outcome.reply.body {
        ReplyBody::Entry(answer) => answer.clone(),
        other => panic!("no entry in {other:?}"),
    }
}

/// Events delivered to `conn`, in order.
pub(super) fn events_for(outcome: &Outcome, conn: Conn) -> Vec<Event> {
    outcome
        .deliveries
        .iter()
        .filter_map(|d| match d {
            Delivery::Event { to, event } if to.token == conn.token => Some(event.clone()),
            _ => None,
        })
        .collect()
}
