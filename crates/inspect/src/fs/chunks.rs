//! `Read` over a file that a filesystem reader hands out a chunk at a time (FAT and NTFS
//! re-open the file per chunk, ext asks its worker thread): one buffer-and-copy `Read` and
//! one fill loop instead of a copy in each reader.

use crate::Result;
use std::io::Read;

/// A file's content, a chunk at a time.
pub(crate) trait Chunks {
    /// Puts the next chunk in `buf` (empty on entry; left empty at the end of the file).
    /// `hint` is the size the caller asked to read.
    fn next_chunk(&mut self, buf: &mut Vec<u8>, hint: usize) -> Result<()>;
}

/// A `Read` serving a file from its [`Chunks`].
pub(crate) struct ChunkReader<C> {
    chunks: C,
    buf: Vec<u8>,
    at: usize,
}

impl<C: Chunks> ChunkReader<C> {
    pub(crate) fn new(chunks: C) -> Self {
        ChunkReader {
            chunks,
            buf: Vec::new(),
            at: 0,
        }
    }
}

impl<C: Chunks> Read for ChunkReader<C> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.buf.len() {
            self.buf.clear();
            self.at = 0;
            self.chunks
                .next_chunk(&mut self.buf, out.len())
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let avail = self.buf.get(self.at..).unwrap_or_default();
        let n = avail.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(avail.get(..n).unwrap_or_default());
        self.at += n;
        Ok(n)
    }
}

/// Reads into `buf` until it is full or `read` gives 0 bytes; the bytes read.
pub(crate) fn fill<E>(
    buf: &mut [u8],
    mut read: impl FnMut(&mut [u8]) -> std::result::Result<usize, E>,
) -> std::result::Result<usize, E> {
    let mut got = 0;
    while got < buf.len() {
        let n = read(buf.get_mut(got..).unwrap_or_default())?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Where a sized file is read up to, for readers that re-open it per chunk: the next
/// chunk's length, and the check that a chunk came whole (a short one means the
/// filesystem's own map of the file ends early: corrupt).
pub(crate) struct Span {
    /// The filesystem, for errors (`"FAT filesystem"`).
    pub structure: &'static str,
    pub path: String,
    pub size: u64,
    pub pos: u64,
    /// Largest chunk.
    pub chunk: usize,
}

impl Span {
    /// The next chunk's length (0 at the end).
    pub(crate) fn want(&self) -> usize {
        (self.chunk as u64).min(self.size.saturating_sub(self.pos)) as usize
    }

    /// Moves past a chunk of `got` bytes of the `want` asked for; `ends` names what ended
    /// early ("cluster chain", "data") in the error.
    pub(crate) fn advance(&mut self, got: usize, want: usize, ends: &str) -> Result<()> {
        if got < want {
            return Err(crate::Error::corrupt(
                self.structure,
                0,
                format!(
                    "{}: {ends} ends at byte {} of {}",
                    self.path,
                    self.pos + got as u64,
                    self.size
                ),
            ));
        }
        self.pos += got as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Numbers(u8);

    impl Chunks for Numbers {
        fn next_chunk(&mut self, buf: &mut Vec<u8>, _hint: usize) -> Result<()> {
            if self.0 < 3 {
                buf.extend_from_slice(&[self.0; 5]);
                self.0 += 1;
            }
            Ok(())
        }
    }

    #[test]
    fn a_chunk_reader_serves_every_chunk_then_ends() {
        let mut all = Vec::new();
        ChunkReader::new(Numbers(0)).read_to_end(&mut all).unwrap();
        assert_eq!(all, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn fill_stops_at_the_end_and_span_refuses_a_short_chunk() {
        let src = [7u8; 10];
        let mut at = 0;
        let mut buf = [0u8; 16];
        let got = fill::<()>(&mut buf, |b| {
            let n = b.len().min(3).min(src.len() - at);
            b[..n].copy_from_slice(&src[at..at + n]);
            at += n;
            Ok(n)
        })
        .unwrap();
        assert_eq!(got, 10);
        let mut span = Span {
            structure: "test filesystem",
            path: "/f".into(),
            size: 10,
            pos: 0,
            chunk: 4,
        };
        assert_eq!(span.want(), 4);
        span.advance(4, 4, "data").unwrap();
        let e = span.advance(2, 4, "data").unwrap_err().to_string();
        assert!(e.contains("data ends at byte 6 of 10"), "{e}");
    }
}
