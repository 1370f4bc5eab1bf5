//! Bounded command output. What a host sends back is untrusted and may be
//! endless (a broken or compromised host): stdout is read into a buffer that
//! never grows past the cap, stderr keeps only its last bytes, and once a
//! stream goes past the cap reading stops, so the transport can end the
//! command instead of draining it.

use std::fmt;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Default cap on what one command may print. Measured on Debian 12: a host
/// with every package of bookworm main installed and upgradable (63,440)
/// would print 2.4 MB from `dpkg-query` and 11 MB from `apt-get --simulate
/// dist-upgrade`; ordinary hosts print well under 1 MB.
pub const DEFAULT_MAX_OUTPUT: u64 = 64 * MIB;

/// How much of stderr is kept: its end, where the reason for a failure is.
pub const STDERR_TAIL: usize = MIB as usize;

/// How much is read at a time.
const CHUNK: usize = 64 * KIB as usize;

/// Past this, stdout's buffer takes the rest of the cap in one reservation.
const GROW_AT_ONCE: usize = MIB as usize;

/// One of a command's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

/// A stream went past the cap: reading stopped there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    pub stream: Stream,
    pub limit: u64,
}

/// `64 MiB`, `4 KiB`, `1000 bytes`: sizes as the Fleet setting writes them.
pub fn format_size(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

fn as_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// stdout, whole, up to `limit` bytes.
#[derive(Debug)]
pub struct Capped {
    buf: Vec<u8>,
    limit: u64,
}

impl Capped {
    pub fn new(limit: u64) -> Capped {
        Capped {
            buf: Vec::new(),
            limit,
        }
    }

    /// Appends `data`, or refuses it (keeping nothing of it) when the
    /// stream would go past the cap.
    pub fn push(&mut self, data: &[u8]) -> Result<(), Overflow> {
        let need = self.buf.len() + data.len();
        if need as u64 > self.limit {
            return Err(Overflow {
                stream: Stream::Stdout,
                limit: self.limit,
            });
        }
        if need > self.buf.capacity() {
            let limit = as_usize(self.limit);
            // Past a megabyte the rest of the cap is reserved at once: pages
            // never written cost no memory, while growing by copies leaves
            // each outgrown buffer with the allocator for a while (a 64 MiB
            // output peaked at 140 MiB resident that way). Where the address
            // space cannot be had, growth falls back to doubling.
            let reserved =
                need > GROW_AT_ONCE && self.buf.try_reserve_exact(limit - self.buf.len()).is_ok();
            if !reserved {
                // Doubling, but never past the cap.
                let target = need
                    .max(self.buf.capacity().saturating_mul(2))
                    .max(CHUNK)
                    .min(limit);
                self.buf.reserve_exact(target - self.buf.len());
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// What was read; a buffer reserved far past it is given back.
    pub fn into_inner(mut self) -> Vec<u8> {
        if self.buf.capacity() > self.buf.len().saturating_mul(2).max(GROW_AT_ONCE) {
            self.buf.shrink_to_fit();
        }
        self.buf
    }
}

/// stderr: its last `keep` bytes; the whole stream may be at most `limit`.
#[derive(Debug)]
pub struct Tail {
    buf: Vec<u8>,
    keep: usize,
    dropped: u64,
    limit: u64,
}

impl Tail {
    pub fn new(keep: usize, limit: u64) -> Tail {
        Tail {
            buf: Vec::new(),
            keep,
            dropped: 0,
            limit,
        }
    }

    pub fn push(&mut self, data: &[u8]) -> Result<(), Overflow> {
        if self.dropped + (self.buf.len() + data.len()) as u64 > self.limit {
            return Err(Overflow {
                stream: Stream::Stderr,
                limit: self.limit,
            });
        }
        self.buf.extend_from_slice(data);
        // Trimmed in batches (at twice the tail) so each byte moves at most once.
        if self.buf.len() > self.keep.saturating_mul(2) {
            self.trim();
        }
        Ok(())
    }

    fn trim(&mut self) {
        let cut = self.buf.len().saturating_sub(self.keep);
        self.buf.drain(..cut);
        self.dropped += cut as u64;
    }

    /// The tail, after a line saying how much came before it, if anything did.
    pub fn into_inner(mut self) -> Vec<u8> {
        self.trim();
        if self.dropped == 0 {
            return self.buf;
        }
        let mut out = format!(
            "[patchwave: the first {} bytes of stderr were not kept]\n",
            self.dropped
        )
        .into_bytes();
        out.extend_from_slice(&self.buf);
        out
    }
}

/// Why reading a command's output stopped early.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    Overflow(Overflow),
}

/// Reads stdout and stderr to their ends at the same time (a full stderr
/// pipe must not stall stdout), stdout whole and stderr's tail, each at most
/// `limit`. On an overflow both readers are dropped at once: the pipes
/// close, and the writer's next write fails, which is how a command that
/// says too much is ended.
pub(crate) async fn read_streams<O, E>(
    stdout: Option<O>,
    stderr: Option<E>,
    limit: u64,
) -> Result<(Vec<u8>, Vec<u8>), ReadError>
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let out = async {
        let mut b = Capped::new(limit);
        if let Some(r) = stdout {
            pump(r, |d| b.push(d)).await?;
        }
        Ok(b.into_inner())
    };
    let err = async {
        let mut b = Tail::new(STDERR_TAIL, limit);
        if let Some(r) = stderr {
            pump(r, |d| b.push(d)).await?;
        }
        Ok(b.into_inner())
    };
    tokio::try_join!(out, err)
}

async fn pump<R: AsyncRead + Unpin>(
    mut r: R,
    mut sink: impl FnMut(&[u8]) -> Result<(), Overflow>,
) -> Result<(), ReadError> {
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = r.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            return Ok(());
        }
        sink(&chunk[..n]).map_err(ReadError::Overflow)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_setting_writes_them() {
        assert_eq!(format_size(64 * MIB), "64 MiB");
        assert_eq!(format_size(4 * KIB), "4 KiB");
        assert_eq!(format_size(2 * GIB), "2 GiB");
        assert_eq!(format_size(1536 * KIB), "1536 KiB");
        assert_eq!(format_size(1000), "1000 bytes");
    }

    #[test]
    fn stdout_is_kept_whole_up_to_the_cap_and_not_a_byte_more() {
        let mut c = Capped::new(10);
        c.push(b"12345").unwrap();
        c.push(b"67890").unwrap();
        let e = c.push(b"x").unwrap_err();
        assert_eq!(
            e,
            Overflow {
                stream: Stream::Stdout,
                limit: 10
            }
        );
        assert_eq!(c.into_inner(), b"1234567890");
    }

    #[test]
    fn the_buffer_never_grows_past_the_cap() {
        let limit = 3 * CHUNK as u64 + 7;
        let mut c = Capped::new(limit);
        let piece = vec![b'a'; 1000];
        while c.push(&piece).is_ok() {
            assert!(c.buf.capacity() as u64 <= limit, "{}", c.buf.capacity());
        }
        assert!(c.buf.len() as u64 <= limit);
        assert!(c.buf.len() as u64 > limit - 1000);
    }

    #[test]
    fn a_large_output_is_reserved_once_and_given_back_when_done() {
        let limit = 8 * MIB;
        let mut c = Capped::new(limit);
        c.push(&vec![b'a'; GROW_AT_ONCE + 1]).unwrap();
        // The rest of the cap at once: no more reallocations (copies).
        assert_eq!(c.buf.capacity() as u64, limit);
        let out = c.into_inner();
        assert_eq!(out.len(), GROW_AT_ONCE + 1);
        assert_eq!(out.capacity(), out.len());
    }

    #[test]
    fn stderr_keeps_its_tail_and_says_what_it_dropped() {
        let mut t = Tail::new(4, 1000);
        for piece in [&b"abc"[..], b"defgh", b"ij", b"klmnop"] {
            t.push(piece).unwrap();
        }
        let kept = t.into_inner();
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            "[patchwave: the first 12 bytes of stderr were not kept]\nmnop"
        );
        let mut short = Tail::new(4, 1000);
        short.push(b"ok").unwrap();
        assert_eq!(short.into_inner(), b"ok");
    }

    #[test]
    fn stderr_is_bounded_too() {
        let mut t = Tail::new(4, 10);
        t.push(b"0123456789").unwrap();
        assert_eq!(
            t.push(b"x").unwrap_err(),
            Overflow {
                stream: Stream::Stderr,
                limit: 10
            }
        );
    }

    #[tokio::test]
    async fn both_streams_are_read_together_within_the_cap() {
        let out: &[u8] = b"out";
        let err = vec![b'e'; 3 * STDERR_TAIL];
        let (o, e) = read_streams(Some(out), Some(&err[..]), 4 * STDERR_TAIL as u64)
            .await
            .unwrap();
        assert_eq!(o, b"out");
        assert!(e.ends_with(&vec![b'e'; STDERR_TAIL]));
        assert!(e.len() < STDERR_TAIL + 100, "{}", e.len());
        let none: Option<&[u8]> = None;
        let (o, e) = read_streams(none, none, 10).await.unwrap();
        assert!(o.is_empty() && e.is_empty());
    }

    #[tokio::test]
    async fn an_endless_stream_is_cut_at_the_cap() {
        // `repeat` never ends: only the cap stops the read.
        let endless = tokio::io::repeat(b'y');
        let quiet: &[u8] = b"";
        match read_streams(Some(endless), Some(quiet), 5 * CHUNK as u64 + 1).await {
            Err(ReadError::Overflow(o)) => assert_eq!(
                o,
                Overflow {
                    stream: Stream::Stdout,
                    limit: 5 * CHUNK as u64 + 1
                }
            ),
            other => panic!("{other:?}"),
        }
        let endless = tokio::io::repeat(b'e');
        let out: &[u8] = b"fine";
        match read_streams(Some(out), Some(endless), 1000).await {
            Err(ReadError::Overflow(o)) => assert_eq!(o.stream, Stream::Stderr),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn output_of_exactly_the_cap_is_accepted() {
        let exact = vec![b'x'; 2 * CHUNK + 5];
        let quiet: &[u8] = b"";
        let (o, _) = read_streams(Some(&exact[..]), Some(quiet), exact.len() as u64)
            .await
            .unwrap();
        assert_eq!(o.len(), exact.len());
        let more = vec![b'x'; exact.len() + 1];
        assert!(matches!(
            read_streams(Some(&more[..]), Some(quiet), exact.len() as u64).await,
            Err(ReadError::Overflow(_))
        ));
    }
}
