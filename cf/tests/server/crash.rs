//! kill -9 of a `cfsrv` process under a sync write load: after a restart on the same database
//! every acknowledged entry of the sync structure is there, byte for byte.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;

use cf::client::Client;
use cf::structure::Durability;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common::{PATIENCE, attrs, connect, connect_request, read_all, secret, write_op};

const CFSRV: &str = env!("CARGO_BIN_EXE_cfsrv");

/// Starts `cfsrv` on the database in `dir`. It snapshots every 50 records, so that a kill under
/// load comes after snapshots taken while writes went on, and recovery replays the log on top
/// of one.
async fn start_cfsrv(dir: &Path) -> (Child, String) {
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, b"test-sysplex-secret-0001\n").unwrap();
    let mut child = Command::new(CFSRV)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "600",
            "--snapshot-every",
            "50",
            "--db",
        ])
        .arg(dir.join("db"))
        .arg("--secret-file")
        .arg(&secret_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("cfsrv printed its address")
        .unwrap();
    (child, line.trim().to_owned())
}

/// Entry `i` of writer `w`: distinct, and long enough to span several elements.
fn payload(writer: u32, i: u32) -> Vec<u8> {
    let mut data = format!("W{writer}-E{i}-").into_bytes();
    data.extend((0..600u32).map(|b| u8::try_from((b * 7 + i * 13 + writer) % 251).unwrap()));
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_sync_entry_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start_cfsrv(dir.path()).await;

    let client = Client::connect(&addr, &secret(), "SYS1", "LOADER")
        .await
        .unwrap();
    let connection = connect(
        &client,
        connect_request("SYNCSTR", "LOADER01", attrs(Durability::Sync)),
    )
    .await;

    // Four writers, each keeping 8 writes in flight, until the server is killed.
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for writer in 0..4u32 {
        let connection = connection.clone();
        let acked = acked_tx.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0u32;
            loop {
                let batch: Vec<_> = (0..8)
                    .map(|k| {
                        let data = payload(writer, i + k);
                        (data.clone(), connection.submit(write_op(writer, &data)))
                    })
                    .collect();
                i += 8;
                for (data, pending) in batch {
                    match pending.await {
                        Ok(reply) if reply.is_success() => {
                            let _ = acked.send((writer, data));
                        }
                        Ok(reply) => panic!("write refused: {reply:?}"),
                        Err(_) => return,
                    }
                }
            }
        }));
    }
    drop(acked_tx);

    let mut acked: Vec<(u32, Vec<u8>)> = Vec::new();
    while acked.len() < 200 {
        acked.push(acked_rx.recv().await.expect("writers stopped early"));
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    while let Ok(more) = acked_rx.try_recv() {
        acked.push(more);
    }
    drop(connection);
    drop(client);

    let (mut child, addr) = start_cfsrv(dir.path()).await;
    let client = Client::connect(&addr, &secret(), "SYS1", "CHECKER")
        .await
        .unwrap();
    let checker = connect(
        &client,
        connect_request("SYNCSTR", "CHECKER1", attrs(Durability::Sync)),
    )
    .await;
    let mut stored = HashSet::new();
    for writer in 0..4 {
        stored.extend(read_all(&checker, writer).await);
    }
    let missing = acked
        .iter()
        .filter(|(_, data)| !stored.contains(data))
        .count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} acknowledged entries lost",
        acked.len()
    );
    // Per writer, what survived is a prefix of what was sent, in order.
    for writer in 0..4u32 {
        let list = read_all(&checker, writer).await;
        for (i, data) in list.iter().enumerate() {
            assert_eq!(data, &payload(writer, u32::try_from(i).unwrap()));
        }
    }
    eprintln!(
        "kill -9: {} entries acknowledged before the kill, {} stored after the restart",
        acked.len(),
        stored.len()
    );
    drop(checker);
    drop(client);

    // The offline dump reads the same store once the server is down.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let dump = std::process::Command::new(CFSRV)
        .args(["dump", "--structure", "SYNCSTR", "--db"])
        .arg(dir.path().join("db"))
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8(dump.stdout).unwrap();
    assert!(text.starts_with("structure: SYNCSTR"), "{text}");
}
