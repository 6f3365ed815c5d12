//! The lock table: SET, RESET, TEST, NOTHELD, HELDBY, queues, notify and completions.

use super::*;

fn lock(index: u32, oper: LockOper, conditional: bool) -> ListOp {
    ListOp::Lock(LockRequest {
        index,
        oper,
        conditional,
    })
}

fn two() -> (Harness, Conn, Conn) {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    let b = h.connect(2, "SYS2", "B");
    (h, a, b)
}

fn completions(outcome: &Outcome) -> Vec<(ConToken, Ticket, Reply)> {
    outcome
        .deliveries
        .iter()
        .filter_map(|d| match d {
            Delivery::Completion { to, ticket, reply } => Some((to.token, *ticket, reply.clone())),
            _ => None,
        })
        .collect()
}

fn ticket(outcome: &Outcome) -> Ticket {
    match outcome.reply.body {
        ReplyBody::Queued(t) => t,
        ref other => panic!("not queued: {other:?}"),
    }
}

#[test]
fn conditional_set_on_a_held_lock_fails_with_the_holder() {
    let (mut h, a, b) = two();
    assert!(h.op(a, lock(3, LockOper::Set, true)).reply.is_success());
    let before = h.structure().clone();
    let o = h.op(b, lock(3, LockOper::Set, true));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::EnvError, Reason::LockHeld)
    );
    assert_eq!(o.reply.body, ReplyBody::LockHolder(Some(a.conid)));
    assert_eq!(h.structure(), &before);
}

#[test]
fn unconditional_sets_queue_fifo_notify_the_holder_and_complete_in_order() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    let b = h.connect(2, "SYS2", "B");
    let c = h.connect(3, "SYS3", "C");
    h.op(a, lock(1, LockOper::Set, false));
    let qb = h.op(b, lock(1, LockOper::Set, false));
    assert_eq!(
        (qb.reply.rc, reason(&qb)),
        (ReturnCode::Warning, Reason::Asynch)
    );
    assert_eq!(
        events_for(&qb, a),
        vec![Event::LockContention {
            index: 1,
            requester: b.conid
        }]
    );
    let qc = h.op(c, lock(1, LockOper::Set, false));
    let released = h.op(a, lock(1, LockOper::Reset, true));
    assert!(released.reply.is_success());
    let done = completions(&released);
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].0, done[0].1), (b.token, ticket(&qb)));
    assert!(done[0].2.is_success());
    assert_eq!(h.structure().locks().holder(1), Some(b.conid));
    assert_eq!(
        events_for(&released, b),
        vec![Event::LockContention {
            index: 1,
            requester: c.conid
        }]
    );
    let released = h.op(b, lock(1, LockOper::Reset, true));
    assert_eq!(completions(&released)[0].1, ticket(&qc));
    assert_eq!(h.structure().locks().holder(1), Some(c.conid));
}

#[test]
fn a_lock_joined_to_a_write_is_set_only_when_the_write_succeeds() {
    let (mut h, a, _) = two();
    let with_lock = |w: WriteEntry| WriteEntry {
        conditions: Conditions {
            lock: Some(LockRequest {
                index: 2,
                oper: LockOper::Set,
                conditional: true,
            }),
            ..Conditions::default()
        },
        ..w
    };
    let old = WriteEntry {
        entry_type: EntryType::Old,
        locator: Some(Locator::Leid(Leid::system(99))),
        ..new_entry(0, 1, b"x")
    };
    let failed = h.op(a, ListOp::Write(with_lock(old)));
    assert_eq!(reason(&failed), Reason::NoEntry);
    assert_eq!(h.structure().locks().holder(2), None);
    let done = h.op(a, ListOp::Write(with_lock(new_entry(0, 1, b"x"))));
    assert!(done.reply.is_success());
    assert_eq!(h.structure().locks().holder(2), Some(a.conid));
    assert_eq!(h.contents(0).len(), 1);
}

#[test]
fn a_queued_write_runs_when_the_lock_is_granted() {
    let (mut h, a, b) = two();
    h.op(a, lock(0, LockOper::Set, true));
    let w = WriteEntry {
        conditions: Conditions {
            lock: Some(LockRequest {
                index: 0,
                oper: LockOper::NotHeld,
                conditional: false,
            }),
            ..Conditions::default()
        },
        ..new_entry(0, 1, b"after unlock")
    };
    let queued = h.op(b, ListOp::Write(w));
    assert_eq!(reason(&queued), Reason::Asynch);
    assert!(h.contents(0).is_empty());
    let released = h.op(a, lock(0, LockOper::Reset, true));
    let done = completions(&released);
    assert_eq!(done.len(), 1);
    assert!(done[0].2.is_success());
    assert_eq!(h.contents(0), vec![b"after unlock".to_vec()]);
    assert_eq!(h.structure().locks().holder(0), None);
}

#[test]
fn reset_test_and_heldby_check_the_holder() {
    let (mut h, a, b) = two();
    let o = h.op(b, lock(5, LockOper::Reset, true));
    assert_eq!(reason(&o), Reason::LockNotOwned);
    h.op(a, lock(5, LockOper::Set, true));
    let t = h.op(b, lock(5, LockOper::Test { owner: b.conid }, true));
    assert_eq!(
        (t.reply.rc, reason(&t)),
        (ReturnCode::Warning, Reason::LockNotHeld)
    );
    assert_eq!(t.reply.body, ReplyBody::LockHolder(Some(a.conid)));
    let t = h.op(b, lock(5, LockOper::Test { owner: a.conid }, true));
    assert_eq!(t.reply.rc, ReturnCode::Ok);
    let leid = entry_answer(&h.op(a, ListOp::Write(new_entry(0, 1, b"x"))))
        .controls
        .leid;
    let held_delete = |index| {
        ListOp::Delete(DeleteEntry {
            locator: Locator::Leid(leid),
            read: false,
            conditions: Conditions {
                lock: Some(LockRequest {
                    index,
                    oper: LockOper::HeldBy,
                    conditional: true,
                }),
                ..Conditions::default()
            },
        })
    };
    assert_eq!(reason(&h.op(b, held_delete(5))), Reason::LockNotOwned);
    assert!(h.op(a, held_delete(5)).reply.is_success());
}

#[test]
fn lock_indexes_must_be_in_the_rounded_table() {
    let mut h = Harness::new();
    let attrs = StructureAttrs {
        lock_entries: 5,
        ..StructureAttrs::default()
    };
    let (a, o) = h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("A"), attrs));
    let ReplyBody::Connected(c) = o.reply.body else {
        panic!("not connected")
    };
    assert_eq!(c.attrs.lock_entries, 8);
    assert!(h.op(a, lock(7, LockOper::Set, true)).reply.is_success());
    let o = h.op(a, lock(8, LockOper::Set, true));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::ParmError, Reason::BadLockIndex)
    );
}

#[test]
fn a_failed_holder_passes_its_lock_to_the_next_waiter() {
    let (mut h, a, b) = two();
    h.op(a, lock(4, LockOper::Set, true));
    let q = h.op(b, lock(4, LockOper::Set, false));
    let dropped = h.apply(1, "SYS1", Request::LinkDropped);
    let done = completions(&dropped);
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].0, done[0].1), (b.token, ticket(&q)));
    assert_eq!(h.structure().locks().holder(4), Some(b.conid));
}

#[test]
fn a_failed_waiter_leaves_the_queue() {
    let (mut h, a, b) = two();
    h.op(a, lock(4, LockOper::Set, true));
    h.op(b, lock(4, LockOper::Set, false));
    h.apply(2, "SYS2", Request::LinkDropped);
    let released = h.op(a, lock(4, LockOper::Reset, true));
    assert!(completions(&released).is_empty());
    assert_eq!(h.structure().locks().holder(4), None);
}

#[test]
fn multi_entry_requests_accept_only_notheld_and_heldby() {
    let (mut h, a, _) = two();
    let multi = |oper| {
        ListOp::ReadList(MultiEntry {
            list: list(0),
            keys: None,
            version: None,
            lock: Some(LockRequest {
                index: 1,
                oper,
                conditional: true,
            }),
            limit: 5,
            restart: None,
        })
    };
    assert_eq!(reason(&h.op(a, multi(LockOper::Set))), Reason::BadParmList);
    assert!(h.op(a, multi(LockOper::NotHeld)).reply.is_success());
}
