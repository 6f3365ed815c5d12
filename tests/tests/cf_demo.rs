//! The CF demonstration that `sysplex run cf-demo` plays, end to end through a real `cfsrv` on
//! loopback with a sled store.

use sysplex::scenario::cf_demo;

#[tokio::test]
async fn cf_demo_shows_monitoring_locks_and_failure_then_a_stable_dump() {
    let report = cf_demo::run(false).await.expect("the demonstration runs");
    let texts: Vec<&str> = report
        .timeline
        .moments()
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    let position = |needle: &str| {
        texts
            .iter()
            .position(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no moment with {needle:?} in {texts:#?}"))
    };
    assert!(position("list transition exit") > position("MONITOR_LIST"));
    assert!(position("waits for lock 5") > position("LOCKOPER(SET) LOCKINDEX(5): held"));
    assert!(position("granted from the FIFO queue") > position("LOCKOPER(RESET)"));
    assert!(position("Failed Connection SYS2TCPCS") > position("link dropped"));
    assert!(
        texts
            .iter()
            .any(|t| t.contains(r#"READ_LIST resumed: ["third"]"#))
    );
    insta::assert_snapshot!(report.dump);
}
