//! Snapshot of a structure dump with entries, locks, monitors and connections.

use super::*;

#[test]
fn dump_of_a_populated_structure_is_stable_and_readable() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "TCPIPSYS1");
    let b = h.connect(2, "SYS2", "TCPIPSYS2");
    h.connect(3, "SYS3", "TCPIPSYS3");
    h.op(
        a,
        ListOp::Write(WriteEntry {
            adjunct: Some(vec![0x5A; 64]),
            ..new_entry(0, 1, b"owner=SYS1 dvipa=192.0.2.10")
        }),
    );
    h.op(a, ListOp::Write(new_entry(0, 1, &[0x00, 0x01, 0xFE, 0xFF])));
    h.op(b, ListOp::Write(new_entry(3, 7, &[0xC3; 200])));
    h.op(
        a,
        ListOp::Lock(LockRequest {
            index: 9,
            oper: LockOper::Set,
            conditional: true,
        }),
    );
    h.op(
        b,
        ListOp::Lock(LockRequest {
            index: 9,
            oper: LockOper::Set,
            conditional: false,
        }),
    );
    h.op(
        b,
        ListOp::MonitorList(MonitorList {
            list: list(0),
            action: MonitorAction::Start,
            bit: 3,
            drive_exit: true,
        }),
    );
    h.op(
        b,
        ListOp::MonitorSublist(MonitorSublist {
            list: list(3),
            key: key(7),
            action: MonitorAction::Start,
            user_data: [0; 16],
        }),
    );
    h.apply(3, "SYS3", Request::LinkDropped);
    let dump = dump_structure(h.structure());
    insta::assert_snapshot!(dump);
}

#[test]
fn dumps_do_not_depend_on_time_or_links() {
    let build = |now: u64, link: u64| {
        let mut h = Harness::new();
        h.now = now;
        let a = h.connect(link, "SYS1", "A");
        h.op(a, ListOp::Write(new_entry(0, 1, b"same")));
        dump_structure(h.structure())
    };
    assert_eq!(build(1, 1), build(987_654_321, 42));
}
