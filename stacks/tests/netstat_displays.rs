//! NETSTAT reports as pure functions, compared with the golden files in fixtures/displays
//! (rewritten when UPDATE_GOLDEN is set).

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use stacks::dvipa::model::ActTime;
use stacks::netstat;
use stacks::netstat::vipadcfg::VipaDcfg;
use stacks::profile;
use stacks::stack::netstat::{ConnId, ConnState, ConnectionInfo, TcpState};

/// 2026-11-22 07:55:24 UTC.
const DISPLAY_TIME: ActTime = ActTime(1_795_334_124);

fn golden(name: &str, actual: &str) {
    let path = format!("{}/../fixtures/displays/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "display differs from {path}");
}

fn fixture(name: &str) -> profile::Profile {
    let path = format!("{}/../fixtures/profiles/{name}", env!("CARGO_MANIFEST_DIR"));
    profile::parse(name, &std::fs::read_to_string(path).unwrap())
        .into_strict()
        .unwrap()
}

fn at(a: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a), port)
}

#[test]
fn conn_lists_listeners_and_connections_by_connection_number() {
    let line = |id, owner: &str, local, foreign, state| ConnectionInfo {
        conn_id: ConnId(id),
        owner: owner.to_owned(),
        local,
        foreign,
        state,
        bytes_in: 0,
        bytes_out: 0,
    };
    let connections = [
        line(
            0x2b,
            "ECHOSRV",
            at([198, 51, 100, 30], 7),
            at([192, 0, 2, 50], 49152),
            ConnState::Tcp(TcpState::Established),
        ),
        line(
            0x02,
            "ECHOSRV",
            at([0, 0, 0, 0], 7),
            at([0, 0, 0, 0], 0),
            ConnState::Tcp(TcpState::Listen),
        ),
        line(
            0x05,
            "IKED",
            at([198, 51, 100, 30], 500),
            at([0, 0, 0, 0], 0),
            ConnState::Udp,
        ),
    ];
    golden(
        "conn.txt",
        &netstat::conn::report("TCPCS", DISPLAY_TIME, &connections),
    );
}

#[test]
fn vipadcfg_of_the_backups() {
    for (file, golden_name) in [
        ("dvipa-backup1.tcpip", "sys2-vipadcfg.txt"),
        ("dvipa-backup2.tcpip", "sys3-vipadcfg.txt"),
    ] {
        let profile = fixture(file);
        let view = VipaDcfg {
            config: &profile.vipa_dynamic,
            deactivated: &BTreeSet::new(),
            joined: true,
        };
        golden(
            golden_name,
            &netstat::vipadcfg::report("TCPCS", DISPLAY_TIME, view),
        );
    }
}

#[test]
fn reports_of_a_stack_outside_its_group_start_with_ezz2502i() {
    let profile = fixture("dvipa-owner.tcpip");
    let view = VipaDcfg {
        config: &profile.vipa_dynamic,
        deactivated: &BTreeSet::new(),
        joined: false,
    };
    golden(
        "sys1-vipadcfg-not-joined.txt",
        &netstat::vipadcfg::report("TCPCS", DISPLAY_TIME, view),
    );
    golden(
        "sys1-vipadyn-not-joined.txt",
        &netstat::vipadyn::report("TCPCS", DISPLAY_TIME, false, &[]),
    );
}
