//! DVIPA takeover and takeback end to end, in process, no privileges: a CF served on loopback,
//! three stacks from the fixture profiles (SYS1 owns 198.51.100.30 with VIPADEFINE MOVEABLE
//! IMMEDIATE, SYS2 backs it up at rank 150, SYS3 at rank 50) and a remote host on an in-memory
//! switch, with an echo server on every stack. Real time; every wait is a generous bound.

#[allow(dead_code)]
mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use common::{
    Lpar, PATIENCE, host, inline_profile, start_cf, start_cf_with, start_lpar, start_lpar_with,
    until,
};
use stacks::dvipa::model::DvipaStatus;
use stacks::dvipa::service::Report;
use stacks::lan::switch::EthernetSwitch;
use stacks::stack::StackHandle;
use stacks::stack::tcp::{Received, TcpReader, TcpStream, TcpWriter};

const DVIPA: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 30);
const HOST: Ipv4Addr = common::HOST;

impl Lpar {
    async fn status(&self) -> Option<DvipaStatus> {
        self.status_of(DVIPA).await
    }

    async fn owner(&self) -> Option<String> {
        self.owner_of(DVIPA).await
    }
}

struct Echo {
    reader: TcpReader,
    writer: TcpWriter,
    local: SocketAddrV4,
}

async fn connect(host: &StackHandle) -> Echo {
    let stream: TcpStream = tokio::time::timeout(
        PATIENCE,
        host.connect_from("CLIENT", HOST, SocketAddrV4::new(DVIPA, 7)),
    )
    .await
    .unwrap_or_else(|_| panic!("no connection in time; host: {:?}", host.name()))
    .expect("connects");
    let local = stream.local;
    let (reader, writer) = stream.split();
    Echo {
        reader,
        writer,
        local,
    }
}

impl Echo {
    async fn round_trip(&mut self, payload: &'static [u8]) {
        self.writer.send(Bytes::from_static(payload)).await.unwrap();
        let mut back = Vec::new();
        while back.len() < payload.len() {
            match tokio::time::timeout(PATIENCE, self.reader.recv()).await {
                Ok(Received::Data(data)) => back.extend_from_slice(&data),
                other => panic!("echo ended early: {other:?}"),
            }
        }
        assert_eq!(back, payload);
    }

    async fn close(self) {
        let Echo {
            mut reader, writer, ..
        } = self;
        drop(writer);
        loop {
            match tokio::time::timeout(PATIENCE, reader.recv()).await {
                Ok(Received::Data(_)) => {}
                Ok(Received::Closed) => return,
                other => panic!("close ended badly: {other:?}"),
            }
        }
    }
}

/// Compares a display with its golden file in fixtures/displays (rewritten when
/// UPDATE_GOLDEN is set).
fn golden(name: &str, actual: &str) {
    let path = format!("{}/../fixtures/displays/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "display differs from {path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_failure_takeover_immediate_takeback_and_operator_moves() {
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let host = host(&switch);
    let sys1 = start_lpar(&cf, &switch, "SYS1", "dvipa-owner.tcpip").await;
    let sys2 = start_lpar(&cf, &switch, "SYS2", "dvipa-backup1.tcpip").await;
    let sys3 = start_lpar(&cf, &switch, "SYS3", "dvipa-backup2.tcpip").await;
    assert_eq!(sys1.dvipa.group(), "EZBTCP22");
    until("SYS1 owns the DVIPA everywhere", || async {
        sys1.status().await == Some(DvipaStatus::Active)
            && sys2.owner().await.as_deref() == Some("SYS1")
            && sys3.owner().await.as_deref() == Some("SYS1")
    })
    .await;
    golden(
        "sys1-home.txt",
        &sys1.dvipa.netstat(Report::Home).await.unwrap(),
    );
    golden(
        "sys1-vipadcfg.txt",
        &sys1.dvipa.netstat(Report::VipaDcfg).await.unwrap(),
    );
    golden(
        "sys2-vipadyn-backup.txt",
        &sys2.dvipa.netstat(Report::VipaDyn).await.unwrap(),
    );

    // The host talks to the echo server on the DVIPA, which SYS1 serves.
    let mut first = connect(&host).await;
    first.round_trip(b"before the failure").await;

    // SYS1 dies: SYS2 (rank 150) takes the DVIPA over, SYS3 learns the new owner.
    sys1.kill().await;
    until("SYS2 took the DVIPA over", || async {
        sys2.status().await == Some(DvipaStatus::Active)
            && sys3.owner().await.as_deref() == Some("SYS2")
    })
    .await;
    assert_eq!(sys3.status().await, Some(DvipaStatus::Backup));
    assert!(
        sys2.dvipa
            .console()
            .contains(&"EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1".to_owned()),
        "{:?}",
        sys2.dvipa.console()
    );
    golden(
        "sys3-sysplex-vipadyn-after-takeover.txt",
        &sys3.dvipa.display_sysplex_vipadyn().await.unwrap(),
    );
    drop(first);

    // The host reconnects: SYS2 answers now.
    let mut second = connect(&host).await;
    second.round_trip(b"after the takeover").await;
    let on_sys2 = sys2.stack.connections().await.unwrap();
    assert!(on_sys2.iter().any(|c| c.foreign == second.local));

    // SYS1 comes back: MOVEABLE IMMEDIATE takes the DVIPA back at once; SYS2 keeps the open
    // connection in Moving and SYS1 forwards its packets over dynamic XCF.
    let sys1 = start_lpar(&cf, &switch, "SYS1", "dvipa-owner.tcpip").await;
    until("SYS1 took the DVIPA back and SYS2 is Moving", || async {
        sys1.status().await == Some(DvipaStatus::Active)
            && sys2.status().await == Some(DvipaStatus::Moving)
            && sys3.owner().await.as_deref() == Some("SYS1")
    })
    .await;
    assert_eq!(sys1.dvipa.forwarded_connections(), 1);
    assert!(
        sys1.dvipa
            .console()
            .contains(&"EZZ8302I VIPA 198.51.100.30 TAKEN FROM TCPCS ON SYS2".to_owned())
    );
    assert!(
        sys2.dvipa
            .console()
            .contains(&"EZZ8303I VIPA 198.51.100.30 GIVEN TO TCPCS ON SYS1".to_owned())
    );
    golden(
        "sys2-vipadyn-moving.txt",
        &sys2.dvipa.netstat(Report::VipaDyn).await.unwrap(),
    );
    // The old connection still works (through SYS1 and XCF to SYS2), a new one goes to SYS1.
    second.round_trip(b"through the new owner").await;
    let mut third = connect(&host).await;
    third.round_trip(b"new connection").await;
    let on_sys1 = sys1.stack.connections().await.unwrap();
    assert!(on_sys1.iter().any(|c| c.foreign == third.local));

    // The old connection closes: SYS2 drops the DVIPA and SYS1 stops forwarding.
    second.close().await;
    until("SYS2 is Backup again", || async {
        sys2.status().await == Some(DvipaStatus::Backup) && sys1.dvipa.forwarded_connections() == 0
    })
    .await;
    assert!(
        !sys2
            .stack
            .addresses()
            .await
            .unwrap()
            .dvipas()
            .any(|(addr, _)| addr == DVIPA)
    );
    third.close().await;

    // Planned move: DEACTIVATE on SYS1 gives the DVIPA to SYS2, REACTIVATE takes it back.
    let response = sys1
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.30")
        .await
        .unwrap();
    assert_eq!(
        response,
        vec!["EZD1197I THE VARY TCPIP,,SYSPLEX,DEACTIVATE,DVIPA COMMAND COMPLETED SUCCESSFULLY"]
    );
    until("SYS2 holds the deactivated DVIPA", || async {
        sys2.status().await == Some(DvipaStatus::Active)
            && sys3.owner().await.as_deref() == Some("SYS2")
    })
    .await;
    golden(
        "sys1-vipadcfg-deactivated.txt",
        &sys1.dvipa.netstat(Report::VipaDcfg).await.unwrap(),
    );
    let mut fourth = connect(&host).await;
    fourth.round_trip(b"after deactivate").await;
    fourth.close().await;
    let response = sys1
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,REACTIVATE,DVIPA=198.51.100.30")
        .await
        .unwrap();
    assert_eq!(
        response,
        vec!["EZD1197I THE VARY TCPIP,,SYSPLEX,REACTIVATE,DVIPA COMMAND COMPLETED SUCCESSFULLY"]
    );
    until("SYS1 holds the DVIPA again", || async {
        sys1.status().await == Some(DvipaStatus::Active)
            && sys2.status().await == Some(DvipaStatus::Backup)
            && sys3.owner().await.as_deref() == Some("SYS1")
    })
    .await;
    let mut fifth = connect(&host).await;
    fifth.round_trip(b"after reactivate").await;
    fifth.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whenidle_takeback_waits_for_the_last_connection() {
    const OWNER: &str = "VIPADEFINE MOVEABLE WHENIDLE 255.255.255.255 198.51.100.30";
    const BACKUP: &str = "VIPABACKUP 100 198.51.100.30";
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let host = host(&switch);
    let sys1 = start_lpar_with(&cf, &switch, "SYS1", inline_profile(1, OWNER)).await;
    let sys2 = start_lpar_with(&cf, &switch, "SYS2", inline_profile(2, BACKUP)).await;
    assert_eq!(sys1.dvipa.group(), "EZBTCPCS");
    until("SYS1 owns the DVIPA", || async {
        sys1.status().await == Some(DvipaStatus::Active)
            && sys2.owner().await.as_deref() == Some("SYS1")
    })
    .await;
    sys1.kill().await;
    until("SYS2 took over", || async {
        sys2.status().await == Some(DvipaStatus::Active)
    })
    .await;
    let mut open = connect(&host).await;
    open.round_trip(b"held by the backup").await;

    // The owner returns while the backup has a connection: nothing moves yet.
    let sys1 = start_lpar_with(&cf, &switch, "SYS1", inline_profile(1, OWNER)).await;
    until("SYS1 knows SYS2 holds the DVIPA", || async {
        sys1.owner().await.as_deref() == Some("SYS2")
    })
    .await;
    open.round_trip(b"still on the backup").await;
    assert_eq!(sys2.status().await, Some(DvipaStatus::Active));
    assert_eq!(sys1.status().await, None);

    // The backup goes idle: the DVIPA moves back, with no Moving phase.
    open.close().await;
    until("SYS1 took the DVIPA back", || async {
        sys1.status().await == Some(DvipaStatus::Active)
            && sys2.status().await == Some(DvipaStatus::Backup)
    })
    .await;
    assert_eq!(sys1.dvipa.forwarded_connections(), 0);
    let mut next = connect(&host).await;
    next.round_trip(b"back on the owner").await;
    let on_sys1 = sys1.stack.connections().await.unwrap();
    assert!(on_sys1.iter().any(|c| c.foreign == next.local));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leavegroup_hands_the_dvipa_over_and_joingroup_takes_it_back() {
    const OWNER: &str = "VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.255 198.51.100.30";
    const BACKUP: &str = "VIPABACKUP 100 198.51.100.30";
    let cf = start_cf().await;
    let switch = EthernetSwitch::new();
    let sys1 = start_lpar_with(&cf, &switch, "SYS1", inline_profile(1, OWNER)).await;
    let sys2 = start_lpar_with(&cf, &switch, "SYS2", inline_profile(2, BACKUP)).await;
    until("SYS1 owns the DVIPA", || async {
        sys2.owner().await.as_deref() == Some("SYS1")
    })
    .await;
    let response = sys1
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,LEAVEGROUP")
        .await
        .unwrap();
    assert_eq!(
        response,
        vec!["EZD1175I TCPCS HAS LEFT THE TCP/IP SYSPLEX GROUP EZBTCPCS"]
    );
    until("SYS2 took over", || async {
        sys2.status().await == Some(DvipaStatus::Active)
    })
    .await;
    golden(
        "sys1-vipadyn-after-leavegroup.txt",
        &sys1.dvipa.netstat(Report::VipaDyn).await.unwrap(),
    );
    let refused = sys1
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.30")
        .await
        .unwrap();
    assert_eq!(
        refused,
        vec![
            "EZD1198I THE VARY TCPIP,,SYSPLEX,DEACTIVATE,DVIPA COMMAND FAILED: \
             TCPCS IS NOT A MEMBER OF A SYSPLEX GROUP"
        ]
    );
    let response = sys1
        .dvipa
        .vary("V TCPIP,TCPCS,SYSPLEX,JOINGROUP")
        .await
        .unwrap();
    assert_eq!(
        response,
        vec!["EZD1176I TCPCS HAS SUCCESSFULLY JOINED THE TCP/IP SYSPLEX GROUP EZBTCPCS"]
    );
    until("SYS1 took the DVIPA back", || async {
        sys1.status().await == Some(DvipaStatus::Active)
            && sys2.status().await == Some(DvipaStatus::Backup)
    })
    .await;
    let wrong = sys1
        .dvipa
        .vary("V TCPIP,TCPCS2,SYSPLEX,LEAVEGROUP")
        .await
        .unwrap();
    assert!(wrong[0].starts_with("EZZ0053I"), "{wrong:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_owner_is_partitioned_and_its_backup_takes_over() {
    const OWNER: &str = "VIPADEFINE MOVEABLE IMMEDIATE 255.255.255.255 198.51.100.30";
    const BACKUP: &str = "VIPABACKUP 100 198.51.100.30";
    let cf = start_cf_with(Duration::from_secs(1)).await;
    let switch = EthernetSwitch::new();
    let host = host(&switch);
    let sys1 = start_lpar_with(&cf, &switch, "SYS1", inline_profile(1, OWNER)).await;
    let sys2 = start_lpar_with(&cf, &switch, "SYS2", inline_profile(2, BACKUP)).await;
    until("SYS1 owns the DVIPA", || async {
        sys2.owner().await.as_deref() == Some("SYS1")
    })
    .await;
    // SYS1's XCF stops its heartbeat while its stack runs on: after INTERVAL the CF
    // partitions SYS1, SYS2 takes over, and SYS1, fenced, gives the address up.
    sys1.dvipa.stop_status_update().await.unwrap();
    until("SYS2 took over from the hung SYS1", || async {
        sys2.status().await == Some(DvipaStatus::Active)
    })
    .await;
    assert!(
        sys2.dvipa
            .console()
            .contains(&"EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1".to_owned())
    );
    until("SYS1 dropped the DVIPA", || async {
        !sys1.dvipa.snapshot().await.unwrap().is_joined()
            && !sys1
                .stack
                .addresses()
                .await
                .unwrap()
                .dvipas()
                .any(|(addr, _)| addr == DVIPA)
    })
    .await;
    let mut after = connect(&host).await;
    after.round_trip(b"served by the backup").await;
    let on_sys2 = sys2.stack.connections().await.unwrap();
    assert!(on_sys2.iter().any(|c| c.foreign == after.local));
}
