//! List monitoring (vector bits, transition exit) and event queues (EMCs).

use super::*;

fn monitor(n: u32, bit: u32, drive_exit: bool, action: MonitorAction) -> ListOp {
    ListOp::MonitorList(MonitorList {
        list: list(n),
        action,
        bit,
        drive_exit,
    })
}

fn sublist(n: u32, k: u8, action: MonitorAction) -> ListOp {
    ListOp::MonitorSublist(MonitorSublist {
        list: list(n),
        key: key(k),
        action,
        user_data: [k; 16],
    })
}

fn vector(h: &mut Harness, c: Conn) -> Vec<bool> {
    match h.op(c, ListOp::ReadVector).reply.body {
        ReplyBody::Vector(v) => v,
        other => panic!("no vector: {other:?}"),
    }
}

fn delete_head(n: u32) -> ListOp {
    ListOp::Delete(DeleteEntry {
        locator: Locator::Position {
            list: list(n),
            end: End::Head,
        },
        read: false,
        conditions: Conditions::default(),
    })
}

#[test]
fn vector_bits_track_nonempty_and_the_exit_runs_only_on_empty_to_nonempty() {
    let mut h = Harness::new();
    let w = h.connect(1, "SYS1", "WATCHER");
    let quiet = h.connect(2, "SYS2", "QUIET");
    assert!(
        h.op(w, monitor(2, 5, true, MonitorAction::Start))
            .reply
            .is_success()
    );
    assert!(
        h.op(quiet, monitor(2, 0, false, MonitorAction::Start))
            .reply
            .is_success()
    );
    let first = h.op(quiet, ListOp::Write(new_entry(2, 1, b"a")));
    assert_eq!(events_for(&first, w), vec![Event::ListTransition]);
    assert!(events_for(&first, quiet).is_empty());
    assert!(vector(&mut h, w)[5]);
    assert!(vector(&mut h, quiet)[0]);
    let second = h.op(quiet, ListOp::Write(new_entry(2, 1, b"b")));
    assert!(events_for(&second, w).is_empty());
    h.op(w, delete_head(2));
    assert!(vector(&mut h, w)[5]);
    h.op(w, delete_head(2));
    assert!(!vector(&mut h, w)[5]);
    assert_eq!(h.structure().lists()[2].controls.transitions, 1);
}

#[test]
fn monitoring_a_bit_beyond_vectorlen_is_refused() {
    let mut h = Harness::new();
    let w = h.connect(1, "SYS1", "WATCHER");
    let o = h.op(w, monitor(0, 32, true, MonitorAction::Start));
    assert_eq!(reason(&o), Reason::BadVectorIndex);
    let o = h.op(w, monitor(0, 0, true, MonitorAction::Stop));
    assert_eq!(reason(&o), Reason::NotMonitored);
}

#[test]
fn moving_within_a_list_is_not_a_transition() {
    let mut h = Harness::new();
    let w = h.connect(1, "SYS1", "WATCHER");
    h.op(w, monitor(0, 0, true, MonitorAction::Start));
    let leid = entry_answer(&h.op(w, ListOp::Write(new_entry(0, 1, b"a"))))
        .controls
        .leid;
    let moved = h.op(
        w,
        ListOp::Move(MoveEntry {
            locator: Locator::Leid(leid),
            to: list(0),
            end: End::Tail,
            key: KeySource::Explicit(key(2)),
            read: false,
            write: None,
            conditions: Conditions::default(),
        }),
    );
    assert!(moved.reply.is_success());
    assert!(events_for(&moved, w).is_empty());
    assert!(vector(&mut h, w)[0]);
}

#[test]
fn emcs_queue_withdraw_dequeue_and_delete_as_documented() {
    let mut h = Harness::new();
    let w = h.connect(1, "SYS1", "WATCHER");
    let p = h.connect(2, "SYS2", "PRODUCER");
    h.op(p, ListOp::Write(new_entry(0, 9, b"already there")));
    let start = h.op(w, sublist(0, 9, MonitorAction::Start));
    assert_eq!(events_for(&start, w), vec![Event::EventQueueTransition]);
    h.op(w, sublist(0, 1, MonitorAction::Start));
    let o = h.op(p, ListOp::Write(new_entry(0, 1, b"k1")));
    assert!(events_for(&o, w).is_empty(), "queue was already nonempty");
    let deq = h.op(w, ListOp::DeqEventQueue { max: 1 });
    let ReplyBody::EventQueue { emcs, remaining } = deq.reply.body else {
        panic!("no queue")
    };
    assert_eq!(
        (emcs.len(), emcs[0].key, emcs[0].user_data, remaining),
        (1, key(9), [9; 16], 1)
    );
    h.op(p, delete_head(0));
    h.op(p, delete_head(0));
    let deq = h.op(w, ListOp::DeqEventQueue { max: 10 });
    assert_eq!(
        deq.reply.body,
        ReplyBody::EventQueue {
            emcs: vec![],
            remaining: 0
        },
        "withdrawn when the sublist emptied"
    );
    let again = h.op(p, ListOp::Write(new_entry(0, 9, b"again")));
    assert_eq!(
        events_for(&again, w),
        vec![Event::EventQueueTransition],
        "still bound after dequeue"
    );
    h.op(w, sublist(0, 9, MonitorAction::Stop));
    let deq = h.op(w, ListOp::DeqEventQueue { max: 10 });
    assert_eq!(
        deq.reply.body,
        ReplyBody::EventQueue {
            emcs: vec![],
            remaining: 0
        }
    );
    assert_eq!(
        reason(&h.op(w, sublist(0, 9, MonitorAction::Stop))),
        Reason::NotMonitored
    );
}

#[test]
fn running_out_of_emcs_is_structure_full() {
    let mut h = Harness::new();
    let attrs = StructureAttrs {
        emc_count: 2,
        ..StructureAttrs::default()
    };
    let (w, _) = h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("W"), attrs));
    assert!(
        h.op(w, sublist(0, 1, MonitorAction::Start))
            .reply
            .is_success()
    );
    assert!(
        h.op(w, sublist(0, 2, MonitorAction::Start))
            .reply
            .is_success()
    );
    let o = h.op(w, sublist(0, 3, MonitorAction::Start));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::EnvError, Reason::StrFull)
    );
}

#[test]
fn disconnect_deletes_monitors_and_emcs() {
    let mut h = Harness::new();
    let w = h.connect(1, "SYS1", "WATCHER");
    let p = h.connect(2, "SYS2", "PRODUCER");
    h.op(w, monitor(0, 0, true, MonitorAction::Start));
    h.op(w, sublist(0, 1, MonitorAction::Start));
    h.apply(1, "SYS1", Request::Disconnect { token: w.token });
    assert!(h.structure().monitors().emcs.is_empty());
    assert!(h.structure().monitors().lists.is_empty());
    let o = h.op(p, ListOp::Write(new_entry(0, 1, b"x")));
    assert!(o.deliveries.is_empty());
}

#[test]
fn sublist_monitoring_needs_a_keyed_structure() {
    let mut h = Harness::new();
    let attrs = StructureAttrs {
        ref_option: RefOption::None,
        ..StructureAttrs::default()
    };
    let (w, _) = h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("W"), attrs));
    assert_eq!(
        reason(&h.op(w, sublist(0, 1, MonitorAction::Start))),
        Reason::NotSupported
    );
}

#[test]
fn rebinding_a_list_to_another_bit_clears_the_old_bit() {
    let mut h = Harness::new();
    let w = h.connect(1, "SYS1", "WATCHER");
    h.op(w, ListOp::Write(new_entry(1, 1, b"x")));
    h.op(w, monitor(1, 2, false, MonitorAction::Start));
    assert!(vector(&mut h, w)[2]);
    h.op(w, monitor(1, 7, false, MonitorAction::Start));
    let bits = vector(&mut h, w);
    assert!(!bits[2] && bits[7]);
}
