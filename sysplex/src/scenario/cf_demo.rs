//! The coupling facility demonstration: a CF server (`cfsrv`, with a sled store in a
//! temporary directory) on loopback, and two systems whose connectors share a keyed list
//! structure. It shows allocation by the first connector, list monitoring with the transition
//! exit, keyed writes and a multi-entry read, lock contention with a FIFO queue and the notify
//! exit, a failed-persistent connection when a system's CF link drops, and the structure dump.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cf::auth::Secret;
use cf::client::{Client, Connection, Events};
use cf::server::{self, Config};
use cf::store::SledStore;
use cf::structure::{
    ConDisp, ConName, ConnectRequest, DeleteEntry, End, EntryKey, EntryType, Event, KeySource,
    ListNumber, Locator, LockOper, LockRequest, MonitorAction, MonitorList, MultiEntry, Reply,
    ReplyBody, StrDisp, StrName, StructureAttrs, WriteEntry,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::timeline::Timeline;

/// The structure the demonstration allocates.
pub const STRUCTURE: &str = "DEMO_LIST01";

/// The list both systems write to and SYS1 monitors.
const WORK_LIST: u32 = 0;

/// What a run of the demonstration produced.
#[derive(Debug)]
pub struct Report {
    /// What happened, in order.
    pub timeline: Timeline,
    /// The structure dump at the end (YAML).
    pub dump: String,
}

/// Runs the demonstration, printing the timeline as it goes when `echo` is set.
pub async fn run(echo: bool) -> anyhow::Result<Report> {
    let mut timeline = Timeline::new(echo);
    let dir = tempfile::tempdir().context("creating the CF's store directory")?;
    let store = SledStore::open(dir.path(), 500).context("opening the sled store")?;
    let secret = Secret::new(*b"zsysplex-demo-sysplex-secret").context("sysplex secret")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(server::run(
        listener,
        Arc::new(store),
        Config::new(secret.clone()),
        stopped,
    ));
    timeline.record(
        "CF",
        format!(
            "cfsrv listening on {address}, sled store in {}",
            dir.path().display()
        ),
    );

    let sys1 = Client::connect(address, &secret, "SYS1", "TCPCS").await?;
    let mut sys1_events = sys1.events();
    let sys2 = Client::connect(address, &secret, "SYS2", "TCPCS").await?;
    timeline.record("CF", "CF links from SYS1 and SYS2 authenticated");

    let first = connect(&sys1, "SYS1TCPCS", &mut timeline).await?;
    let second = connect(&sys2, "SYS2TCPCS", &mut timeline).await?;
    await_event(&mut sys1_events, &mut timeline, "SYS1", |e| {
        matches!(e, Event::NewConnection { .. })
    })
    .await?;

    expect_ok(
        first
            .monitor_list(MonitorList {
                list: ListNumber(WORK_LIST),
                action: MonitorAction::Start,
                bit: 0,
                drive_exit: true,
            })
            .await?,
        "IXLLSTC MONITOR_LIST",
    )?;
    timeline.record(
        "SYS1",
        "IXLLSTC MONITOR_LIST LIST(0) VECTORINDEX(0) DRIVEEXIT(YES)",
    );

    for (key, text) in [(3u8, "third"), (1, "first"), (2, "second")] {
        expect_ok(second.write(keyed_write(key, text)).await?, "IXLLSTE WRITE")?;
        timeline.record(
            "SYS2",
            format!("IXLLSTE WRITE LIST(0) KEY({key:02X}..) DATA('{text}')"),
        );
    }
    await_event(&mut sys1_events, &mut timeline, "SYS1", |e| {
        matches!(e, Event::ListTransition)
    })
    .await?;
    if let ReplyBody::Vector(bits) = first.read_vector().await?.body {
        timeline.record(
            "SYS1",
            format!(
                "IXLVECTR TESTLISTSTATE: bit 0 = {}",
                u8::from(bits.first() == Some(&true))
            ),
        );
    }

    let read = first
        .read_list(MultiEntry {
            list: ListNumber(WORK_LIST),
            keys: None,
            version: None,
            lock: None,
            limit: 2,
            restart: None,
        })
        .await?;
    let mut restart = None;
    if let ReplyBody::Entries(batch) = &read.body {
        let texts = batch.entries.iter().map(entry_text).collect::<Vec<_>>();
        timeline.record(
            "SYS1",
            format!("IXLLSTM READ_LIST: {texts:?} (ended early, restart token returned)"),
        );
        restart = batch.restart;
    }
    if let Some(token) = restart {
        let rest = first
            .read_list(MultiEntry {
                list: ListNumber(WORK_LIST),
                keys: None,
                version: None,
                lock: None,
                limit: 2,
                restart: Some(token),
            })
            .await?;
        if let ReplyBody::Entries(batch) = &rest.body {
            let texts = batch.entries.iter().map(entry_text).collect::<Vec<_>>();
            timeline.record("SYS1", format!("IXLLSTM READ_LIST resumed: {texts:?}"));
        }
    }

    expect_ok(first.lock(lock(LockOper::Set, true)).await?, "lock SET")?;
    timeline.record("SYS1", "IXLLSTE LOCKOPER(SET) LOCKINDEX(5): held");
    let waiting = second.submit(cf::structure::ListOp::Lock(lock(LockOper::Set, false)));
    timeline.record(
        "SYS2",
        "IXLLSTE LOCKOPER(SET) LOCKINDEX(5) unconditional: queued",
    );
    await_event(&mut sys1_events, &mut timeline, "SYS1", |e| {
        matches!(e, Event::LockContention { .. })
    })
    .await?;
    expect_ok(first.lock(lock(LockOper::Reset, true)).await?, "lock RESET")?;
    timeline.record("SYS1", "IXLLSTE LOCKOPER(RESET) LOCKINDEX(5)");
    expect_ok(waiting.await?, "queued lock SET")?;
    timeline.record("SYS2", "lock 5 granted from the FIFO queue");

    let deleted = second
        .delete(DeleteEntry {
            locator: Locator::Position {
                list: ListNumber(WORK_LIST),
                end: End::Head,
            },
            read: true,
            conditions: Default::default(),
        })
        .await?;
    if let ReplyBody::Entry(entry) = &deleted.body {
        timeline.record(
            "SYS2",
            format!(
                "IXLLSTE DELETE (read-and-delete) head: '{}'",
                entry_text(entry)
            ),
        );
    }

    drop(second);
    drop(sys2);
    timeline.record("LAB", "SYS2's CF link dropped (the system failed)");
    await_event(&mut sys1_events, &mut timeline, "SYS1", |e| {
        matches!(e, Event::FailedConnection { .. })
    })
    .await?;

    let dump = sys1.dump(structure_name()?).await?;
    timeline.record(
        "SYS1",
        format!(
            "structure {STRUCTURE} dumped ({} lines)",
            dump.lines().count()
        ),
    );
    drop(first);
    drop(sys1);
    let _ = stop.send(());
    server.await??;
    timeline.record("CF", "cfsrv stopped");
    Ok(Report { timeline, dump })
}

fn structure_name() -> anyhow::Result<StrName> {
    StrName::new(STRUCTURE).context("structure name")
}

async fn connect(
    client: &Client,
    conname: &str,
    timeline: &mut Timeline,
) -> anyhow::Result<Connection> {
    let request = ConnectRequest {
        structure: structure_name()?,
        conname: Some(ConName::new(conname).context("connection name")?),
        attrs: StructureAttrs::default(),
        condisp: ConDisp::Keep,
        strdisp: StrDisp::Keep,
        vector_len: 32,
        jobname: client.jobname().to_owned(),
        asid: 0x3A,
    };
    let connection = match client.connect_structure(request).await? {
        Ok(connection) => connection,
        Err(reply) => bail!("IXLCONN refused: RC {} {}", reply.rc, reply.reason),
    };
    let connected = connection.connected();
    let how = if connected.allocated {
        "allocated the structure"
    } else {
        "connected to the allocated structure"
    };
    timeline.record(
        client.sysname(),
        format!(
            "IXLCONN STRNAME({STRUCTURE}) CONNAME({conname}): RC {}, CONID {:02X}, {how}",
            connection.connect_code().0,
            connected.conid.0,
        ),
    );
    Ok(connection)
}

fn keyed_write(key: u8, text: &str) -> WriteEntry {
    let mut bytes = [0u8; 16];
    bytes[0] = key;
    WriteEntry {
        entry_type: EntryType::New,
        list: ListNumber(WORK_LIST),
        locator: None,
        name: None,
        leid: None,
        key: KeySource::Explicit(EntryKey(bytes)),
        end: End::Tail,
        data: text.as_bytes().to_vec(),
        adjunct: None,
        conditions: Default::default(),
    }
}

fn lock(oper: LockOper, conditional: bool) -> LockRequest {
    LockRequest {
        index: 5,
        oper,
        conditional,
    }
}

fn entry_text(entry: &cf::structure::EntryAnswer) -> String {
    entry
        .data
        .as_deref()
        .map(|d| String::from_utf8_lossy(d).trim_end_matches('\0').to_owned())
        .unwrap_or_default()
}

fn expect_ok(reply: Reply, what: &str) -> anyhow::Result<Reply> {
    if !reply.is_success() {
        bail!("{what} failed: RC {} {}", reply.rc, reply.reason);
    }
    Ok(reply)
}

async fn await_event(
    events: &mut Events,
    timeline: &mut Timeline,
    system: &str,
    wanted: impl Fn(&Event) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .context("no event within 10 s")?
            .context("CF link closed")?;
        timeline.record(system, format!("event exit: {}", describe(&event.event)));
        if wanted(&event.event) {
            return Ok(());
        }
    }
}

/// The event as the event exit's parameter list would name it.
fn describe(event: &Event) -> String {
    match event {
        Event::NewConnection {
            conname,
            conid,
            system,
        } => {
            format!(
                "New Connection {} CONID {:02X} on {}",
                conname.as_str(),
                conid.0,
                system.as_str()
            )
        }
        Event::ExistingConnection {
            conname,
            conid,
            state,
        } => {
            format!(
                "Existing Connection {} CONID {:02X} {state}",
                conname.as_str(),
                conid.0
            )
        }
        Event::ExistingConnectionsEnd => "Existing Connection (last, dummy record)".to_owned(),
        Event::Disconnected { conname, conid } => {
            format!(
                "Disconnected Connection {} CONID {:02X}",
                conname.as_str(),
                conid.0
            )
        }
        Event::FailedConnection {
            conname,
            conid,
            persistent,
        } => format!(
            "Failed Connection {} CONID {:02X}{}",
            conname.as_str(),
            conid.0,
            if *persistent {
                ", now FAILED-PERSISTENT"
            } else {
                ""
            }
        ),
        Event::ConnectionReleased { conname, conid } => {
            format!(
                "Connection Released {} CONID {:02X}",
                conname.as_str(),
                conid.0
            )
        }
        Event::ListTransition => {
            "list transition exit (empty to nonempty; test the vector)".to_owned()
        }
        Event::EventQueueTransition => "event queue transition".to_owned(),
        Event::LockContention { index, requester } => {
            format!(
                "notify exit: CONID {:02X} waits for lock {index}",
                requester.0
            )
        }
    }
}
