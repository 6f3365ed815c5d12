//! List entries: ordering, identity, data, conditions, cursors, keys, limits.

use bytes::Bytes;

use super::*;

fn unkeyed() -> StructureAttrs {
    StructureAttrs {
        ref_option: RefOption::None,
        ..StructureAttrs::default()
    }
}

fn harness_with(attrs: StructureAttrs) -> (Harness, Conn) {
    let mut h = Harness::new();
    let (conn, _) = h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("C1"), attrs));
    (h, conn)
}

fn write(h: &mut Harness, c: Conn, w: WriteEntry) -> Outcome {
    h.op(c, ListOp::Write(w))
}

fn unkeyed_write(to: u32, end: End, data: &[u8]) -> WriteEntry {
    WriteEntry {
        key: KeySource::Keep,
        end,
        ..new_entry(to, 0, data)
    }
}

#[test]
fn unkeyed_lists_are_fifo_at_the_tail_and_lifo_at_the_head() {
    let (mut h, c) = harness_with(unkeyed());
    for d in [b"a", b"b", b"c"] {
        write(&mut h, c, unkeyed_write(0, End::Tail, d));
    }
    write(&mut h, c, unkeyed_write(0, End::Head, b"z"));
    assert_eq!(
        h.contents(0),
        vec![b"z".to_vec(), b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    let head = h.op(
        c,
        ListOp::Delete(DeleteEntry {
            locator: Locator::Position {
                list: list(0),
                end: End::Head,
            },
            read: true,
            conditions: Conditions::default(),
        }),
    );
    assert_eq!(entry_answer(&head).data, Some(Bytes::from_static(b"z")));
}

#[test]
fn keyed_lists_order_by_key_with_head_and_tail_in_each_sublist() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    write(&mut h, c, new_entry(0, 5, b"5a"));
    write(&mut h, c, new_entry(0, 1, b"1a"));
    write(&mut h, c, new_entry(0, 5, b"5b"));
    write(
        &mut h,
        c,
        WriteEntry {
            end: End::Head,
            ..new_entry(0, 5, b"5z")
        },
    );
    write(&mut h, c, new_entry(0, 3, b"3a"));
    let order: Vec<Vec<u8>> = ["1a", "3a", "5z", "5a", "5b"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(h.contents(0), order);
    let locate = |compare, k, end| Locator::Key {
        list: list(0),
        key: key(k),
        compare,
        end,
    };
    let read = |h: &mut Harness, locator| {
        let o = h.op(
            c,
            ListOp::Read(ReadEntry {
                locator,
                cursor: None,
                conditions: Conditions::default(),
            }),
        );
        entry_answer(&o).data
    };
    assert_eq!(
        read(&mut h, locate(KeyCompare::Equal, 5, End::Tail)),
        Some(Bytes::from_static(b"5b"))
    );
    assert_eq!(
        read(&mut h, locate(KeyCompare::LessOrEqual, 4, End::Head)),
        Some(Bytes::from_static(b"3a"))
    );
    assert_eq!(
        read(&mut h, locate(KeyCompare::GreaterOrEqual, 4, End::Head)),
        Some(Bytes::from_static(b"5z"))
    );
    let none = h.op(
        c,
        ListOp::Read(ReadEntry {
            locator: locate(KeyCompare::Equal, 4, End::Head),
            cursor: None,
            conditions: Conditions::default(),
        }),
    );
    assert_eq!(reason(&none), Reason::NoEntry);
}

#[test]
fn system_leids_are_never_reused() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let first = entry_answer(&write(&mut h, c, new_entry(0, 1, b"x")))
        .controls
        .leid;
    h.op(
        c,
        ListOp::Delete(DeleteEntry {
            locator: Locator::Leid(first),
            read: false,
            conditions: Conditions::default(),
        }),
    );
    let second = entry_answer(&write(&mut h, c, new_entry(0, 1, b"y")))
        .controls
        .leid;
    assert_ne!(first, second);
}

#[test]
fn user_leids_are_unique_while_in_use() {
    let attrs = StructureAttrs {
        entry_id_type: EntryIdType::User,
        ..StructureAttrs::default()
    };
    let (mut h, c) = harness_with(attrs);
    let leid = Leid([7; 12]);
    let w = WriteEntry {
        leid: Some(leid),
        ..new_entry(0, 1, b"x")
    };
    assert_eq!(write(&mut h, c, w.clone()).reply.rc, ReturnCode::Ok);
    assert_eq!(reason(&write(&mut h, c, w.clone())), Reason::DupEntry);
    h.op(
        c,
        ListOp::Delete(DeleteEntry {
            locator: Locator::Leid(leid),
            read: false,
            conditions: Conditions::default(),
        }),
    );
    assert_eq!(write(&mut h, c, w).reply.rc, ReturnCode::Ok);
    assert_eq!(
        reason(&write(&mut h, c, new_entry(0, 1, b"no leid"))),
        Reason::BadParmList
    );
}

#[test]
fn entry_names_are_unique_and_locate_entries() {
    let attrs = StructureAttrs {
        ref_option: RefOption::Name,
        ..StructureAttrs::default()
    };
    let (mut h, c) = harness_with(attrs);
    let name = EntryName(*b"DVIPA-192.0.2.10");
    let w = WriteEntry {
        name: Some(name),
        key: KeySource::Keep,
        ..new_entry(2, 0, b"owner SYS1")
    };
    assert!(write(&mut h, c, w.clone()).reply.is_success());
    assert_eq!(reason(&write(&mut h, c, w)), Reason::DupEntry);
    let replace = WriteEntry {
        entry_type: EntryType::Old,
        locator: Some(Locator::Name(name)),
        key: KeySource::Keep,
        ..new_entry(2, 0, b"owner SYS2")
    };
    assert!(write(&mut h, c, replace).reply.is_success());
    assert_eq!(h.contents(2), vec![b"owner SYS2".to_vec()]);
    let any = WriteEntry {
        entry_type: EntryType::Any,
        locator: Some(Locator::Name(EntryName([b'N'; 16]))),
        key: KeySource::Keep,
        ..new_entry(2, 0, b"created by ANY")
    };
    assert!(write(&mut h, c, any).reply.is_success());
    assert_eq!(h.contents(2).len(), 2);
}

#[test]
fn data_is_counted_in_whole_elements_and_limited_by_maxelemnum() {
    let attrs = StructureAttrs {
        max_elem_num: 2,
        ..StructureAttrs::default()
    };
    let (mut h, c) = harness_with(attrs);
    let o = write(&mut h, c, new_entry(0, 1, &[1u8; 257]));
    assert_eq!(entry_answer(&o).controls.elements, 2);
    assert_eq!(h.structure().elements_in_use(), 2);
    let too_big = write(&mut h, c, new_entry(0, 1, &[1u8; 513]));
    assert_eq!(
        (too_big.reply.rc, reason(&too_big)),
        (ReturnCode::ParmError, Reason::BadBufSize)
    );
}

#[test]
fn adjuncts_are_64_bytes_and_only_where_allocated() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let bad = write(
        &mut h,
        c,
        WriteEntry {
            adjunct: Some(vec![1; 10]),
            ..new_entry(0, 1, b"")
        },
    );
    assert_eq!(reason(&bad), Reason::BadBufSize);
    let good = write(
        &mut h,
        c,
        WriteEntry {
            adjunct: Some(vec![9; 64]),
            ..new_entry(0, 1, b"")
        },
    );
    let leid = entry_answer(&good).controls.leid;
    let read = h.op(
        c,
        ListOp::Read(ReadEntry {
            locator: Locator::Leid(leid),
            cursor: None,
            conditions: Conditions::default(),
        }),
    );
    assert_eq!(entry_answer(&read).adjunct.as_deref(), Some(&[9; 64][..]));
    let (mut h2, c2) = harness_with(StructureAttrs {
        adjunct: false,
        ..StructureAttrs::default()
    });
    let refused = write(
        &mut h2,
        c2,
        WriteEntry {
            adjunct: Some(vec![9; 64]),
            ..new_entry(0, 1, b"")
        },
    );
    assert_eq!(reason(&refused), Reason::NotSupported);
}

#[test]
fn write_old_needs_an_entry_and_any_creates_one() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let locator = Locator::Key {
        list: list(0),
        key: key(4),
        compare: KeyCompare::Equal,
        end: End::Head,
    };
    let old = WriteEntry {
        entry_type: EntryType::Old,
        locator: Some(locator.clone()),
        ..new_entry(0, 4, b"v1")
    };
    assert_eq!(reason(&write(&mut h, c, old.clone())), Reason::NoEntry);
    let any = WriteEntry {
        entry_type: EntryType::Any,
        ..old.clone()
    };
    assert!(write(&mut h, c, any).reply.is_success());
    assert!(
        write(
            &mut h,
            c,
            WriteEntry {
                data: b"v2".to_vec(),
                ..old
            }
        )
        .reply
        .is_success()
    );
    assert_eq!(h.contents(0), vec![b"v2".to_vec()]);
}

#[test]
fn move_with_read_and_write_changes_list_and_resets_the_cursor() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let leid = entry_answer(&write(&mut h, c, new_entry(0, 1, b"old")))
        .controls
        .leid;
    let read_current = ReadEntry {
        locator: Locator::Leid(leid),
        cursor: Some(CursorUpdate::Current),
        conditions: Conditions::default(),
    };
    h.op(c, ListOp::Read(read_current));
    assert_eq!(h.structure().lists()[0].controls.cursor, Some(leid));
    let moved = h.op(
        c,
        ListOp::Move(MoveEntry {
            locator: Locator::Leid(leid),
            to: list(3),
            end: End::Tail,
            key: KeySource::Explicit(key(9)),
            read: false,
            write: Some((b"new".to_vec(), None)),
            conditions: Conditions::default(),
        }),
    );
    let controls = entry_answer(&moved).controls;
    assert_eq!((controls.list, controls.key), (list(3), Some(key(9))));
    assert_eq!(h.contents(3), vec![b"new".to_vec()]);
    assert!(h.contents(0).is_empty());
    assert_eq!(h.structure().lists()[0].controls.cursor, None);
    let back = h.op(
        c,
        ListOp::Move(MoveEntry {
            locator: Locator::Leid(leid),
            to: list(0),
            end: End::Head,
            key: KeySource::Keep,
            read: true,
            write: None,
            conditions: Conditions::default(),
        }),
    );
    assert_eq!(entry_answer(&back).data, Some(Bytes::from_static(b"new")));
}

#[test]
fn cursor_walks_the_list_and_resets_past_the_end() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    for k in 1..=3 {
        write(&mut h, c, new_entry(0, k, &[k]));
    }
    let not_set = h.op(
        c,
        ListOp::Read(ReadEntry {
            locator: Locator::Cursor { list: list(0) },
            cursor: None,
            conditions: Conditions::default(),
        }),
    );
    assert_eq!(reason(&not_set), Reason::CursorNotSet);
    let first = h.structure().lists()[0].end_entry(End::Head);
    h.op(
        c,
        ListOp::WriteListControls(WriteListControls {
            list: list(0),
            authority: AuthorityCheck {
                compare: Compare::Equal,
                value: Authority::default(),
                new: None,
            },
            limit: None,
            description: None,
            list_key: None,
            max_list_key: None,
            cursor: Some(first),
        }),
    );
    let mut seen = Vec::new();
    loop {
        let o = h.op(
            c,
            ListOp::Read(ReadEntry {
                locator: Locator::Cursor { list: list(0) },
                cursor: Some(CursorUpdate::Next),
                conditions: Conditions::default(),
            }),
        );
        if !o.reply.is_success() {
            assert_eq!(reason(&o), Reason::CursorNotSet);
            break;
        }
        seen.extend(entry_answer(&o).data.unwrap_or_default());
    }
    assert_eq!(seen, vec![1, 2, 3]);
}

#[test]
fn listkey_assigns_and_increments_and_refuses_past_maxlistkey() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let controls = |lk: u8, max: u8| WriteListControls {
        list: list(1),
        authority: AuthorityCheck {
            compare: Compare::Equal,
            value: Authority::default(),
            new: None,
        },
        limit: None,
        description: None,
        list_key: Some(key(lk)),
        max_list_key: Some(key(max)),
        cursor: None,
    };
    h.op(c, ListOp::WriteListControls(controls(7, 8)));
    let auto = |h: &mut Harness| {
        write(
            h,
            c,
            WriteEntry {
                key: KeySource::ListKey { increment: true },
                ..new_entry(1, 0, b"k")
            },
        )
    };
    assert_eq!(entry_answer(&auto(&mut h)).controls.key, Some(key(7)));
    assert_eq!(entry_answer(&auto(&mut h)).controls.key, Some(key(8)));
    let before = h.structure().clone();
    let refused = auto(&mut h);
    assert_eq!(
        (refused.reply.rc, reason(&refused)),
        (ReturnCode::EnvError, Reason::MaxListKey)
    );
    assert_eq!(h.structure(), &before);
}

#[test]
fn list_and_structure_limits_refuse_without_changing_anything() {
    let attrs = StructureAttrs {
        entry_count: 3,
        element_count: 4,
        ..StructureAttrs::default()
    };
    let (mut h, c) = harness_with(attrs);
    h.op(
        c,
        ListOp::WriteListControls(WriteListControls {
            list: list(0),
            authority: AuthorityCheck {
                compare: Compare::Equal,
                value: Authority::default(),
                new: None,
            },
            limit: Some(1),
            description: None,
            list_key: None,
            max_list_key: None,
            cursor: None,
        }),
    );
    assert!(write(&mut h, c, new_entry(0, 1, b"a")).reply.is_success());
    let before = h.structure().clone();
    let list_full = write(&mut h, c, new_entry(0, 1, b"b"));
    assert_eq!(
        (list_full.reply.rc, reason(&list_full)),
        (ReturnCode::EnvError, Reason::ListFull)
    );
    assert_eq!(h.structure(), &before);
    assert!(
        write(&mut h, c, new_entry(1, 1, &[0; 512]))
            .reply
            .is_success()
    );
    let before = h.structure().clone();
    let elements_full = write(&mut h, c, new_entry(2, 1, &[0; 512]));
    assert_eq!(reason(&elements_full), Reason::StrFull);
    assert_eq!(h.structure(), &before);
    assert!(write(&mut h, c, new_entry(2, 1, b"")).reply.is_success());
    assert_eq!(
        reason(&write(&mut h, c, new_entry(3, 1, b""))),
        Reason::StrFull
    );
}

#[test]
fn authority_compare_applies_newauth_only_on_success() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let auth = |n: u8| Authority([n; 16]);
    let guarded = |compare, value, new| WriteEntry {
        conditions: Conditions {
            authority: Some(AuthorityCheck {
                compare,
                value,
                new,
            }),
            ..Conditions::default()
        },
        ..new_entry(0, 1, b"x")
    };
    assert!(
        write(&mut h, c, guarded(Compare::Equal, auth(0), Some(auth(5))))
            .reply
            .is_success()
    );
    let before = h.structure().clone();
    let stale = write(&mut h, c, guarded(Compare::Equal, auth(0), Some(auth(6))));
    assert_eq!(reason(&stale), Reason::BadListAuth);
    assert_eq!(stale.reply.body, ReplyBody::Authority(auth(5)));
    assert_eq!(h.structure(), &before);
    let le = write(
        &mut h,
        c,
        guarded(Compare::LessOrEqual, auth(9), Some(auth(7))),
    );
    assert!(le.reply.is_success());
    assert_eq!(h.structure().lists()[0].controls.authority, auth(7));
    let lower = write(&mut h, c, guarded(Compare::LessOrEqual, auth(6), None));
    assert_eq!(reason(&lower), Reason::BadListAuth);
}

#[test]
fn version_compare_and_update_return_controls_on_failure() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let created = write(
        &mut h,
        c,
        WriteEntry {
            conditions: Conditions {
                version_update: Some(VersionUpdate::Set(10)),
                ..Conditions::default()
            },
            ..new_entry(0, 1, b"x")
        },
    );
    let leid = entry_answer(&created).controls.leid;
    let bump = |compare, value, update| {
        ListOp::Read(ReadEntry {
            locator: Locator::Leid(leid),
            cursor: None,
            conditions: Conditions {
                version: Some(VersionCompare { compare, value }),
                version_update: Some(update),
                ..Conditions::default()
            },
        })
    };
    assert_eq!(
        entry_answer(&h.op(c, bump(Compare::Equal, 10, VersionUpdate::Increment)))
            .controls
            .version,
        11
    );
    let failed = h.op(c, bump(Compare::Equal, 10, VersionUpdate::Increment));
    assert_eq!(reason(&failed), Reason::BadEntryVersion);
    assert_eq!(entry_answer(&failed).controls.version, 11);
    assert!(
        h.op(c, bump(Compare::LessOrEqual, 12, VersionUpdate::Decrement))
            .reply
            .is_success()
    );
    assert_eq!(h.structure().entry(leid).map(|e| e.version), Some(10));
}

#[test]
fn multi_entry_read_ends_early_and_the_restart_token_resumes() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    for k in 1..=7 {
        write(&mut h, c, new_entry(0, k, &[k]));
    }
    let mut restart = None;
    let mut seen = Vec::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let o = h.op(
            c,
            ListOp::ReadList(MultiEntry {
                list: list(0),
                keys: None,
                version: None,
                lock: None,
                limit: 3,
                restart,
            }),
        );
        let ReplyBody::Entries(batch) = o.reply.body.clone() else {
            panic!("no entries")
        };
        seen.extend(
            batch
                .entries
                .iter()
                .filter_map(|e| e.data.clone())
                .flatten(),
        );
        restart = batch.restart;
        if restart.is_none() {
            assert_eq!(o.reply.rc, ReturnCode::Ok);
            break;
        }
        assert_eq!(reason(&o), Reason::BufferFull);
        // An entry deleted between rounds does not stop the resume.
        if rounds == 1 {
            let at = Locator::Key {
                list: list(0),
                key: key(4),
                compare: KeyCompare::Equal,
                end: End::Head,
            };
            h.op(
                c,
                ListOp::Delete(DeleteEntry {
                    locator: at,
                    read: false,
                    conditions: Conditions::default(),
                }),
            );
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 5, 6, 7]);
    assert_eq!(rounds, 2);
}

#[test]
fn multi_entry_delete_filters_by_key_range_and_version() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    for k in 1..=6 {
        write(
            &mut h,
            c,
            WriteEntry {
                conditions: Conditions {
                    version_update: Some(VersionUpdate::Set(u64::from(k % 2))),
                    ..Conditions::default()
                },
                ..new_entry(0, k, &[k])
            },
        );
    }
    let o = h.op(
        c,
        ListOp::DeleteList(MultiEntry {
            list: list(0),
            keys: Some((key(2), key(5))),
            version: Some(VersionCompare {
                compare: Compare::Equal,
                value: 1,
            }),
            lock: None,
            limit: 10,
            restart: None,
        }),
    );
    assert_eq!(o.reply.rc, ReturnCode::Ok);
    assert_eq!(h.contents(0), vec![vec![1], vec![2], vec![4], vec![6]]);
    let early = h.op(
        c,
        ListOp::DeleteList(MultiEntry {
            list: list(0),
            keys: None,
            version: None,
            lock: None,
            limit: 1,
            restart: None,
        }),
    );
    assert_eq!(reason(&early), Reason::Timeout);
}

#[test]
fn list_controls_read_back_what_was_written() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let o = h.op(
        c,
        ListOp::WriteListControls(WriteListControls {
            list: list(4),
            authority: AuthorityCheck {
                compare: Compare::Equal,
                value: Authority::default(),
                new: Some(Authority([1; 16])),
            },
            limit: Some(50),
            description: Some([b'D'; 32]),
            list_key: None,
            max_list_key: None,
            cursor: None,
        }),
    );
    assert!(o.reply.is_success());
    let read = h.op(c, ListOp::ReadListControls { list: list(4) });
    let ReplyBody::ListControls(controls) = read.reply.body else {
        panic!("no controls")
    };
    assert_eq!(
        (controls.limit, controls.description, controls.authority),
        (50, [b'D'; 32], Authority([1; 16]))
    );
}

#[test]
fn bad_list_numbers_are_parameter_errors() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let o = write(&mut h, c, new_entry(99, 1, b""));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::ParmError, Reason::BadListNumber)
    );
    let o = h.op(c, ListOp::ReadListControls { list: list(16) });
    assert_eq!(reason(&o), Reason::BadListNumber);
}

#[test]
fn tokens_of_other_links_or_dead_connections_are_refused() {
    let (mut h, c) = harness_with(StructureAttrs::default());
    let stolen = Conn { link: 2, ..c };
    assert_eq!(
        reason(&h.op(stolen, ListOp::ReadVector)),
        Reason::NotAuthorized
    );
    h.apply(1, "SYS1", Request::Disconnect { token: c.token });
    assert_eq!(reason(&h.op(c, ListOp::ReadVector)), Reason::NotAuthorized);
    let forged = Conn {
        token: ConToken([0xAB; 16]),
        ..c
    };
    assert_eq!(
        reason(&h.op(forged, ListOp::ReadVector)),
        Reason::NotAuthorized
    );
}
