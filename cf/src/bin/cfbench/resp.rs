//! A minimal RESP2 client for the redis side of the benchmark: commands as arrays of bulk
//! strings, pipelined, replies parsed just enough to check them.

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One redis connection.
#[derive(Debug)]
pub struct Redis {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    out: Vec<u8>,
    line: Vec<u8>,
    scratch: Vec<u8>,
}

/// The shape of a reply, enough to tell success from failure.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// `+OK`, an integer, a bulk string or an array.
    Value,
    /// A nil bulk string or array.
    Nil,
}

impl Redis {
    /// Connects to a redis server.
    pub async fn connect(addr: &str) -> anyhow::Result<Self> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (read, writer) = socket.into_split();
        Ok(Self {
            reader: BufReader::with_capacity(256 * 1024, read),
            writer,
            out: Vec::with_capacity(64 * 1024),
            line: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Queues a command; [`Redis::flush`] sends everything queued.
    pub fn queue(&mut self, args: &[&[u8]]) {
        self.out
            .extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            self.out
                .extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            self.out.extend_from_slice(arg);
            self.out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends the queued commands.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.writer.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// Reads one reply.
    pub async fn answer(&mut self) -> anyhow::Result<Answer> {
        self.line.clear();
        self.reader.read_until(b'\n', &mut self.line).await?;
        let Some((&kind, rest)) = self.line.split_first() else {
            bail!("redis closed the connection");
        };
        let text = std::str::from_utf8(rest.strip_suffix(b"\r\n").unwrap_or(rest))?;
        match kind {
            b'+' | b':' => Ok(Answer::Value),
            b'-' => bail!("redis error: {text}"),
            b'$' => {
                let len: i64 = text.parse().context("bulk length")?;
                let Ok(len) = usize::try_from(len) else {
                    return Ok(Answer::Nil);
                };
                self.scratch.resize(len + 2, 0);
                self.reader.read_exact(&mut self.scratch).await?;
                Ok(Answer::Value)
            }
            b'*' => {
                let count: i64 = text.parse().context("array length")?;
                let Ok(count) = usize::try_from(count) else {
                    return Ok(Answer::Nil);
                };
                for _ in 0..count {
                    Box::pin(self.answer()).await?;
                }
                Ok(Answer::Value)
            }
            other => bail!("unexpected RESP type byte {other:#04x}"),
        }
    }
}
