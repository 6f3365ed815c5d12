//! `sysplex`: runs the emulated sysplex.
//!
//! ```text
//! sysplex run [SCENARIO]    play a scenario embedded (no root): default cf-demo
//! sysplex scenarios         list the scenarios
//! ```

use anyhow::bail;
use clap::{Parser, Subcommand};
use sysplex::scenario::{self, SCENARIOS};

#[derive(Debug, Parser)]
#[command(version, about = "The emulated z/OS Parallel Sysplex network")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Play a scenario embedded: every system in this process, the CF on loopback.
    Run {
        /// The scenario (see `sysplex scenarios`).
        #[arg(default_value = "cf-demo")]
        scenario: String,
    },
    /// List the scenarios.
    Scenarios,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Scenarios => {
            for (name, what) in SCENARIOS {
                println!("{name:<12} {what}");
            }
        }
        Command::Run { scenario } => match scenario.as_str() {
            "cf-demo" => {
                println!("=== Timeline");
                let report = scenario::cf_demo::run(true).await?;
                println!("\n=== Dump of {}", scenario::cf_demo::STRUCTURE);
                print!("{}", report.dump);
            }
            other => bail!("no scenario {other:?}: see `sysplex scenarios`"),
        },
    }
    Ok(())
}
