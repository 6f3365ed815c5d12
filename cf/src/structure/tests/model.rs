//! Random operation sequences against a plain model of ordered lists and a lock table, with
//! restarts (a postcard round trip of the whole facility) in between.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;

use super::*;

const LISTS: u32 = 3;
const ENTRY_COUNT: u32 = 12;

#[derive(Clone, Debug)]
enum Op {
    Write {
        to: u32,
        k: u8,
        head: bool,
        data: Vec<u8>,
        keyed: bool,
    },
    Read {
        from: u32,
        tail: bool,
    },
    Delete {
        from: u32,
        tail: bool,
    },
    Move {
        from: u32,
        to: u32,
        head: bool,
    },
    ReadAll {
        from: u32,
        limit: u32,
    },
    DeleteKeys {
        from: u32,
        lo: u8,
        hi: u8,
        limit: u32,
    },
    Lock {
        who: usize,
        index: u32,
        set: bool,
        conditional: bool,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..LISTS, 0u8..4, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), any::<bool>())
            .prop_map(|(to, k, head, data, keyed)| Op::Write { to, k, head, data, keyed }),
        2 => (0..LISTS, any::<bool>()).prop_map(|(from, tail)| Op::Read { from, tail }),
        2 => (0..LISTS, any::<bool>()).prop_map(|(from, tail)| Op::Delete { from, tail }),
        2 => (0..LISTS, 0..LISTS, any::<bool>()).prop_map(|(from, to, head)| Op::Move { from, to, head }),
        1 => (0..LISTS, 1u32..4).prop_map(|(from, limit)| Op::ReadAll { from, limit }),
        1 => (0..LISTS, 0u8..4, 0u8..4, 1u32..4).prop_map(|(from, lo, hi, limit)| Op::DeleteKeys { from, lo, hi, limit }),
        2 => (0usize..2, 0u32..2, any::<bool>(), any::<bool>())
            .prop_map(|(who, index, set, conditional)| Op::Lock { who, index, set, conditional }),
        1 => Just(Op::Restart),
    ]
}

/// The reference: each list a sequence of (key, data); locks as holder plus FIFO of waiters.
#[derive(Default)]
struct Model {
    lists: BTreeMap<u32, Vec<(u8, Vec<u8>)>>,
    holders: BTreeMap<u32, usize>,
    waiters: BTreeMap<u32, VecDeque<usize>>,
}

impl Model {
    fn total(&self) -> usize {
        self.lists.values().map(Vec::len).sum()
    }

    fn insert(&mut self, to: u32, k: u8, head: bool, data: Vec<u8>) {
        let l = self.lists.entry(to).or_default();
        let at = if head {
            l.iter().position(|(key, _)| *key >= k).unwrap_or(l.len())
        } else {
            l.iter()
                .rposition(|(key, _)| *key <= k)
                .map_or(0, |i| i + 1)
        };
        l.insert(at, (k, data));
    }

    fn end_index(&self, from: u32, tail: bool) -> Option<usize> {
        let len = self.lists.get(&from).map_or(0, Vec::len);
        if len == 0 {
            None
        } else if tail {
            Some(len - 1)
        } else {
            Some(0)
        }
    }
}

fn contents(h: &Harness) -> BTreeMap<u32, Vec<(u8, Vec<u8>)>> {
    let s = h.structure();
    (0..LISTS)
        .map(|n| {
            let l = &s.lists()[usize::try_from(n).expect("small")];
            let entries = l
                .order
                .values()
                .filter_map(|leid| s.entry(*leid))
                .map(|e| (e.position.key.0[15], e.data.to_vec()))
                .collect();
            (n, entries)
        })
        .collect()
}

fn model_contents(m: &Model) -> BTreeMap<u32, Vec<(u8, Vec<u8>)>> {
    (0..LISTS)
        .map(|n| (n, m.lists.get(&n).cloned().unwrap_or_default()))
        .collect()
}

fn end(tail: bool) -> End {
    if tail { End::Tail } else { End::Head }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = Harness::new();
    let attrs = StructureAttrs {
        list_headers: LISTS,
        entry_count: ENTRY_COUNT,
        element_count: 64,
        lock_entries: 2,
        ..StructureAttrs::default()
    };
    let (a, _) = h.connect_with(
        1,
        "SYS1",
        connect_request("TESTSTR", Some("A"), attrs.clone()),
    );
    let (b, _) = h.connect_with(2, "SYS2", connect_request("TESTSTR", Some("B"), attrs));
    let conns = [a, b];
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Write {
                to,
                k,
                head,
                data,
                keyed,
            } => {
                let key_source = if keyed {
                    KeySource::Explicit(key(k))
                } else {
                    KeySource::Keep
                };
                let k = if keyed { k } else { 0 };
                let w = WriteEntry {
                    key: key_source,
                    end: end(!head),
                    ..new_entry(to, k, &data)
                };
                let o = h.op(a, ListOp::Write(w));
                let elements: usize = h.structure().elements_in_use().try_into().expect("small");
                let fits = m.total() < usize::try_from(ENTRY_COUNT).expect("small")
                    && elements + data.len().div_ceil(256) <= 64;
                prop_assert_eq!(o.reply.is_success(), fits, "write {:?}", o.reply);
                if fits {
                    m.insert(to, k, head, data);
                } else {
                    prop_assert_eq!(o.reply.reason, Reason::StrFull);
                }
            }
            Op::Read { from, tail } => {
                let o = h.op(
                    a,
                    ListOp::Read(ReadEntry {
                        locator: Locator::Position {
                            list: list(from),
                            end: end(tail),
                        },
                        cursor: None,
                        conditions: Conditions::default(),
                    }),
                );
                match m.end_index(from, tail) {
                    Some(i) => prop_assert_eq!(
                        entry_answer(&o).data.map(Vec::from),
                        m.lists.get(&from).map(|l| l[i].1.clone())
                    ),
                    None => prop_assert_eq!(o.reply.reason, Reason::NoEntry),
                }
            }
            Op::Delete { from, tail } => {
                let o = h.op(
                    b,
                    ListOp::Delete(DeleteEntry {
                        locator: Locator::Position {
                            list: list(from),
                            end: end(tail),
                        },
                        read: true,
                        conditions: Conditions::default(),
                    }),
                );
                match m.end_index(from, tail) {
                    Some(i) => {
                        let (_, data) = m.lists.entry(from).or_default().remove(i);
                        prop_assert_eq!(entry_answer(&o).data.map(Vec::from), Some(data));
                    }
                    None => prop_assert_eq!(o.reply.reason, Reason::NoEntry),
                }
            }
            Op::Move { from, to, head } => {
                let o = h.op(
                    a,
                    ListOp::Move(MoveEntry {
                        locator: Locator::Position {
                            list: list(from),
                            end: End::Head,
                        },
                        to: list(to),
                        end: end(!head),
                        key: KeySource::Keep,
                        read: false,
                        write: None,
                        conditions: Conditions::default(),
                    }),
                );
                match m.end_index(from, false) {
                    Some(i) => {
                        prop_assert!(o.reply.is_success());
                        let (k, data) = m.lists.entry(from).or_default().remove(i);
                        m.insert(to, k, head, data);
                    }
                    None => prop_assert_eq!(o.reply.reason, Reason::NoEntry),
                }
            }
            Op::ReadAll { from, limit } => {
                let mut restart = None;
                let mut seen = Vec::new();
                loop {
                    let o = h.op(
                        b,
                        ListOp::ReadList(MultiEntry {
                            list: list(from),
                            keys: None,
                            version: None,
                            lock: None,
                            limit,
                            restart,
                        }),
                    );
                    let ReplyBody::Entries(batch) = o.reply.body else {
                        return Err(TestCaseError::fail("no batch"));
                    };
                    prop_assert!(batch.entries.len() <= usize::try_from(limit).expect("small"));
                    seen.extend(batch.entries.into_iter().filter_map(|e| e.data));
                    restart = batch.restart;
                    if restart.is_none() {
                        break;
                    }
                }
                let expected: Vec<Vec<u8>> = m
                    .lists
                    .get(&from)
                    .map(|l| l.iter().map(|(_, d)| d.clone()).collect())
                    .unwrap_or_default();
                prop_assert_eq!(seen, expected);
            }
            Op::DeleteKeys {
                from,
                lo,
                hi,
                limit,
            } => {
                let mut restart = None;
                loop {
                    let o = h.op(
                        a,
                        ListOp::DeleteList(MultiEntry {
                            list: list(from),
                            keys: Some((key(lo), key(hi))),
                            version: None,
                            lock: None,
                            limit,
                            restart,
                        }),
                    );
                    if lo > hi {
                        prop_assert_eq!(
                            (o.reply.rc, o.reply.reason),
                            (ReturnCode::ParmError, Reason::BadParmList)
                        );
                        break;
                    }
                    let ReplyBody::Entries(batch) = o.reply.body else {
                        return Err(TestCaseError::fail("no batch"));
                    };
                    restart = batch.restart;
                    if restart.is_none() {
                        break;
                    }
                }
                if let Some(l) = m.lists.get_mut(&from) {
                    l.retain(|(k, _)| *k < lo || *k > hi);
                }
            }
            Op::Lock {
                who,
                index,
                set,
                conditional,
            } => {
                let c = conns[who];
                let oper = if set { LockOper::Set } else { LockOper::Reset };
                let o = h.op(
                    c,
                    ListOp::Lock(LockRequest {
                        index,
                        oper,
                        conditional,
                    }),
                );
                let holder = m.holders.get(&index).copied();
                match (set, holder) {
                    (true, None) => {
                        prop_assert!(o.reply.is_success());
                        m.holders.insert(index, who);
                    }
                    (true, Some(hd)) if hd == who => prop_assert!(o.reply.is_success()),
                    (true, Some(_)) if conditional => {
                        prop_assert_eq!(o.reply.reason, Reason::LockHeld)
                    }
                    (true, Some(_)) => {
                        prop_assert_eq!(o.reply.reason, Reason::Asynch);
                        m.waiters.entry(index).or_default().push_back(who);
                    }
                    (false, Some(hd)) if hd == who => {
                        prop_assert!(o.reply.is_success());
                        match m.waiters.get_mut(&index).and_then(VecDeque::pop_front) {
                            Some(next) => {
                                m.holders.insert(index, next);
                            }
                            None => {
                                m.holders.remove(&index);
                            }
                        }
                    }
                    (false, _) => prop_assert_eq!(o.reply.reason, Reason::LockNotOwned),
                }
                for i in 0..2 {
                    let expected = m.holders.get(&i).map(|w| conns[*w].conid);
                    prop_assert_eq!(h.structure().locks().holder(i), expected);
                }
            }
            Op::Restart => {
                let bytes = postcard::to_stdvec(&h.facility)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back: Facility =
                    postcard::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&back, &h.facility);
                h.facility = back;
            }
        }
        prop_assert_eq!(contents(&h), model_contents(&m));
        let total: u32 = h
            .structure()
            .lists()
            .iter()
            .map(|l| l.controls.entries)
            .sum();
        prop_assert_eq!(total, h.structure().entries_in_use());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn structure_agrees_with_a_plain_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

#[test]
fn replaying_the_mutating_requests_rebuilds_the_same_state() {
    let mut h = Harness::new();
    let mut log: Vec<(Ctx, Request)> = Vec::new();
    let (a, _) = h.connect_with(
        1,
        "SYS1",
        connect_request("TESTSTR", Some("A"), StructureAttrs::default()),
    );
    log.push((
        h.ctx(1, "SYS1"),
        Request::Connect(connect_request(
            "TESTSTR",
            Some("A"),
            StructureAttrs::default(),
        )),
    ));
    let requests = vec![
        ListOp::Write(new_entry(0, 3, b"x")),
        ListOp::Read(ReadEntry {
            locator: Locator::Position {
                list: list(0),
                end: End::Head,
            },
            cursor: None,
            conditions: Conditions::default(),
        }),
        ListOp::Lock(LockRequest {
            index: 1,
            oper: LockOper::Set,
            conditional: true,
        }),
        ListOp::Write(new_entry(1, 1, b"y")),
        ListOp::ReadListControls { list: list(1) },
    ];
    for op in requests {
        let request = Request::List { token: a.token, op };
        let ctx = h.ctx(1, "SYS1");
        let mutating = !request.is_read_only();
        h.facility.apply(&ctx, request.clone());
        if mutating {
            log.push((ctx, request));
        }
    }
    assert_eq!(log.len(), 4);
    let mut replayed = Facility::default();
    for (ctx, request) in log {
        replayed.apply(&ctx, request);
    }
    assert_eq!(replayed, h.facility);
}
