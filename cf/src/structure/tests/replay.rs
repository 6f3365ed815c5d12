//! Whole-facility properties over random request sequences from several links and systems,
//! connects, link drops, fencing and failure detection included: no panic, refused requests
//! change nothing, and replaying only the mutating requests rebuilds the same state with the
//! same outcomes (what the server's request log relies on).

use proptest::prelude::*;

use super::*;

#[derive(Clone, Debug)]
enum Step {
    NewLinks,
    Move {
        conn: usize,
        from: u32,
        to: u32,
        list_key: bool,
    },
    ListKeys {
        conn: usize,
        n: u32,
        key: u8,
        max: u8,
    },
    Connect {
        structure: bool,
        conname: Option<u8>,
        keep: bool,
        strkeep: bool,
    },
    Disconnect {
        conn: usize,
    },
    Release {
        conn: usize,
        conname: u8,
    },
    Write {
        conn: usize,
        to: u32,
        k: u8,
        lock: Option<(u32, bool)>,
    },
    Delete {
        conn: usize,
        from: u32,
    },
    Lock {
        conn: usize,
        index: u32,
        set: bool,
        conditional: bool,
    },
    Monitor {
        conn: usize,
        n: u32,
        k: u8,
    },
    Deq {
        conn: usize,
    },
    LinkDropped,
    Fence {
        system: bool,
    },
    Heartbeat,
    Expire {
        interval: u64,
    },
    Force {
        structure: bool,
    },
    Tick {
        micros: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<bool>(), proptest::option::of(0u8..3), any::<bool>(), any::<bool>())
            .prop_map(|(structure, conname, keep, strkeep)| Step::Connect { structure, conname, keep, strkeep }),
        1 => (0usize..8).prop_map(|conn| Step::Disconnect { conn }),
        1 => (0usize..8, 0u8..3).prop_map(|(conn, conname)| Step::Release { conn, conname }),
        4 => (0usize..8, 0u32..3, 0u8..3, proptest::option::of((0u32..2, any::<bool>())))
            .prop_map(|(conn, to, k, lock)| Step::Write { conn, to, k, lock }),
        2 => (0usize..8, 0u32..3).prop_map(|(conn, from)| Step::Delete { conn, from }),
        2 => (0usize..8, 0u32..3, 0u32..3, any::<bool>())
            .prop_map(|(conn, from, to, list_key)| Step::Move { conn, from, to, list_key }),
        1 => (0usize..8, 0u32..3, 0u8..3, 0u8..3)
            .prop_map(|(conn, n, key, max)| Step::ListKeys { conn, n, key, max }),
        2 => (0usize..8, 0u32..2, any::<bool>(), any::<bool>())
            .prop_map(|(conn, index, set, conditional)| Step::Lock { conn, index, set, conditional }),
        1 => (0usize..8, 0u32..3, 0u8..3).prop_map(|(conn, n, k)| Step::Monitor { conn, n, k }),
        1 => (0usize..8).prop_map(|conn| Step::Deq { conn }),
        1 => Just(Step::LinkDropped),
        2 => Just(Step::NewLinks),
        1 => any::<bool>().prop_map(|system| Step::Fence { system }),
        2 => Just(Step::Heartbeat),
        1 => (1u64..20_000_000).prop_map(|interval| Step::Expire { interval }),
        1 => any::<bool>().prop_map(|structure| Step::Force { structure }),
        2 => (0u64..3_000_000).prop_map(|micros| Step::Tick { micros }),
    ]
}

/// The link and system a step is sent from: of each generation of four links, the first and
/// third are SYS1's, the others SYS2's (a new generation is a re-IPL on new links).
fn origin(selector: u8, generation: u64) -> (u64, &'static str) {
    let system = if selector.is_multiple_of(2) {
        "SYS1"
    } else {
        "SYS2"
    };
    (generation * 4 + u64::from(selector % 4) + 1, system)
}

/// One of the four most recent of `len` connections (older ones are mostly gone).
fn pick(len: usize, i: usize) -> Option<usize> {
    len.checked_sub(1 + i % len.clamp(1, 4))
}

/// The connection a step uses, if any.
fn conn_of(step: &Step) -> Option<usize> {
    match *step {
        Step::Disconnect { conn }
        | Step::Release { conn, .. }
        | Step::Write { conn, .. }
        | Step::Delete { conn, .. }
        | Step::Move { conn, .. }
        | Step::ListKeys { conn, .. }
        | Step::Lock { conn, .. }
        | Step::Monitor { conn, .. }
        | Step::Deq { conn } => Some(conn),
        _ => None,
    }
}

fn structure_name(second: bool) -> StrName {
    strname(if second { "STRB" } else { "STRA" })
}

fn conname(n: u8) -> ConName {
    ConName::new(&format!("CONN{n}")).expect("valid conname")
}

/// Turns a step into a request, using tokens seen in earlier replies.
fn request(step: &Step, tokens: &[ConToken]) -> Option<Request> {
    let token = |i: usize| pick(tokens.len(), i).and_then(|i| tokens.get(i)).copied();
    let op = |conn: usize, op: ListOp| token(conn).map(|token| Request::List { token, op });
    match step.clone() {
        Step::Connect {
            structure,
            conname: name,
            keep,
            strkeep,
        } => {
            let attrs = StructureAttrs {
                list_headers: 3,
                lock_entries: 2,
                entry_count: 6,
                emc_count: 3,
                ..StructureAttrs::default()
            };
            Some(Request::Connect(ConnectRequest {
                structure: structure_name(structure),
                conname: name.map(conname),
                attrs,
                condisp: if keep && name.is_some() {
                    ConDisp::Keep
                } else {
                    ConDisp::Delete
                },
                strdisp: if strkeep {
                    StrDisp::Keep
                } else {
                    StrDisp::Delete
                },
                vector_len: 8,
                jobname: "TCPIP".into(),
                asid: 0x30,
            }))
        }
        Step::Disconnect { conn } => token(conn).map(|token| Request::Disconnect { token }),
        Step::Release { conn, conname: n } => token(conn).map(|token| Request::ReleaseConnection {
            token,
            conname: conname(n),
        }),
        Step::Write { conn, to, k, lock } => {
            let conditions = Conditions {
                lock: lock.map(|(index, set)| LockRequest {
                    index,
                    oper: if set {
                        LockOper::Set
                    } else {
                        LockOper::NotHeld
                    },
                    conditional: false,
                }),
                ..Conditions::default()
            };
            op(
                conn,
                ListOp::Write(WriteEntry {
                    conditions,
                    ..new_entry(to, k, &[k; 3])
                }),
            )
        }
        Step::Delete { conn, from } => op(
            conn,
            ListOp::Delete(DeleteEntry {
                locator: Locator::Position {
                    list: list(from),
                    end: End::Head,
                },
                read: true,
                conditions: Conditions::default(),
            }),
        ),
        Step::Move {
            conn,
            from,
            to,
            list_key,
        } => op(
            conn,
            ListOp::Move(MoveEntry {
                locator: Locator::Position {
                    list: list(from),
                    end: End::Head,
                },
                to: list(to),
                end: End::Tail,
                key: if list_key {
                    KeySource::ListKey { increment: true }
                } else {
                    KeySource::Keep
                },
                read: false,
                write: Some((vec![7; 300], None)),
                conditions: Conditions::default(),
            }),
        ),
        Step::ListKeys {
            conn,
            n,
            key: k,
            max,
        } => op(
            conn,
            ListOp::WriteListControls(WriteListControls {
                list: list(n),
                authority: AuthorityCheck {
                    compare: Compare::Equal,
                    value: Authority::default(),
                    new: None,
                },
                limit: Some(u32::from(max) + 1),
                description: None,
                list_key: Some(key(k)),
                max_list_key: Some(key(max)),
                cursor: None,
            }),
        ),
        Step::Lock {
            conn,
            index,
            set,
            conditional,
        } => op(
            conn,
            ListOp::Lock(LockRequest {
                index,
                oper: if set { LockOper::Set } else { LockOper::Reset },
                conditional,
            }),
        ),
        Step::Monitor { conn, n, k } => op(
            conn,
            ListOp::MonitorSublist(MonitorSublist {
                list: list(n),
                key: key(k),
                action: MonitorAction::Start,
                user_data: [k; 16],
            }),
        ),
        Step::Deq { conn } => op(conn, ListOp::DeqEventQueue { max: 2 }),
        Step::LinkDropped => Some(Request::LinkDropped),
        Step::Fence { system } => Some(Request::Fence {
            system: sys(if system { "SYS2" } else { "SYS1" }),
        }),
        Step::Heartbeat => Some(Request::Heartbeat),
        Step::Expire { interval } => Some(Request::Expire { interval }),
        Step::Force { structure } => Some(Request::Force {
            structure: structure_name(structure),
        }),
        Step::Tick { .. } | Step::NewLinks => None,
    }
}

fn run(steps: Vec<(u8, Step)>) -> Result<(), TestCaseError> {
    let mut facility = Facility::default();
    let mut now = 1_000_000u64;
    let mut tokens = Vec::new();
    let mut origins: Vec<(u64, &'static str)> = Vec::new();
    let mut generation = 0;
    let mut log: Vec<(Ctx, Request, Outcome)> = Vec::new();
    for (selector, step) in steps {
        match step {
            Step::Tick { micros } => now += micros,
            Step::NewLinks => generation += 1,
            _ => {}
        }
        let Some(request) = request(&step, &tokens) else {
            continue;
        };
        // Mostly from the connection's own link; sometimes from any link, to be refused.
        let own = conn_of(&step)
            .filter(|_| selector & 0xC0 != 0xC0)
            .and_then(|c| pick(origins.len(), c))
            .and_then(|i| origins.get(i).copied());
        let (link, system) = own.unwrap_or_else(|| origin(selector, generation));
        let ctx = Ctx {
            link: LinkId(link),
            system: sys(system),
            now: Tod(now),
        };
        let before = facility.clone();
        let mutating = !request.is_read_only();
        let outcome = facility.apply(&ctx, request.clone());
        if !outcome.reply.is_success() {
            prop_assert_eq!(
                &facility,
                &before,
                "refused {:?} changed the facility",
                request
            );
        }
        if !mutating {
            prop_assert_eq!(
                &facility,
                &before,
                "read-only {:?} changed the facility",
                request
            );
        }
        if let ReplyBody::Connected(c) = &outcome.reply.body {
            tokens.push(c.token);
            origins.push((link, system));
        }
        if mutating {
            log.push((ctx, request, outcome));
        }
    }
    let mut replayed = Facility::default();
    for (ctx, request, outcome) in log {
        prop_assert_eq!(replayed.apply(&ctx, request), outcome);
    }
    prop_assert_eq!(&replayed, &facility);
    let bytes = postcard::to_stdvec(&facility).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Facility =
        postcard::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back, facility);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn replaying_mutating_requests_gives_the_same_outcomes_and_state(
        steps in proptest::collection::vec((any::<u8>(), step()), 1..80)
    ) {
        run(steps)?;
    }
}
