//! `cfbench`: CF list requests against redis, same payloads and concurrency.
//!
//! Starts its own `cfsrv` (a child, next to this binary, or in-process with `--in-process`)
//! and its own `redis-server` on free loopback ports, then for each payload size (64 B,
//! 4 KiB), connector count (1, 16) and pipelining (depth 1, depth N) runs four phases of a
//! few seconds each: write (IXLLSTE WRITE at the list head / LPUSH), read (READ of the head
//! entry / LINDEX 0), move (MOVE tail to head of the same list / LMOVE RIGHT LEFT) and
//! delete (read-and-delete of the head entry / LPOP). Prints ops/s, p50 and p99 per cell for
//! both, the CF/redis throughput ratio, and how the single rounds compared (the lowest and
//! highest ratio of a CF round to the redis round beside it, and in how many rounds the CF's
//! p50 was no higher).
//!
//! Each phase of the CF is interleaved with the same phase of redis: both are cut into
//! `--slices` slices that take turns (which side first alternating from round to round), so
//! that a machine whose speed changes from second to second treats both alike, and each
//! slice first runs `--warmup-ms` unmeasured; every figure is the median over `--rounds`
//! rounds (each with a fresh structure and an emptied redis).
//! After every slice the benchmark waits until the machine's CPUs are idle again, and after
//! each write phase both sides also rest `--settle` seconds, so that the log flush, fsync,
//! snapshot or log rewrite a slice leaves behind is not timed in the slice after it.
//!
//! Durability is compared like for like. The main table runs the CF structures with `async`
//! durability (every change is logged, and the log is flushed to disk every interval) against
//! redis with its own asynchronous persistence, `appendonly yes` and `appendfsync everysec`
//! (every command appended to its log, fsync'd once a second); `--redis-async-persistence
//! none` shows redis without any persistence instead. The `sync` table (CF replies after the
//! flush) compares against redis `appendfsync always`.

mod cpu;
mod quiet;
mod resp;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cf::auth::Secret;
use cf::client::{Client, Connection, DEFAULT_SYNC_THRESHOLD, LinkOptions};
use cf::structure::{
    ConDisp, ConnectRequest, DeleteEntry, Durability, End, EntryType, KeySource, ListNumber,
    ListOp, Locator, MoveEntry, ReadEntry, Reason, RefOption, Reply, StrDisp, StrName,
    StructureAttrs, WriteEntry,
};
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use self::cpu::CpuMeter;
use self::quiet::Quiet;
use self::resp::{Answer, Redis};

#[derive(Debug, Parser)]
#[command(about = "CF list requests against redis")]
struct Cli {
    /// Measured seconds per phase, side and cell (over all its slices): long enough that a
    /// phase spans several periods of both sides' background durability work (redis fsyncs
    /// once a second, the CF syncs its log every 500 ms), which a 1 s phase caught or missed
    /// by chance.
    #[arg(long, default_value_t = 3.0)]
    secs: f64,
    /// Slices each phase is cut into, the CF's and redis's taking turns: a machine whose
    /// speed changes between two levels every few seconds (as small VMs do) then runs both
    /// sides at both levels alike, where whole phases side by side could each catch one.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..))]
    slices: u32,
    /// Milliseconds at the start of every slice that are run but not measured. A side that
    /// comes back after idling starts slowly for a while: redis at half speed for about
    /// 50 ms while the scheduler spreads its processes over the CPUs again.
    #[arg(long, default_value_t = 100)]
    warmup_ms: u64,
    /// Rounds per cell: each figure is the median of the rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Seconds to wait after each write phase, so that the durability work it leaves behind
    /// (the CF's log flush, redis's fsync and log rewrite) is not timed in the next phase;
    /// after every slice the benchmark also waits until the CPUs are 90% idle over 200 ms
    /// (at most 20 s), which catches the longer work (a CF snapshot, a redis log rewrite).
    #[arg(long, default_value_t = 1.5)]
    settle: f64,
    /// Requests in flight per connector when pipelining.
    #[arg(long, default_value_t = 32)]
    depth: usize,
    /// The cfsrv binary (default: next to this one).
    #[arg(long)]
    cfsrv: Option<PathBuf>,
    /// Run the CF server in this process instead of a child.
    #[arg(long)]
    in_process: bool,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_server: String,
    /// Runtime worker threads of the benchmark's clients (both CF and redis).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Runtime worker threads of the child cfsrv.
    #[arg(long, default_value_t = 1)]
    cfsrv_threads: usize,
    /// Skip the sync durability table.
    #[arg(long)]
    no_sync: bool,
    /// Entry sizes of the async table, in bytes (the sync table uses the first).
    #[arg(long, value_delimiter = ',', default_values_t = [64, 4096])]
    sizes: Vec<usize>,
    /// Connector counts.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    conns: Vec<usize>,
    /// Microseconds the CF client spins for the answers to a request or burst that is all the
    /// work in flight before it is converted to asynchronous (0: never spin, every request
    /// sleeps until answered).
    #[arg(long, default_value_t = DEFAULT_SYNC_THRESHOLD.as_micros() as u64)]
    sync_threshold_us: u64,
    /// The persistence of the redis the `async` table compares against.
    #[arg(long, value_enum, default_value_t = Persistence::Everysec)]
    redis_async_persistence: Persistence,
}

/// How the redis of a table persists its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Persistence {
    /// No persistence at all (`appendonly no`).
    None,
    /// Append-only file, fsync'd once a second (`appendfsync everysec`): like CF `async`.
    Everysec,
    /// Append-only file, fsync'd before each reply (`appendfsync always`): like CF `sync`.
    Always,
}

impl Persistence {
    /// The redis-server options that select it.
    fn redis_args(self) -> &'static [&'static str] {
        match self {
            Self::None => &["--appendonly", "no"],
            Self::Everysec => &["--appendonly", "yes", "--appendfsync", "everysec"],
            Self::Always => &["--appendonly", "yes", "--appendfsync", "always"],
        }
    }

    /// How a table header names it.
    fn describe(self) -> &'static str {
        match self {
            Self::None => "redis without persistence",
            Self::Everysec => "redis appendfsync everysec",
            Self::Always => "redis appendfsync always",
        }
    }
}

const SECRET: &[u8] = b"cfbench-sysplex-secret";
const STRUCTURE_LISTS: u32 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Read,
    Move,
    Delete,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Read => "read",
            Self::Move => "move",
            Self::Delete => "delete",
        }
    }
}

/// One measured cell.
#[derive(Debug, Clone, Copy)]
struct Figures {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// CPU time of the server and the clients per operation.
    cpu_per_op: Option<Duration>,
}

/// How the rounds of a cell compared, each CF round with the redis round beside it: the
/// lowest and highest throughput ratio, and in how many rounds the CF's p50 was no higher.
/// On a busy machine a cell's single rounds can differ by more than its two sides do; this
/// says how far the median is to be trusted.
#[derive(Debug, Clone, Copy)]
struct RoundSpread {
    lowest_ratio: f64,
    highest_ratio: f64,
    p50_no_higher: usize,
    rounds: usize,
}

impl RoundSpread {
    fn of(cf: &[Figures], redis: &[Figures]) -> Self {
        let ratios: Vec<f64> = cf
            .iter()
            .zip(redis)
            .map(|(c, r)| c.ops_per_sec / r.ops_per_sec)
            .collect();
        Self {
            lowest_ratio: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            highest_ratio: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            p50_no_higher: cf.iter().zip(redis).filter(|(c, r)| c.p50 <= r.p50).count(),
            rounds: ratios.len(),
        }
    }
}

impl std::fmt::Display for RoundSpread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2}-{:.2} {}/{}",
            self.lowest_ratio, self.highest_ratio, self.p50_no_higher, self.rounds
        )
    }
}

impl Figures {
    /// Each figure's median over the rounds (the upper one of an even count).
    fn median(rounds: &[Figures]) -> Figures {
        fn middle<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
            values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            values[values.len() / 2]
        }
        let cpu: Option<Vec<Duration>> = rounds.iter().map(|f| f.cpu_per_op).collect();
        Figures {
            ops_per_sec: middle(rounds.iter().map(|f| f.ops_per_sec).collect()),
            p50: middle(rounds.iter().map(|f| f.p50).collect()),
            p99: middle(rounds.iter().map(|f| f.p99).collect()),
            cpu_per_op: cpu.map(middle),
        }
    }
}

/// What one worker measured over the slices of a phase so far.
#[derive(Debug, Default)]
struct Tally {
    /// Operations sent after their slice's warm-up (counted and timed).
    ops: u64,
    latencies: Vec<Duration>,
    /// Every operation run, warm-ups included.
    run: u64,
    /// A delete found the worker's list empty: it has nothing left to do in this phase.
    exhausted: bool,
}

impl Tally {
    /// Whether the worker goes on until its slice ends: its list still has entries and it
    /// has run fewer operations than the phase allows.
    fn goes_on(&self, window: &Window) -> bool {
        !self.exhausted && self.run < window.cap
    }

    /// Notes an operation sent at `sent` and answered now; it counts when it was sent after
    /// the warm-up of `window`.
    fn record(&mut self, sent: Instant, window: &Window) {
        self.run += 1;
        if sent >= window.counts_from {
            self.ops += 1;
            self.latencies.push(sent.elapsed());
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = match cli.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
    };
    runtime.block_on(bench(cli))
}

async fn bench(cli: Cli) -> anyhow::Result<()> {
    let dir = ScratchDir::new()?;
    let secret = Secret::new(SECRET)?;
    let phase = Duration::try_from_secs_f64(cli.secs).context("--secs")?;

    let link = LinkOptions {
        sync_threshold: Duration::from_micros(cli.sync_threshold_us),
        ..LinkOptions::default()
    };
    let cf = CfServer::start(&cli, &dir.path().join("async")).await?;
    let persistence = cli.redis_async_persistence;
    let redis = RedisServer::start(
        &cli.redis_server,
        &dir.path().join("redis-async"),
        persistence,
    )
    .await?;
    println!(
        "cfbench: {} s per phase, pipelined depth {}, CF sync threshold {} us, cfsrv {}, redis {}",
        cli.secs,
        cli.depth,
        cli.sync_threshold_us,
        if cli.in_process {
            "in-process"
        } else {
            "child"
        },
        redis.addr
    );
    println!(
        "\nasync durability (CF: logged, flushed every interval) vs {}",
        persistence.describe()
    );
    let table = Table {
        cf: &cf,
        secret: &secret,
        link: &link,
        redis: &redis,
        durability: Durability::Async,
        ops: &[Op::Write, Op::Read, Op::Move, Op::Delete],
        sizes: &cli.sizes,
    };
    run_table(&cli, &table, phase).await?;
    drop(redis);
    cf.stop().await?;
    if !cli.no_sync {
        // A fresh CF, so that its flushes do not carry the async table's data.
        let cf = CfServer::start(&cli, &dir.path().join("sync")).await?;
        let redis = RedisServer::start(
            &cli.redis_server,
            &dir.path().join("redis-sync"),
            Persistence::Always,
        )
        .await?;
        println!(
            "\nsync durability (CF: flushed before the reply) vs {}",
            Persistence::Always.describe()
        );
        let table = Table {
            cf: &cf,
            secret: &secret,
            link: &link,
            redis: &redis,
            durability: Durability::Sync,
            ops: &[Op::Write, Op::Delete],
            sizes: &cli.sizes[..1.min(cli.sizes.len())],
        };
        run_table(&cli, &table, phase).await?;
        cf.stop().await?;
    }
    Ok(())
}

/// What one table compares: the CF's structures at `durability` against one redis.
struct Table<'a> {
    cf: &'a CfServer,
    secret: &'a Secret,
    link: &'a LinkOptions,
    redis: &'a RedisServer,
    durability: Durability,
    ops: &'a [Op],
    sizes: &'a [usize],
}

/// Runs every cell of a table and prints a line per cell and operation. Each phase of the CF
/// takes turns slice by slice with the same phase of redis (which goes first alternates round
/// by round), so that both sides meet the same conditions on a busy machine; over several
/// rounds, every figure is the median of the rounds.
async fn run_table(cli: &Cli, table: &Table<'_>, phase: Duration) -> anyhow::Result<()> {
    let settle = Duration::try_from_secs_f64(cli.settle).context("--settle")?;
    let warmup = Duration::from_millis(cli.warmup_ms);
    println!(
        "{:<7} {:>5} {:>5} {:>5} | {:>10} {:>8} {:>8} {:>7} | {:>10} {:>8} {:>8} {:>7} | {:>6} {:>6} | {:>15}",
        "op",
        "size",
        "conns",
        "depth",
        "CF ops/s",
        "p50",
        "p99",
        "cpu/op",
        "redis/s",
        "p50",
        "p99",
        "cpu/op",
        "ratio",
        "p50",
        "rounds: ratio p50"
    );
    let _alive = SystemsAlive::start(table, cli.conns.iter().copied().max().unwrap_or(0)).await?;
    let mut verdict = Verdict::default();
    let mut quiet = Quiet::default();
    let cf_cpu = CpuMeter::new(table.cf.pid());
    let redis_cpu = CpuMeter::new(table.redis.pid());
    let mut group = 0u32;
    for &size in table.sizes {
        for &conns in &cli.conns {
            for depth in [1usize, cli.depth] {
                let cell = Cell {
                    size,
                    conns,
                    depth,
                    phase,
                };
                let mut cf_rounds = vec![Vec::new(); table.ops.len()];
                let mut redis_rounds = vec![Vec::new(); table.ops.len()];
                for round in 0..cli.rounds {
                    group += 1;
                    let mut cf = CfCell::open(table, group, &cell).await?;
                    let mut redis = RedisCell::open(&table.redis.addr, &cell).await?;
                    let cf_first = round % 2 == 0;
                    for (index, &op) in table.ops.iter().enumerate() {
                        let mut cf_phase = Phase::new(&cell, op, cli.slices, warmup);
                        let mut redis_phase = Phase::new(&cell, op, cli.slices, warmup);
                        for _ in 0..cli.slices {
                            for cf_turn in [cf_first, !cf_first] {
                                if cf_turn {
                                    cf.run(&mut cf_phase, &cf_cpu).await?;
                                } else {
                                    redis.run(&mut redis_phase, &redis_cpu).await?;
                                }
                                quiet.wait().await;
                            }
                        }
                        cf_rounds[index].push(cf_phase.figures());
                        redis_rounds[index].push(redis_phase.figures());
                        if op == Op::Write {
                            settle_after_writes(settle, &mut quiet).await;
                        }
                    }
                    cf.close().await?;
                }
                for ((op, cf_rounds), redis_rounds) in
                    table.ops.iter().zip(&cf_rounds).zip(&redis_rounds)
                {
                    let c = Figures::median(cf_rounds);
                    let r = Figures::median(redis_rounds);
                    verdict.count(&c, &r);
                    println!(
                        "{:<7} {:>5} {:>5} {:>5} | {:>10.0} {:>8} {:>8} {:>7} | {:>10.0} {:>8} {:>8} {:>7} | {:>6.2} {:>6} | {:>15}",
                        op.name(),
                        size,
                        conns,
                        depth,
                        c.ops_per_sec,
                        micros(c.p50),
                        micros(c.p99),
                        c.cpu_per_op.map_or_else(|| "-".into(), micros),
                        r.ops_per_sec,
                        micros(r.p50),
                        micros(r.p99),
                        r.cpu_per_op.map_or_else(|| "-".into(), micros),
                        c.ops_per_sec / r.ops_per_sec,
                        if c.p50 <= r.p50 { "<=" } else { ">" },
                        RoundSpread::of(cf_rounds, redis_rounds).to_string(),
                    );
                }
            }
        }
    }
    println!(
        "CF at least as fast as redis in {} of {} cells; p50 no higher in {} of {}",
        verdict.faster, verdict.cells, verdict.quicker, verdict.cells
    );
    println!("{}", quiet.summary());
    Ok(())
}

/// Waits `settle` after a write phase, then until the machine is quiet: the durability work
/// the writes left behind (a log flush, an fsync, a snapshot, an append-only file rewrite)
/// would otherwise run in (and be timed as part of) the next operation's first slice.
async fn settle_after_writes(settle: Duration, quiet: &mut Quiet) {
    tokio::time::sleep(settle).await;
    quiet.wait().await;
}

/// How many cells of a table meet the goal: throughput at least redis's, p50 no higher.
#[derive(Debug, Default)]
struct Verdict {
    cells: usize,
    faster: usize,
    quicker: usize,
}

impl Verdict {
    fn count(&mut self, cf: &Figures, redis: &Figures) {
        self.cells += 1;
        self.faster += usize::from(cf.ops_per_sec >= redis.ops_per_sec);
        self.quicker += usize::from(cf.p50 <= redis.p50);
    }
}

/// A directory for the servers' files, removed at the end.
#[derive(Debug)]
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("cfbench-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn micros(d: Duration) -> String {
    if d < Duration::from_micros(10) {
        format!("{:.1}us", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.0}us", d.as_secs_f64() * 1e6)
    }
}

/// What one group of phases runs: entry size, connectors, requests in flight per connector
/// and the length of each phase.
#[derive(Debug, Clone, Copy)]
struct Cell {
    size: usize,
    conns: usize,
    depth: usize,
    phase: Duration,
}

impl Cell {
    /// The entry data both sides write: `size` bytes.
    fn payload(&self) -> Arc<Vec<u8>> {
        Arc::new(vec![0xC3u8; self.size])
    }
}

/// One side's phase of an operation, run slice by slice in turns with the other side's: its
/// workers' tallies (kept from slice to slice) and the time and CPU time its slices took.
struct Phase {
    op: Op,
    /// Measured length of a slice.
    slice: Duration,
    /// Unmeasured start of every slice.
    warmup: Duration,
    /// Most operations a worker runs in the whole phase.
    cap: u64,
    tallies: Vec<Tally>,
    elapsed: Duration,
    cpu: Option<Duration>,
}

impl Phase {
    /// A phase of `op` in `cell`, to be run in `slices` slices of which each first warms up
    /// for `warmup`.
    fn new(cell: &Cell, op: Op, slices: u32, warmup: Duration) -> Self {
        let cap = if op == Op::Write {
            write_cap(cell.size) / cell.conns as u64
        } else {
            u64::MAX
        };
        Self {
            op,
            slice: cell.phase / slices,
            warmup,
            cap,
            tallies: (0..cell.conns).map(|_| Tally::default()).collect(),
            elapsed: Duration::ZERO,
            cpu: Some(Duration::ZERO),
        }
    }

    /// Runs one slice: `work` for every worker at once, each carrying on with its tally
    /// from the slice before, timed from the end of the warm-up until every worker has given
    /// its tally back. Returns what else the workers gave back, in worker order.
    async fn run_slice<W, T, F>(
        &mut self,
        workers: Vec<W>,
        cpu: &CpuMeter,
        work: impl Fn(W, Window, Tally) -> F,
    ) -> anyhow::Result<Vec<T>>
    where
        F: Future<Output = anyhow::Result<(T, Tally)>> + Send + 'static,
        T: Send + 'static,
    {
        let counts_from = Instant::now() + self.warmup;
        let window = Window {
            counts_from,
            deadline: counts_from + self.slice,
            cap: self.cap,
        };
        let mut tasks = JoinSet::new();
        for (index, worker) in workers.into_iter().enumerate() {
            let run = work(worker, window, std::mem::take(&mut self.tallies[index]));
            tasks.spawn(async move { (index, run.await) });
        }
        tokio::time::sleep_until(window.counts_from.into()).await;
        let cpu_at_start = cpu.used();
        let mut returned = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (index, done) = done?;
            let (value, tally) = done?;
            self.tallies[index] = tally;
            returned.push((index, value));
        }
        self.elapsed += window.counts_from.elapsed();
        self.cpu = self.cpu.zip(cpu.since(cpu_at_start)).map(|(a, b)| a + b);
        returned.sort_unstable_by_key(|(index, _)| *index);
        Ok(returned.into_iter().map(|(_, value)| value).collect())
    }

    /// The phase's figures from what its workers measured over all its slices.
    fn figures(self) -> Figures {
        let ops: u64 = self.tallies.iter().map(|t| t.ops).sum();
        let cpu_per_op = self
            .cpu
            .and_then(|cpu| cpu.checked_div(u32::try_from(ops).ok()?));
        let mut latencies: Vec<Duration> =
            self.tallies.into_iter().flat_map(|t| t.latencies).collect();
        latencies.sort_unstable();
        let at = |percent: usize| {
            let last = latencies.len().saturating_sub(1);
            latencies
                .get(last * percent / 100)
                .copied()
                .unwrap_or_default()
        };
        Figures {
            #[allow(clippy::cast_precision_loss)]
            ops_per_sec: ops as f64 / self.elapsed.as_secs_f64(),
            p50: at(50),
            p99: at(99),
            cpu_per_op,
        }
    }
}

/// A slice of a phase: from when its operations count, when its workers stop, and how many
/// operations each may run in the whole phase.
#[derive(Debug, Clone, Copy)]
struct Window {
    counts_from: Instant,
    deadline: Instant,
    cap: u64,
}

/// Most entries one write phase creates (memory bound), per payload size.
fn write_cap(size: usize) -> u64 {
    if size > 1024 { 150_000 } else { 600_000 }
}

// ---------------------------------------------------------------------------------------
// CF side

#[derive(Debug)]
enum CfServer {
    Child {
        child: Child,
        addr: String,
    },
    InProcess {
        addr: String,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), cf::Error>>,
    },
}

impl CfServer {
    async fn start(cli: &Cli, dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let db = dir.join("cfdb");
        if cli.in_process {
            let store = cf::store::SledStore::open(&db, 500)?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?.to_string();
            let mut config = cf::server::Config::new(Secret::new(SECRET)?);
            config.interval = Duration::from_secs(60);
            config.snapshot_every = 10_000_000;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(cf::server::run(listener, Arc::new(store), config, async {
                let _ = stopped.await;
            }));
            return Ok(Self::InProcess { addr, stop, task });
        }
        let exe = match &cli.cfsrv {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("cfsrv"),
        };
        let secret_file = dir.join("secret");
        std::fs::write(&secret_file, SECRET)?;
        let mut child = Command::new(&exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--interval",
                "60",
                "--db",
            ])
            .arg(&db)
            .arg("--secret-file")
            .arg(&secret_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdout = child.stdout.take().context("cfsrv stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        let addr = line.trim().to_owned();
        if addr.is_empty() {
            bail!("cfsrv printed no address");
        }
        Ok(Self::Child { child, addr })
    }

    async fn stop(self) -> anyhow::Result<()> {
        match self {
            Self::Child { mut child, .. } => {
                if let Some(pid) = child.id() {
                    let _ = std::process::Command::new("kill")
                        .arg(pid.to_string())
                        .status();
                }
                child.wait().await?;
            }
            Self::InProcess { stop, task, .. } => {
                let _ = stop.send(());
                task.await??;
            }
        }
        Ok(())
    }

    fn addr(&self) -> &str {
        match self {
            Self::Child { addr, .. } | Self::InProcess { addr, .. } => addr,
        }
    }

    /// The server's process when it runs apart.
    fn pid(&self) -> Option<u32> {
        match self {
            Self::Child { child, .. } => child.id(),
            Self::InProcess { .. } => None,
        }
    }
}

fn bench_attrs(durability: Durability) -> StructureAttrs {
    StructureAttrs {
        list_headers: STRUCTURE_LISTS,
        lock_entries: 0,
        adjunct: false,
        elem_char: 0,
        max_elem_num: 16,
        entry_count: 4_000_000,
        element_count: 40_000_000,
        emc_count: 0,
        ref_option: RefOption::None,
        full_threshold: 0,
        max_conn: 32,
        durability,
        ..StructureAttrs::default()
    }
}

/// The system connector `worker` of a cell runs on.
fn system_name(worker: usize) -> String {
    format!("SYSB{worker:02}")
}

/// Heartbeats for the systems the cells connect from, for a whole table. A system whose
/// heartbeat stops is partitioned after INTERVAL, as XCF does; without these, the systems of
/// the 16-connector cells would be partitioned in the middle of a later phase.
struct SystemsAlive {
    _links: Vec<(Client, cf::client::KeepAlive)>,
}

impl SystemsAlive {
    async fn start(table: &Table<'_>, systems: usize) -> anyhow::Result<Self> {
        let mut links = Vec::new();
        for worker in 0..systems {
            let name = system_name(worker);
            let client = Client::connect(table.cf.addr(), table.secret, &name, "CFBENCH").await?;
            let keep_alive = client.keep_alive(client.interval() / 3);
            links.push((client, keep_alive));
        }
        Ok(Self { _links: links })
    }
}

/// The CF side of one cell: a structure of its own, a connector per worker.
struct CfCell {
    connections: Vec<Connection>,
    data: Arc<Vec<u8>>,
    cell: Cell,
}

impl CfCell {
    /// Connects the cell's connectors to structure number `group`.
    async fn open(table: &Table<'_>, group: u32, cell: &Cell) -> anyhow::Result<Self> {
        let structure = StrName::new(&format!("CFBENCH{group:04}")).context("structure name")?;
        let mut connections = Vec::new();
        for worker in 0..cell.conns {
            let client = Client::connect_with(
                table.cf.addr(),
                table.secret,
                &system_name(worker),
                "CFBENCH",
                table.link.clone(),
            )
            .await?;
            let connect = ConnectRequest {
                structure: structure.clone(),
                conname: None,
                attrs: bench_attrs(table.durability),
                condisp: ConDisp::Delete,
                strdisp: StrDisp::Delete,
                vector_len: 0,
                jobname: "CFBENCH".into(),
                asid: 0x40,
            };
            let connection = match client.connect_structure(connect).await? {
                Ok(connection) => connection,
                Err(reply) => bail!("IXLCONN refused: RC {} {:?}", reply.rc, reply.reason),
            };
            connections.push(connection);
        }
        Ok(Self {
            connections,
            data: cell.payload(),
            cell: *cell,
        })
    }

    /// Runs one slice of `phase` on every connector at once.
    async fn run(&mut self, phase: &mut Phase, cpu: &CpuMeter) -> anyhow::Result<()> {
        let mut workers = Vec::with_capacity(self.connections.len());
        for (worker, connection) in self.connections.iter().enumerate() {
            workers.push(CfWorker {
                connection: connection.clone(),
                op: phase.op,
                list: ListNumber(u32::try_from(worker)?),
                data: Arc::clone(&self.data),
                depth: self.cell.depth,
            });
        }
        phase.run_slice(workers, cpu, CfWorker::during).await?;
        Ok(())
    }

    /// Disconnects; the structure goes with its last connector.
    async fn close(self) -> anyhow::Result<()> {
        for connection in self.connections {
            let _ = connection.disconnect().await?;
        }
        Ok(())
    }
}

fn cf_op(op: Op, list: ListNumber, data: &[u8]) -> ListOp {
    let head = Locator::Position {
        list,
        end: End::Head,
    };
    match op {
        Op::Write => ListOp::Write(WriteEntry {
            entry_type: EntryType::New,
            list,
            locator: None,
            name: None,
            leid: None,
            key: KeySource::Keep,
            end: End::Head,
            data: data.to_vec(),
            adjunct: None,
            conditions: Default::default(),
        }),
        Op::Read => ListOp::Read(ReadEntry {
            locator: head,
            cursor: None,
            conditions: Default::default(),
        }),
        Op::Move => ListOp::Move(MoveEntry {
            locator: Locator::Position {
                list,
                end: End::Tail,
            },
            to: list,
            end: End::Head,
            key: KeySource::Keep,
            read: false,
            write: None,
            conditions: Default::default(),
        }),
        Op::Delete => ListOp::Delete(DeleteEntry {
            locator: head,
            read: true,
            conditions: Default::default(),
        }),
    }
}

/// What one connector runs: `op` on its own list, `depth` requests at a time, or one
/// synchronous request at a time when `depth` is 1 (as z/OS issues a request not pipelined).
struct CfWorker {
    connection: Connection,
    op: Op,
    list: ListNumber,
    data: Arc<Vec<u8>>,
    depth: usize,
}

impl CfWorker {
    /// Runs through `window`, adding to `tally`, unless the tally says the worker is done.
    async fn during(self, window: Window, mut tally: Tally) -> anyhow::Result<((), Tally)> {
        let (op, list, data) = (self.op, self.list, &self.data);
        while Instant::now() < window.deadline && tally.goes_on(&window) {
            let sent = Instant::now();
            if self.depth == 1 {
                let reply = self.connection.call(cf_op(op, list, data)).await?;
                tally.count(op, &reply, sent, &window)?;
            } else {
                let mut batch = self
                    .connection
                    .submit_all((0..self.depth).map(|_| cf_op(op, list, data)));
                while let Some(reply) = batch.next().await {
                    tally.count(op, &reply?, sent, &window)?;
                }
            }
        }
        Ok(((), tally))
    }
}

impl Tally {
    /// Notes a CF reply to a request sent at `sent`; a delete that found the list empty marks
    /// the worker exhausted.
    fn count(
        &mut self,
        op: Op,
        reply: &Reply,
        sent: Instant,
        window: &Window,
    ) -> anyhow::Result<()> {
        if !reply.is_success() {
            if op == Op::Delete && reply.reason == Reason::NoEntry {
                self.exhausted = true;
                return Ok(());
            }
            bail!("{} failed: RC {} {:?}", op.name(), reply.rc, reply.reason);
        }
        self.record(sent, window);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// redis side

#[derive(Debug)]
struct RedisServer {
    child: Child,
    addr: String,
}

impl RedisServer {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

impl RedisServer {
    /// Starts a redis-server persisting as `persistence` asks, its files in `dir`.
    async fn start(
        binary: &str,
        dir: &std::path::Path,
        persistence: Persistence,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(binary);
        command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .kill_on_drop(true);
        command.args(persistence.redis_args());
        let child = command
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let addr = format!("127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(mut redis) = Redis::connect(&addr).await {
                redis.queue(&[b"PING"]);
                if redis.flush().await.is_ok() && redis.answer().await.is_ok() {
                    return Ok(Self { child, addr });
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("redis-server did not come up on {addr}")
    }
}

/// The redis side of one cell: an emptied database, a client per worker.
struct RedisCell {
    clients: Vec<Redis>,
    data: Arc<Vec<u8>>,
    cell: Cell,
}

impl RedisCell {
    /// Empties the database and connects the cell's clients.
    async fn open(addr: &str, cell: &Cell) -> anyhow::Result<Self> {
        let mut admin = Redis::connect(addr).await?;
        admin.queue(&[b"FLUSHALL"]);
        admin.flush().await?;
        admin.answer().await?;
        let mut clients = Vec::new();
        for _ in 0..cell.conns {
            clients.push(Redis::connect(addr).await?);
        }
        Ok(Self {
            clients,
            data: cell.payload(),
            cell: *cell,
        })
    }

    /// Runs one slice of `phase` on every client at once.
    async fn run(&mut self, phase: &mut Phase, cpu: &CpuMeter) -> anyhow::Result<()> {
        let workers = self
            .clients
            .drain(..)
            .enumerate()
            .map(|(worker, redis)| RedisWorker {
                redis,
                op: phase.op,
                key: format!("cfbench:{worker}").into_bytes(),
                data: Arc::clone(&self.data),
                depth: self.cell.depth,
            })
            .collect();
        self.clients = phase.run_slice(workers, cpu, RedisWorker::during).await?;
        Ok(())
    }
}

/// What one redis client runs: `op` on its own key, `depth` commands written at once, then
/// their answers read.
struct RedisWorker {
    redis: Redis,
    op: Op,
    key: Vec<u8>,
    data: Arc<Vec<u8>>,
    depth: usize,
}

impl RedisWorker {
    /// Runs through `window`, adding to `tally`, unless the tally says the worker is done;
    /// gives the client back for the next slice.
    async fn during(mut self, window: Window, mut tally: Tally) -> anyhow::Result<(Redis, Tally)> {
        let (op, key, data, redis) = (self.op, &self.key[..], &self.data[..], &mut self.redis);
        while Instant::now() < window.deadline && tally.goes_on(&window) {
            let sent = Instant::now();
            for _ in 0..self.depth {
                match op {
                    Op::Write => redis.queue(&[b"LPUSH", key, data]),
                    Op::Read => redis.queue(&[b"LINDEX", key, b"0"]),
                    Op::Move => redis.queue(&[b"LMOVE", key, key, b"RIGHT", b"LEFT"]),
                    Op::Delete => redis.queue(&[b"LPOP", key]),
                }
            }
            redis.flush().await?;
            for _ in 0..self.depth {
                if redis.answer().await? == Answer::Nil {
                    if op == Op::Delete {
                        tally.exhausted = true;
                        continue;
                    }
                    bail!("redis {} found nothing", op.name());
                }
                tally.record(sent, &window);
            }
        }
        Ok((self.redis, tally))
    }
}
