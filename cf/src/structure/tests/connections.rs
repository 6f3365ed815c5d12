//! Connecting, disconnecting, failure, failed-persistent connections, fencing, full threshold.

use super::*;

#[test]
fn the_first_connector_allocates_and_later_ones_get_the_real_attributes() {
    let mut h = Harness::new();
    let first = StructureAttrs {
        list_headers: 4,
        lock_entries: 3,
        ..StructureAttrs::default()
    };
    let (_, o) = h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("A"), first));
    let ReplyBody::Connected(a) = o.reply.body else {
        panic!("not connected")
    };
    assert!(a.allocated);
    assert_eq!((a.attrs.list_headers, a.attrs.lock_entries), (4, 4));
    let (_, o) = h.connect_with(
        2,
        "SYS2",
        connect_request("TESTSTR", Some("B"), StructureAttrs::default()),
    );
    let ReplyBody::Connected(b) = o.reply.body else {
        panic!("not connected")
    };
    assert!(!b.allocated);
    assert_eq!(b.attrs, a.attrs);
    assert_ne!(a.token, b.token);
    assert_eq!((a.conid, b.conid), (ConId(1), ConId(2)));
}

#[test]
fn a_mismatched_entryidtype_is_refused() {
    let mut h = Harness::new();
    h.connect(1, "SYS1", "A");
    let user = StructureAttrs {
        entry_id_type: EntryIdType::User,
        ..StructureAttrs::default()
    };
    let o = h.apply(
        2,
        "SYS2",
        Request::Connect(connect_request("TESTSTR", Some("B"), user)),
    );
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::EnvError, Reason::AttrMismatch)
    );
    assert_eq!(h.structure().connections().iter().count(), 1);
}

#[test]
fn peers_hear_of_new_connections_and_newcomers_get_the_existing_burst() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    let (b, o) = h.connect_with(
        2,
        "SYS2",
        connect_request("TESTSTR", Some("B"), StructureAttrs::default()),
    );
    let conname = |n: &str| ConName::new(n).expect("valid");
    assert_eq!(
        events_for(&o, a),
        vec![Event::NewConnection {
            conname: conname("B"),
            conid: b.conid,
            system: sys("SYS2")
        }]
    );
    assert_eq!(
        events_for(&o, b),
        vec![
            Event::ExistingConnection {
                conname: conname("A"),
                conid: a.conid,
                state: ConnState::Active
            },
            Event::ExistingConnectionsEnd,
        ]
    );
}

#[test]
fn conname_is_generated_when_omitted_and_unique_when_given() {
    let mut h = Harness::new();
    let (_, o) = h.connect_with(
        1,
        "SYS1",
        connect_request("TESTSTR", None, StructureAttrs::default()),
    );
    let ReplyBody::Connected(c) = o.reply.body else {
        panic!("not connected")
    };
    assert!(c.conname.as_str().starts_with("IXL"));
    h.connect(1, "SYS1", "A");
    let o = h.apply(
        2,
        "SYS2",
        Request::Connect(connect_request(
            "TESTSTR",
            Some("A"),
            StructureAttrs::default(),
        )),
    );
    assert_eq!(reason(&o), Reason::ConNameInUse);
}

#[test]
fn condisp_keep_without_a_conname_is_refused() {
    let mut h = Harness::new();
    let request = ConnectRequest {
        condisp: ConDisp::Keep,
        ..connect_request("TESTSTR", None, StructureAttrs::default())
    };
    let o = h.apply(1, "SYS1", Request::Connect(request));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::ParmError, Reason::BadParmList)
    );
    assert!(
        h.facility.structure(&strname("TESTSTR")).is_none(),
        "nothing allocated"
    );
}

#[test]
fn a_dropped_link_leaves_a_failed_persistent_connection_that_reconnects_with_rc4() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    let b = h.connect(2, "SYS2", "B");
    let dropped = h.apply(2, "SYS2", Request::LinkDropped);
    assert_eq!(
        events_for(&dropped, a),
        vec![Event::FailedConnection {
            conname: ConName::new("B").expect("valid"),
            conid: b.conid,
            persistent: true
        }]
    );
    let state = h.structure().connections().get(b.conid).map(|c| c.state);
    assert_eq!(state, Some(ConnState::FailedPersistent));
    assert_eq!(reason(&h.op(b, ListOp::ReadVector)), Reason::NotAuthorized);
    let (b2, o) = h.connect_with(
        3,
        "SYS2",
        connect_request("TESTSTR", Some("B"), StructureAttrs::default()),
    );
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::Warning, Reason::ConaReconnected)
    );
    assert_eq!(b2.conid, b.conid);
    let ReplyBody::Connected(c) = o.reply.body else {
        panic!("not connected")
    };
    assert_eq!(c.version, 2);
}

#[test]
fn condisp_delete_connections_vanish_on_failure() {
    let mut h = Harness::new();
    h.connect(1, "SYS1", "A");
    let (b, _) = h.connect_with(
        2,
        "SYS2",
        connect_request("TESTSTR", None, StructureAttrs::default()),
    );
    h.apply(2, "SYS2", Request::LinkDropped);
    assert!(h.structure().connections().get(b.conid).is_none());
}

#[test]
fn a_peer_releases_a_failed_persistent_connection() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    h.connect(2, "SYS2", "B");
    h.apply(2, "SYS2", Request::LinkDropped);
    let b_name = ConName::new("B").expect("valid");
    let a_name = ConName::new("A").expect("valid");
    let active = h.apply(
        1,
        "SYS1",
        Request::ReleaseConnection {
            token: a.token,
            conname: a_name,
        },
    );
    assert_eq!(reason(&active), Reason::NoConnection);
    let o = h.apply(
        1,
        "SYS1",
        Request::ReleaseConnection {
            token: a.token,
            conname: b_name.clone(),
        },
    );
    assert!(o.reply.is_success());
    assert!(h.structure().connections().by_name(&b_name).is_none());
}

#[test]
fn strdisp_delete_frees_the_structure_when_no_connection_remains() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    h.op(a, ListOp::Write(new_entry(0, 1, b"x")));
    h.apply(1, "SYS1", Request::LinkDropped);
    assert!(
        h.facility.structure(&strname("TESTSTR")).is_some(),
        "failed-persistent keeps it"
    );
    let b = h.connect(2, "SYS2", "B");
    h.apply(
        2,
        "SYS2",
        Request::ReleaseConnection {
            token: b.token,
            conname: ConName::new("A").expect("valid"),
        },
    );
    h.apply(2, "SYS2", Request::Disconnect { token: b.token });
    assert!(h.facility.structure(&strname("TESTSTR")).is_none());
}

#[test]
fn strdisp_keep_structures_live_until_forced() {
    let mut h = Harness::new();
    let request = ConnectRequest {
        strdisp: StrDisp::Keep,
        ..connect_request("KEEPSTR", Some("A"), StructureAttrs::default())
    };
    let (a, _) = h.connect_with(1, "SYS1", request);
    let force = || Request::Force {
        structure: strname("KEEPSTR"),
    };
    assert_eq!(reason(&h.apply(9, "SYS9", force())), Reason::StillConnected);
    h.apply(1, "SYS1", Request::Disconnect { token: a.token });
    assert!(h.facility.structure(&strname("KEEPSTR")).is_some());
    assert!(h.apply(9, "SYS9", force()).reply.is_success());
    assert!(h.facility.structure(&strname("KEEPSTR")).is_none());
    assert_eq!(reason(&h.apply(9, "SYS9", force())), Reason::NoStructure);
}

#[test]
fn maxconn_limits_connections() {
    let mut h = Harness::new();
    let attrs = StructureAttrs {
        max_conn: 1,
        ..StructureAttrs::default()
    };
    h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("A"), attrs));
    let o = h.apply(
        2,
        "SYS2",
        Request::Connect(connect_request(
            "TESTSTR",
            Some("B"),
            StructureAttrs::default(),
        )),
    );
    assert_eq!(reason(&o), Reason::MaxConnections);
}

#[test]
fn a_fenced_system_is_refused_on_its_old_links_but_may_rejoin_on_a_new_one() {
    let mut h = Harness::new();
    let a = h.connect(1, "SYS1", "A");
    let b = h.connect(2, "SYS2", "B");
    let fenced = h.apply(
        5,
        "SYS1",
        Request::Fence {
            system: sys("SYS2"),
        },
    );
    assert_eq!(fenced.reply.body, ReplyBody::Systems(vec![sys("SYS2")]));
    assert!(matches!(
        events_for(&fenced, a).as_slice(),
        [Event::FailedConnection {
            persistent: true,
            ..
        }]
    ));
    let o = h.op(b, ListOp::Write(new_entry(0, 1, b"hung writer")));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::EnvError, Reason::Fenced)
    );
    assert_eq!(
        reason(&h.apply(2, "SYS2", Request::Heartbeat)),
        Reason::Fenced
    );
    assert!(h.contents(0).is_empty());
    assert!(h.apply(6, "SYS2", Request::Heartbeat).reply.is_success());
    let (_, o) = h.connect_with(
        6,
        "SYS2",
        connect_request("TESTSTR", Some("B"), StructureAttrs::default()),
    );
    assert_eq!(reason(&o), Reason::ConaReconnected);
}

#[test]
fn a_fenced_system_stays_refused_on_its_old_links_after_a_snapshot() {
    let mut h = Harness::new();
    h.connect(1, "SYS1", "A");
    h.connect(2, "SYS2", "B");
    h.apply(
        5,
        "SYS1",
        Request::Fence {
            system: sys("SYS2"),
        },
    );
    let image = postcard::to_stdvec(&h.facility).expect("encodes");
    h.facility = postcard::from_bytes(&image).expect("decodes");
    assert_eq!(
        reason(&h.apply(2, "SYS2", Request::Heartbeat)),
        Reason::Fenced
    );
    assert!(h.apply(6, "SYS2", Request::Heartbeat).reply.is_success());
}

#[test]
fn expire_fences_only_systems_whose_heartbeat_is_older_than_the_interval() {
    let mut h = Harness::new();
    h.connect(1, "SYS1", "A");
    h.connect(2, "SYS2", "B");
    h.apply(1, "SYS1", Request::Heartbeat);
    h.apply(2, "SYS2", Request::Heartbeat);
    h.now += 3_000_000;
    h.apply(1, "SYS1", Request::Heartbeat);
    h.now += 2_000_000;
    let o = h.apply(
        2,
        "SYS2",
        Request::Expire {
            interval: 4_000_000,
        },
    );
    assert_eq!(o.reply.body, ReplyBody::Systems(vec![sys("SYS2")]));
    assert!(
        o.deliveries
            .iter()
            .any(|d| matches!(d, Delivery::Console { text } if text.starts_with("IXC105I")))
    );
    let again = h.apply(
        2,
        "SYS2",
        Request::Expire {
            interval: 4_000_000,
        },
    );
    assert_eq!(again.reply.body, ReplyBody::Systems(vec![]));
}

#[test]
fn crossing_the_full_threshold_issues_ixc585e_and_dropping_back_ixc586i() {
    let mut h = Harness::new();
    let attrs = StructureAttrs {
        entry_count: 10,
        full_threshold: 80,
        ..StructureAttrs::default()
    };
    let (a, _) = h.connect_with(1, "SYS1", connect_request("TESTSTR", Some("A"), attrs));
    let console = |o: &Outcome| -> Vec<String> {
        o.deliveries
            .iter()
            .filter_map(|d| match d {
                Delivery::Console { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    let mut messages = Vec::new();
    for k in 0..9 {
        messages.extend(console(&h.op(a, ListOp::Write(new_entry(0, k, b"x")))));
    }
    assert_eq!(messages.len(), 1);
    insta::assert_snapshot!(messages[0]);
    let delete = ListOp::Delete(DeleteEntry {
        locator: Locator::Position {
            list: list(0),
            end: End::Head,
        },
        read: false,
        conditions: Conditions::default(),
    });
    let mut below = console(&h.op(a, delete.clone()));
    below.extend(console(&h.op(a, delete)));
    assert_eq!(below.len(), 1);
    assert!(below[0].starts_with("IXC586I STRUCTURE TESTSTR IN COUPLING FACILITY CF01,"));
}

#[test]
fn connect_checks_names_and_attributes_before_allocating() {
    let mut h = Harness::new();
    let bad_name: StrName =
        postcard::from_bytes(&postcard::to_stdvec("lower case").expect("encodes"))
            .expect("decodes unchecked");
    let request = ConnectRequest {
        structure: bad_name,
        ..connect_request("TESTSTR", Some("A"), StructureAttrs::default())
    };
    let o = h.apply(1, "SYS1", Request::Connect(request));
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::ParmError, Reason::BadName)
    );
    let zero_lists = StructureAttrs {
        list_headers: 0,
        ..StructureAttrs::default()
    };
    let o = h.apply(
        1,
        "SYS1",
        Request::Connect(connect_request("TESTSTR", Some("A"), zero_lists)),
    );
    assert_eq!(
        (o.reply.rc, reason(&o)),
        (ReturnCode::ParmError, Reason::BadAttribute)
    );
    let huge_vector = ConnectRequest {
        vector_len: MAX_VECTOR_LEN + 1,
        ..connect_request("TESTSTR", Some("A"), StructureAttrs::default())
    };
    assert_eq!(
        reason(&h.apply(1, "SYS1", Request::Connect(huge_vector))),
        Reason::BadAttribute
    );
    assert_eq!(h.facility, Facility::default());
}

#[test]
fn vector_length_is_rounded_up_to_a_multiple_of_32() {
    let mut h = Harness::new();
    let request = ConnectRequest {
        vector_len: 33,
        ..connect_request("TESTSTR", Some("A"), StructureAttrs::default())
    };
    let (_, o) = h.connect_with(1, "SYS1", request);
    let ReplyBody::Connected(c) = o.reply.body else {
        panic!("not connected")
    };
    assert_eq!(c.vector_len, 64);
}
