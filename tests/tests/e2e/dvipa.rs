//! `sysplex run dvipa` on the fixture lab: the highest-ranked backup takes over, the clients
//! reconnect to it, the owner takes the DVIPA back (IMMEDIATE, with Moving on the holder).

use sysplex::scenario::dvipa;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_failure_is_taken_over_by_the_top_backup_and_taken_back() {
    let report = dvipa::run(&super::dvipa_lab(), false)
        .await
        .expect("the scenario runs");
    let verdict = &report.verdict;
    assert_eq!(report.owner, "SYS1");
    assert_eq!(
        report.backups,
        vec![("SYS2".to_owned(), 150), ("SYS3".to_owned(), 50)]
    );
    assert_eq!(verdict.expected_takeover, "SYS2");
    assert_eq!(verdict.takeover_by.as_deref(), Some("SYS2"));
    assert!(verdict.clients_reconnected, "{:#?}", report.clients);
    assert!(verdict.moving_seen);
    assert_eq!(verdict.final_owner.as_deref(), Some("SYS1"));
    assert!(verdict.new_connection_on_owner);
    assert!(verdict.holds);
    assert_eq!(report.clients.len(), 2);
    for client in &report.clients {
        assert_eq!(client.served_after_takeover.as_deref(), Some("SYS2"));
        assert!(client.verified_bytes > 0);
    }
    let texts: Vec<(&str, &str)> = report
        .timeline
        .iter()
        .map(|e| (e.source.as_str(), e.text.as_str()))
        .collect();
    let position = |source: &str, needle: &str| {
        texts
            .iter()
            .position(|(s, t)| *s == source && t.contains(needle))
            .unwrap_or_else(|| panic!("no {source} moment with {needle:?} in {texts:#?}"))
    };
    let killed = position("SYS1", "LPAR killed");
    let takeover = position(
        "SYS2",
        "EZZ8301I VIPA 198.51.100.30 TAKEN OVER FROM TCPCS ON SYS1",
    );
    let reconnected = position("CLIENT1#1", "served by SYS2");
    let taken_back = position(
        "SYS1",
        "EZZ8302I VIPA 198.51.100.30 TAKEN FROM TCPCS ON SYS2",
    );
    let given = position("SYS2", "EZZ8303I VIPA 198.51.100.30 GIVEN TO TCPCS ON SYS1");
    assert!(killed < takeover && takeover < reconnected && reconnected < taken_back);
    assert!(reconnected < given);
    assert!(
        !texts
            .iter()
            .any(|(s, t)| *s == "SYS3" && t.contains("EZZ8301I")),
        "the lower-ranked backup took over: {texts:#?}"
    );
    let moving = report
        .during_takeback
        .iter()
        .find(|d| d.command == "RO SYS2,D TCPIP,TCPCS,NETSTAT,VIPADYN")
        .expect("the holder's VIPADYN during the takeback");
    assert!(moving.text.contains("Moving"), "{}", moving.text);
    let group = report
        .before
        .iter()
        .find(|d| d.command == "D XCF,GROUP,EZBTCP22,ALL")
        .expect("the XCF group display");
    for member in ["SYS1TCPCS", "SYS2TCPCS", "SYS3TCPCS"] {
        assert!(group.text.contains(member), "{}", group.text);
    }
}
