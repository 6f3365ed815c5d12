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
        put_header(&mut self.out, b'*', args.len());
        for arg in args {
            put_header(&mut self.out, b'$', arg.len());
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

/// Appends a RESP header: `kind`, `len` in decimal, CRLF (without formatting machinery, as a
/// tuned client writes it).
fn put_header(out: &mut Vec<u8>, kind: u8, len: usize) {
    let mut digits = [0; 20];
    let mut start = digits.len();
    let mut rest = len;
    loop {
        start -= 1;
        digits[start] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.push(kind);
    out.extend_from_slice(&digits[start..]);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_written_in_decimal() {
        let mut out = Vec::new();
        for (kind, len) in [(b'*', 0), (b'$', 7), (b'$', 4096), (b'*', usize::MAX)] {
            put_header(&mut out, kind, len);
        }
        assert_eq!(
            out,
            format!("*0\r\n$7\r\n$4096\r\n*{}\r\n", usize::MAX).as_bytes()
        );
    }
}
