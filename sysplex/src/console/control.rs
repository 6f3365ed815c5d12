//! The control socket of a `sysplex lpar` process, and the console that attaches to them.
//!
//! Each LPAR process listens on a Unix socket, by default
//! `$TMPDIR/zsysplex-<plexname>/<SYSNAME>.sock` (see [`default_dir`]; removed when the process
//! ends). A request is one connection: the client writes one console line, the LPAR runs it
//! with [`super::execute_on_lpar`] (the code the embedded console uses) and writes back the
//! response lines, then closes.
//!
//! [`AttachedConsole`] routes each line to the LPAR processes (`RO SYS2,...`, `RO *ALL,...`,
//! or the first LPAR that answers) and answers `D XCF,GROUP` itself over its own CF link.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cf::auth::Secret;
use cf::client::Client;
use cf::xcf::Xcf;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::LparView;
use super::command::{self, ConsoleCommand, Route};
use crate::Error;
use crate::lab::{CONSOLE_SYSTEM, display_xcf_group};
use crate::topology::Topology;

/// The longest request line the control socket reads.
const MAX_REQUEST: u64 = 4096;
/// The longest response the attached console reads.
const MAX_RESPONSE: u64 = 1 << 20;
/// How long the control socket waits for a client's line.
const REQUEST_WAIT: Duration = Duration::from_secs(5);

/// The default directory of a sysplex's control sockets: `$TMPDIR/zsysplex-<plexname>`.
pub fn default_dir(topology: &Topology) -> PathBuf {
    std::env::temp_dir().join(format!("zsysplex-{}", topology.sysplex.name))
}

/// The control socket of the LPAR `sysname` in `dir`: `<dir>/<SYSNAME>.sock`.
pub fn socket_path(dir: &Path, sysname: &str) -> PathBuf {
    dir.join(format!("{}.sock", sysname.to_ascii_uppercase()))
}

/// A bound control socket; dropping it removes the socket file.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` (creating its directory). A leftover file nobody listens on is replaced;
    /// a socket another process answers on is an error.
    pub async fn bind(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                return Err(Error::Lab(format!(
                    "control socket {} is in use: is this LPAR already running?",
                    path.display()
                )));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        Ok(Self {
            listener,
            path: path.to_owned(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers requests for the LPAR `sysname` (its stack's services `lpar`), one at a time,
    /// until the future is dropped or accepting fails.
    pub async fn serve(&self, sysname: &str, lpar: LparView<'_>) -> Result<(), Error> {
        loop {
            let (stream, _) = self.listener.accept().await?;
            if let Err(error) = answer(stream, sysname, lpar).await {
                tracing::warn!("{sysname} control socket: {error}");
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads one line from `stream`, runs it and writes the response back.
async fn answer(stream: UnixStream, sysname: &str, lpar: LparView<'_>) -> Result<(), Error> {
    let (read, mut write) = stream.into_split();
    let mut request = Vec::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST));
    tokio::time::timeout(REQUEST_WAIT, reader.read_until(b'\n', &mut request))
        .await
        .map_err(|_| Error::Lab("no request line within 5 seconds".to_owned()))??;
    let line = String::from_utf8_lossy(&request);
    let response = match execute_for_lpar(sysname, lpar, &line).await {
        Ok(response) => response,
        Err(error) => vec![format!("{sysname}  COMMAND FAILED: {error}")],
    };
    let mut text = String::new();
    for line in response {
        text.push_str(&line);
        text.push('\n');
    }
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// Runs one console line on the LPAR `sysname` itself: TCP/IP commands (routed here, or
/// routed to another system: IEE341I); anything else is refused with IEE305I.
pub async fn execute_for_lpar(
    sysname: &str,
    lpar: LparView<'_>,
    line: &str,
) -> Result<Vec<String>, Error> {
    match command::parse(line) {
        Err(refused) => Ok(vec![refused.0]),
        Ok(ConsoleCommand::Nothing) => Ok(Vec::new()),
        Ok(ConsoleCommand::Tcpip {
            route: Route::System(name),
            ..
        }) if !name.eq_ignore_ascii_case(sysname) => Ok(vec![format!("IEE341I {name} NOT ACTIVE")]),
        Ok(ConsoleCommand::Tcpip {
            tcpname, command, ..
        }) => super::execute_on_lpar(sysname, lpar, tcpname.as_deref(), command).await,
        Ok(_) => Ok(vec![format!(
            "IEE305I {} COMMAND INVALID: THE CONTROL SOCKET OF {sysname} RUNS TCP/IP COMMANDS ONLY",
            line.trim()
        )]),
    }
}

/// Sends `line` to the control socket at `path` and returns the response lines; `None` when
/// no process listens there (the LPAR is not active).
pub async fn request(path: &Path, line: &str) -> std::io::Result<Option<Vec<String>>> {
    let mut stream = match UnixStream::connect(path).await {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let line = line.lines().next().unwrap_or("");
    stream.write_all(format!("{line}\n").as_bytes()).await?;
    stream.shutdown().await?;
    let mut bytes = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut bytes).await?;
    Ok(Some(super::lines(&String::from_utf8_lossy(&bytes))))
}

/// A console attached to the `sysplex lpar` processes of a topology through their control
/// sockets.
#[derive(Debug)]
pub struct AttachedConsole {
    topology: Topology,
    dir: PathBuf,
    /// The console's own CF link, made at the first `D XCF,GROUP`.
    xcf: Option<(Client, Xcf)>,
}

impl AttachedConsole {
    /// A console for the LPARs of `topology` whose control sockets are in `dir`.
    pub fn new(topology: Topology, dir: PathBuf) -> Self {
        Self {
            topology,
            dir,
            xcf: None,
        }
    }

    /// Runs one console line; returns the response lines (`SYS1  EZD1197I ...`). An LPAR whose
    /// process does not answer is IEE341I; lab actions (`V XCF,...,OFFLINE`, `IPL`) are refused.
    pub async fn execute(&mut self, line: &str) -> Result<Vec<String>, Error> {
        let command = match command::parse(line) {
            Ok(command) => command,
            Err(refused) => return Ok(vec![refused.0]),
        };
        Ok(match command {
            ConsoleCommand::Nothing => Vec::new(),
            ConsoleCommand::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Vec::new()
            }
            ConsoleCommand::Offline(sysname) | ConsoleCommand::Ipl(sysname) => vec![format!(
                "IEE305I {} COMMAND INVALID: ATTACHED, STOP OR START THE `sysplex lpar` \
                 PROCESS OF {sysname} INSTEAD",
                line.trim()
            )],
            ConsoleCommand::XcfGroup { group, all } => match self.xcf().await {
                Ok(xcf) => match display_xcf_group(xcf, group.as_deref(), all).await {
                    Ok(text) => super::lines(&text),
                    Err(error) => {
                        // The CF link broke: connect again at the next D XCF.
                        self.xcf = None;
                        vec![format!("IEE305I D XCF COMMAND INVALID: {error}")]
                    }
                },
                Err(why) => vec![why],
            },
            ConsoleCommand::XcfStr { .. } => vec![
                "IEE305I D XCF,STR COMMAND INVALID: ATTACHED, THE CF RUNS AS ITS OWN PROCESS \
                 (NO STRUCTURE DISPLAY)"
                    .to_owned(),
            ],
            ConsoleCommand::Tcpip { route, .. } => self.route(route, line).await,
        })
    }

    /// Sends a TCP/IP line to the LPARs `route` names.
    async fn route(&self, route: Route, line: &str) -> Vec<String> {
        let sysnames: Vec<String> = self
            .topology
            .lpars
            .iter()
            .map(|l| l.section.sysname.clone())
            .collect();
        match route {
            Route::System(name) => match self.topology.lpar(&name) {
                Some(lpar) => {
                    let sysname = lpar.section.sysname.clone();
                    self.ask(&sysname, line)
                        .await
                        .unwrap_or_else(|| vec![format!("IEE341I {sysname} NOT ACTIVE")])
                }
                None => vec![format!("IEE341I {name} NOT ACTIVE")],
            },
            Route::Local => {
                for sysname in &sysnames {
                    if let Some(response) = self.ask(sysname, line).await {
                        return response;
                    }
                }
                vec!["IEE341I NO SYSTEM IS ACTIVE TO RUN THE COMMAND".to_owned()]
            }
            Route::All => {
                let mut out = Vec::new();
                let mut answered = false;
                for sysname in &sysnames {
                    if let Some(response) = self.ask(sysname, line).await {
                        answered = true;
                        out.extend(response);
                    }
                }
                if !answered {
                    out.push("IEE341I NO SYSTEM IS ACTIVE TO RUN THE COMMAND".to_owned());
                }
                out
            }
        }
    }

    /// The response of the LPAR `sysname`, `None` when its process does not answer.
    async fn ask(&self, sysname: &str, line: &str) -> Option<Vec<String>> {
        let path = socket_path(&self.dir, sysname);
        match request(&path, line).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!("{sysname} control socket {}: {error}", path.display());
                None
            }
        }
    }

    /// The console's XCF link, connected on first use; the z/OS-like refusal when the
    /// topology names no CF address or the CF does not answer.
    async fn xcf(&mut self) -> Result<&Xcf, String> {
        if self.xcf.is_none() {
            let Some(address) = self.topology.cf.address else {
                return Err(
                    "IEE305I D XCF COMMAND INVALID: THE TOPOLOGY NAMES NO CF ADDRESS \
                            ([cf] address)"
                        .to_owned(),
                );
            };
            let secret = Secret::new(self.topology.sysplex.secret.as_bytes())
                .map_err(|e| format!("IEE305I D XCF COMMAND INVALID: SYSPLEX SECRET: {e}"))?;
            let client = Client::connect(address, &secret, CONSOLE_SYSTEM, "CONSOLE")
                .await
                .map_err(|e| format!("IEE305I D XCF COMMAND INVALID: CF AT {address}: {e}"))?;
            let xcf = Xcf::connect(&client)
                .await
                .map_err(|e| format!("IEE305I D XCF COMMAND INVALID: CF AT {address}: {e}"))?;
            self.xcf = Some((client, xcf));
        }
        match &self.xcf {
            Some((_, xcf)) => Ok(xcf),
            None => Err("IEE305I D XCF COMMAND INVALID: NO CF LINK".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::command::TcpipCommand;
    use crate::lab::Lab;
    use stacks::dvipa::service::Report;

    fn fixture() -> Topology {
        Topology::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/topologies/dvipa-lab.toml"),
        )
        .expect("the fixture topology loads")
    }

    /// Runs `line` attached until a response line contains `needle` (the sysplex settles in
    /// the meantime); panics after a generous bound.
    async fn until_response(
        console: &mut AttachedConsole,
        line: &str,
        needle: &str,
    ) -> Vec<String> {
        for _ in 0..200 {
            let response = console.execute(line).await.expect("the command runs");
            if response.iter().any(|l| l.contains(needle)) {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{line}: never answered with {needle:?}");
    }

    #[test]
    fn socket_paths_are_per_sysplex_and_system() {
        let topology = fixture();
        let dir = default_dir(&topology);
        assert!(dir.ends_with("zsysplex-LABPLEX"), "{}", dir.display());
        assert_eq!(socket_path(&dir, "sys2"), dir.join("SYS2.sock"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attached_console_drives_an_lpar_through_its_control_socket() {
        let lab = Lab::start(fixture()).await.expect("the lab starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = socket_path(dir.path(), "SYS1");
        let control = ControlSocket::bind(&path).await.expect("the socket binds");
        let sys1 = LparView::of(lab.lpar("SYS1").expect("SYS1 runs"), false);
        let mut console = AttachedConsole::new(lab.topology().clone(), dir.path().to_owned());
        let drive = async {
            // Routed to SYS1, and unrouted (SYS1 is the first LPAR that answers).
            until_response(
                &mut console,
                "RO SYS1,D TCPIP,TCPCS,NETSTAT,VIPADYN",
                "198.51.100.30   255.255.255.255 Active    VIPADefine",
            )
            .await;
            let home = console.execute("D TCPIP,TCPCS,NETSTAT,HOME").await.unwrap();
            let direct = crate::console::execute_on_lpar(
                "SYS1",
                sys1,
                None,
                TcpipCommand::Netstat(Report::Home),
            )
            .await
            .unwrap();
            assert_eq!(home, direct);
            assert!(home[0].starts_with("SYS1  "), "{home:?}");
            let vipadyn = until_response(
                &mut console,
                "RO *ALL,D TCPIP,TCPCS,SYSPLEX,VIPADYN",
                "198.51.100.30",
            )
            .await;
            assert!(
                vipadyn.iter().all(|l| l.starts_with("SYS1  ")),
                "{vipadyn:?}"
            );
            // A VARY runs on the LPAR and answers as the embedded console does.
            let vary = console
                .execute("RO SYS1,V TCPIP,TCPCS,SYSPLEX,REACTIVATE,DVIPA=198.51.100.30")
                .await
                .unwrap();
            assert_eq!(vary.len(), 1, "{vary:?}");
            assert!(vary[0].starts_with("SYS1  EZ"), "{vary:?}");
            // Another stack name, a system without a process, and commands the control
            // sockets do not run.
            assert_eq!(
                console
                    .execute("D TCPIP,TCPOTHER,NETSTAT,HOME")
                    .await
                    .unwrap(),
                vec!["SYS1  IEE341I TCPIP TCPOTHER NOT ACTIVE"]
            );
            assert_eq!(
                console
                    .execute("RO SYS2,D TCPIP,TCPCS,NETSTAT,HOME")
                    .await
                    .unwrap(),
                vec!["IEE341I SYS2 NOT ACTIVE"]
            );
            assert_eq!(
                console
                    .execute("RO SYS9,D TCPIP,TCPCS,NETSTAT,HOME")
                    .await
                    .unwrap(),
                vec!["IEE341I SYS9 NOT ACTIVE"]
            );
            let offline = console.execute("V XCF,SYS1,OFFLINE").await.unwrap();
            assert!(
                offline[0].starts_with("IEE305I V XCF,SYS1,OFFLINE"),
                "{offline:?}"
            );
            let group = console.execute("D XCF,GROUP").await.unwrap();
            assert!(group[0].contains("NO CF ADDRESS"), "{group:?}");
            // The DVIPA lab's stacks run no IPSec; the control socket says so.
            assert_eq!(
                console.execute("RO SYS1,ipsec -y display").await.unwrap(),
                vec![
                    "SYS1  IPSECURITY IS NOT ACTIVE ON TCPIP STACK TCPCS: NO IPSEC DATA TO DISPLAY"
                ]
            );
            let unknown = console.execute("F TCPCS,SOMETHING").await.unwrap();
            assert!(unknown[0].starts_with("IEE305I"), "{unknown:?}");
            // The control socket itself refuses what is not a TCP/IP command for it.
            assert_eq!(
                request(&path, "RO SYS3,D TCPIP,TCPCS,NETSTAT,HOME")
                    .await
                    .unwrap(),
                Some(vec!["IEE341I SYS3 NOT ACTIVE".to_owned()])
            );
            let xcf = request(&path, "D XCF,STR").await.unwrap().unwrap();
            assert!(xcf[0].contains("TCP/IP COMMANDS ONLY"), "{xcf:?}");
        };
        tokio::select! {
            served = control.serve("SYS1", sys1) => panic!("the control socket ended: {served:?}"),
            () = drive => {}
        }
        drop(control);
        assert!(!path.exists(), "the socket file is removed");
        assert_eq!(
            console
                .execute("RO SYS1,D TCPIP,TCPCS,NETSTAT,HOME")
                .await
                .unwrap(),
            vec!["IEE341I SYS1 NOT ACTIVE"]
        );
        assert_eq!(
            console
                .execute("RO *ALL,D TCPIP,TCPCS,NETSTAT,HOME")
                .await
                .unwrap(),
            vec!["IEE341I NO SYSTEM IS ACTIVE TO RUN THE COMMAND"]
        );
        lab.shutdown().await;
    }

    #[tokio::test]
    async fn a_leftover_socket_file_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = socket_path(&dir.path().join("plex"), "SYS1");
        let first = ControlSocket::bind(&path).await.expect("the socket binds");
        assert!(matches!(
            ControlSocket::bind(&path).await,
            Err(Error::Lab(_))
        ));
        drop(first);
        assert!(!path.exists(), "dropping the socket removes its file");
        // A process that died without cleaning up leaves the file behind.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("a plain listener binds"));
        assert!(path.exists());
        let second = ControlSocket::bind(&path)
            .await
            .expect("the leftover is replaced");
        assert_eq!(second.path(), path);
    }
}
