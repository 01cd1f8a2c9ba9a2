//! One decompression budget for compressed guest data (issue 18 item 7): every
//! streamed decoder of guest bytes reads its compressed input through
//! [`DecompressBudget::input`] and hands out its output through
//! [`DecompressBudget::output`], so one set of counters bounds, whatever the codec:
//!
//! - the **output**: decompressed bytes over all streams (never more than the cap plus
//!   one byte: each read is clamped to what is left);
//! - the **ratio**: past a grace amount, output may be at most `max_ratio` times the
//!   compressed bytes the decoders consumed (a zero bomb stops early, long before the
//!   output cap);
//! - the **work**: compressed bytes consumed plus bytes produced, a deterministic
//!   stand-in for decoding time (no wall clock: the answer must not depend on how busy
//!   the machine is). Decoding cost is linear in both for every codec used here.
//!
//! The other decoders of guest data are bounded by their formats and decode into a
//! buffer of one unit instead: btrfs compressed extents (zlib, zstd, LZO: at most 128 KiB
//! out, `fs/btrfs/compress.rs`), qcow2 compressed clusters and VMDK grains (one cluster
//! or grain out, at most 2 MiB, in the disk core; how many a file may map is bounded by
//! its size at open, `format/qcow2/mapping.rs`). NTFS compressed files are not read
//! (refused as unsupported).

use std::cell::Cell;
use std::io::{self, BufRead, Read};

/// The limits of one [`DecompressBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most decompressed bytes over every stream.
    pub max_output: u64,
    /// Most output bytes per compressed byte consumed, once past `ratio_grace`.
    pub max_ratio: u64,
    /// Output allowed whatever the ratio (small streams of zeros are legitimate).
    pub ratio_grace: u64,
    /// Most compressed bytes consumed plus bytes produced.
    pub max_work: u64,
}

/// Which limit a stream went over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "decompression budget exceeded: {what} would pass {limit} ({codec} stream; output {output} bytes from {input} compressed bytes)"
)]
pub struct Exceeded {
    /// `decompressed bytes`, `compression ratio` or `decoding work`.
    pub what: &'static str,
    pub limit: u64,
    pub codec: &'static str,
    pub output: u64,
    pub input: u64,
}

impl Exceeded {
    /// The budget error inside an `io::Error` returned by a [`Budgeted`] reader.
    pub fn from_io(e: &io::Error) -> Option<&Exceeded> {
        e.get_ref().and_then(|i| i.downcast_ref::<Exceeded>())
    }
}

impl From<Exceeded> for crate::Error {
    fn from(e: Exceeded) -> Self {
        crate::Error::Limit {
            what: format!(
                "{} (decompression budget; {} stream: {} bytes out of {} compressed)",
                e.what, e.codec, e.output, e.input
            ),
            limit: e.limit,
        }
    }
}

/// Counters shared by every stream decoded under these limits.
#[derive(Debug)]
pub struct DecompressBudget {
    limits: Limits,
    input: Cell<u64>,
    output: Cell<u64>,
}

impl DecompressBudget {
    pub fn new(limits: Limits) -> Self {
        DecompressBudget {
            limits,
            input: Cell::new(0),
            output: Cell::new(0),
        }
    }

    /// Decompressed bytes handed out so far.
    pub fn output_bytes(&self) -> u64 {
        self.output.get()
    }

    /// Compressed bytes the decoders consumed so far.
    pub fn input_bytes(&self) -> u64 {
        self.input.get()
    }

    /// Wrap a decoder's compressed input: what it consumes is counted.
    pub fn input<R: BufRead>(&self, inner: R) -> Metered<'_, R> {
        Metered {
            inner,
            input: &self.input,
        }
    }

    /// Wrap a decoder: its output is counted and stopped at the first limit passed,
    /// with an `io::Error` holding an [`Exceeded`].
    pub fn output<D: Read>(&self, inner: D, codec: &'static str) -> Budgeted<'_, D> {
        Budgeted {
            inner,
            budget: self,
            codec,
        }
    }

    fn exceeded(&self, what: &'static str, limit: u64, codec: &'static str) -> Exceeded {
        Exceeded {
            what,
            limit,
            codec,
            output: self.output.get(),
            input: self.input.get(),
        }
    }

    /// Check the counters after `n` more bytes came out.
    fn charge(&self, n: u64, codec: &'static str) -> Result<(), Exceeded> {
        let l = &self.limits;
        let out = self.output.get().saturating_add(n);
        self.output.set(out);
        if out > l.max_output {
            return Err(self.exceeded("decompressed bytes", l.max_output, codec));
        }
        let input = self.input.get();
        if out > l.ratio_grace && out > input.saturating_mul(l.max_ratio) {
            return Err(self.exceeded("compression ratio", l.max_ratio, codec));
        }
        if out.saturating_add(input) > l.max_work {
            return Err(self.exceeded("decoding work", l.max_work, codec));
        }
        Ok(())
    }
}

/// A decoder's compressed input, counting the bytes it consumes.
pub struct Metered<'a, R> {
    inner: R,
    input: &'a Cell<u64>,
}

impl<R> Metered<'_, R> {
    /// The wrapped input (reads through it are not counted: consume through `self`).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: BufRead> Read for Metered<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.inner.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Metered<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.input.set(self.input.get().saturating_add(n as u64));
        self.inner.consume(n);
    }
}

/// A decoder whose output is charged to a [`DecompressBudget`].
pub struct Budgeted<'a, D> {
    inner: D,
    budget: &'a DecompressBudget,
    codec: &'static str,
}

impl<D> Budgeted<'_, D> {
    /// The wrapped decoder.
    pub fn get_mut(&mut self) -> &mut D {
        &mut self.inner
    }
}

impl<D: Read> Read for Budgeted<'_, D> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Never produce more than one byte past the output cap: that byte is the proof
        // that the stream goes on.
        let left = self
            .budget
            .limits
            .max_output
            .saturating_sub(self.budget.output.get())
            .saturating_add(1);
        let len = out.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut out[..len])?;
        self.budget
            .charge(n as u64, self.codec)
            .map_err(io::Error::other)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_output: 1000,
        max_ratio: 10,
        ratio_grace: 100,
        max_work: 1500,
    };

    fn drain(b: &DecompressBudget, input: &[u8], produce: &[u8]) -> Result<u64, Exceeded> {
        // A "decoder" that consumes one input byte per read and yields `produce`.
        struct Fake<'a, R> {
            input: R,
            produce: &'a [u8],
        }
        impl<R: BufRead> Read for Fake<'_, R> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.input.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                self.input.consume(1);
                let n = self.produce.len().min(out.len());
                out[..n].copy_from_slice(&self.produce[..n]);
                Ok(n)
            }
        }
        let mut d = b.output(
            Fake {
                input: b.input(input),
                produce,
            },
            "fake",
        );
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            match d.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) => return Err(Exceeded::from_io(&e).expect("budget error").clone()),
            }
        }
    }

    #[test]
    fn ratio_then_output_then_work() {
        // 5 output bytes per input byte: within the ratio of 10.
        let b = DecompressBudget::new(LIMITS);
        assert_eq!(drain(&b, &[1; 100], &[7; 5]), Ok(500));
        // 50 per input byte: over the ratio once past the grace of 100.
        let b = DecompressBudget::new(LIMITS);
        let e = drain(&b, &[1; 100], &[7; 50]).unwrap_err();
        assert_eq!(e.what, "compression ratio");
        assert!(b.output_bytes() <= 150, "{}", b.output_bytes());
        // Output cap: never more than one byte past it.
        let b = DecompressBudget::new(Limits {
            max_ratio: u64::MAX,
            ..LIMITS
        });
        let e = drain(&b, &[1; 1000], &[7; 9]).unwrap_err();
        assert_eq!(e.what, "decompressed bytes");
        assert_eq!(b.output_bytes(), 1001);
        // Work: input counts too.
        let b = DecompressBudget::new(LIMITS);
        let e = drain(&b, &[1; 2000], &[7; 1]).unwrap_err();
        assert_eq!(e.what, "decoding work");
        // The budget is shared by successive streams.
        let b = DecompressBudget::new(LIMITS);
        assert_eq!(drain(&b, &[1; 100], &[7; 5]), Ok(500));
        assert_eq!(drain(&b, &[1; 100], &[7; 5]), Ok(500));
        assert_eq!(
            drain(&b, &[1; 100], &[7; 5]).unwrap_err().what,
            "decompressed bytes"
        );
    }
}
