//! The operator console on the embedded fixture lab: displays, a planned move with
//! DEACTIVATE / REACTIVATE, an LPAR partitioned out and re-IPLed, and refused commands.

use std::time::Duration;

use sysplex::console::execute;
use sysplex::lab::Lab;
use sysplex::topology::Topology;

/// Runs `line` until a response line contains `needle` (the sysplex settles in the
/// meantime); panics after a generous bound.
async fn until_response(lab: &mut Lab, line: &str, needle: &str) -> Vec<String> {
    for _ in 0..200 {
        let response = execute(lab, line).await.expect("the command runs");
        if response.iter().any(|l| l.contains(needle)) {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{line}: never answered with {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_commands_drive_and_display_the_lab() {
    let topology = Topology::load(&super::dvipa_lab()).expect("the fixture topology loads");
    let mut lab = Lab::start(topology).await.expect("the lab starts");
    until_response(
        &mut lab,
        "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
        "198.51.100.30   255.255.255.255 Active    VIPADefine",
    )
    .await;
    let group = until_response(&mut lab, "D XCF,GROUP,EZBTCP22", "SYS3TCPCS").await;
    assert!(group[0].starts_with("IXC332I"), "{group:?}");
    let structures = execute(&mut lab, "D XCF,STR").await.unwrap();
    assert!(structures[0].starts_with("IXC359I"), "{structures:?}");

    // A planned move: SYS1 gives the DVIPA up, SYS2 (rank 150) takes it.
    let response = execute(
        &mut lab,
        "V TCPIP,TCPCS,SYSPLEX,DEACTIVATE,DVIPA=198.51.100.30",
    )
    .await
    .unwrap();
    assert_eq!(
        response,
        vec![
            "SYS1  EZD1197I THE VARY TCPIP,,SYSPLEX,DEACTIVATE,DVIPA COMMAND COMPLETED \
             SUCCESSFULLY"
        ]
    );
    until_response(
        &mut lab,
        "RO SYS2,D TCPIP,TCPCS,NETSTAT,VIPADYN",
        "198.51.100.30   255.255.255.255 Active    VIPABackup",
    )
    .await;
    let messages = lab.new_messages();
    assert!(
        messages
            .iter()
            .any(|(s, m)| s == "SYS2" && m.starts_with("EZZ8301I VIPA 198.51.100.30")),
        "{messages:?}"
    );
    execute(
        &mut lab,
        "RO SYS1,V TCPIP,TCPCS,SYSPLEX,REACTIVATE,DVIPA=198.51.100.30",
    )
    .await
    .unwrap();
    until_response(
        &mut lab,
        "D TCPIP,TCPCS,NETSTAT,VIPADYN",
        "198.51.100.30   255.255.255.255 Active    VIPADefine",
    )
    .await;

    // SYS1 is partitioned out: SYS2 takes over; SYS1 comes back and takes the DVIPA back.
    let response = execute(&mut lab, "V XCF,SYS1,OFFLINE").await.unwrap();
    assert!(response[0].starts_with("IXC101I"), "{response:?}");
    until_response(
        &mut lab,
        "RO SYS2,D TCPIP,TCPCS,NETSTAT,VIPADYN",
        "Active    VIPABackup",
    )
    .await;
    let response = execute(&mut lab, "RO SYS1,D TCPIP,TCPCS,NETSTAT,HOME")
        .await
        .unwrap();
    assert_eq!(response, vec!["IEE341I SYS1 NOT ACTIVE"]);
    execute(&mut lab, "IPL SYS1").await.unwrap();
    until_response(
        &mut lab,
        "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
        "Active    VIPADefine",
    )
    .await;

    // Refused lines answer with the z/OS message and change nothing.
    let response = execute(&mut lab, "D XCF,FOO").await.unwrap();
    assert_eq!(response, vec!["IEE305I D XCF,FOO COMMAND INVALID"]);
    let response = execute(&mut lab, "V TCPIP,TCPCS,SYSPLEX,DEACTIVATE")
        .await
        .unwrap();
    assert!(response[0].starts_with("EZZ0059I"), "{response:?}");
    let response = execute(&mut lab, "RO SYS2,D TCPIP,OTHER,NETSTAT,HOME")
        .await
        .unwrap();
    assert_eq!(response, vec!["SYS2  IEE341I TCPIP OTHER NOT ACTIVE"]);
}
