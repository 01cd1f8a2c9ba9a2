//! Writing object bodies as sparse files: all-zero blocks become holes.
//!
//! A raw disk image is mostly zeros, and an upload carries them as bytes. Stored as
//! holes they take no space, and the import sees the object as the user's own
//! (sparse) file: `measure` counts holes of a raw image as zero (qemu's
//! SEEK_DATA/SEEK_HOLE rule, R-SIZE-ACTUAL), so `imgport check` on the local file
//! and the import of the uploaded object agree.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;

/// Granularity of hole detection: a filesystem block.
pub const HOLE_BLOCK: usize = 4096;
/// Bytes buffered before they are written out.
const BUFFER: usize = 1 << 20;

/// A [`Write`] to a new file that leaves runs of all-zero [`HOLE_BLOCK`]s unwritten.
/// Call [`SparseWriter::finish`] to write the rest and set the file's length.
pub struct SparseWriter {
    file: File,
    buf: Vec<u8>,
    /// Logical bytes accepted so far.
    len: u64,
    /// Where the file's write position is (bytes before it are written or holes).
    at: u64,
}

impl SparseWriter {
    /// Wrap `file`, which must be new and empty.
    pub fn new(file: File) -> Self {
        SparseWriter {
            file,
            buf: Vec::with_capacity(BUFFER),
            len: 0,
            at: 0,
        }
    }

    /// Write what is buffered, whole blocks only unless `all`.
    fn drain(&mut self, all: bool) -> io::Result<()> {
        let keep = if all { 0 } else { self.buf.len() % HOLE_BLOCK };
        let out = self.buf.len() - keep;
        let start = self.len - self.buf.len() as u64;
        let mut i = 0;
        while i < out {
            let end = (i + HOLE_BLOCK).min(out);
            let zero = self.buf[i..end].iter().all(|b| *b == 0);
            // A run of blocks of the same kind.
            let mut j = end;
            while j < out {
                let e = (j + HOLE_BLOCK).min(out);
                if self.buf[j..e].iter().all(|b| *b == 0) != zero {
                    break;
                }
                j = e;
            }
            if !zero {
                let pos = start + i as u64;
                if pos != self.at {
                    self.file.seek(SeekFrom::Start(pos))?;
                }
                self.file.write_all(&self.buf[i..j])?;
                self.at = start + j as u64;
            }
            i = j;
        }
        self.buf.drain(..out);
        Ok(())
    }

    /// Write the rest, give the file its full length (trailing zeros as a hole) and
    /// return it (not yet synced).
    pub fn finish(mut self) -> io::Result<File> {
        self.drain(true)?;
        self.file.set_len(self.len)?;
        Ok(self.file)
    }
}

impl Write for SparseWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.len += data.len() as u64;
        if self.buf.len() >= BUFFER {
            self.drain(false)?;
        }
        Ok(data.len())
    }

    /// Writes whole buffered blocks; a partial last block waits for [`Self::finish`].
    fn flush(&mut self) -> io::Result<()> {
        self.drain(false)
    }
}

/// Append the bytes of the file at `src` to `out` (whose logical length is `at`),
/// keeping holes: only its data ranges (the disk core's SEEK_DATA/SEEK_HOLE walk) are
/// copied, by the kernel (`copy_file_range`). Returns the bytes appended (the source's
/// length); the caller sets `out`'s final length.
pub fn append_sparse(src: &Path, out: &File, at: u64) -> io::Result<u64> {
    use imgport_disk::ReadAt;
    let map = imgport_disk::FileSource::open(src).map_err(|e| io::Error::other(e.to_string()))?;
    let len = map.size();
    // Without hole information (another filesystem), everything is data.
    let extents = map.host_extents(0, len).unwrap_or_else(|| {
        vec![imgport_disk::source::HostExtent {
            offset: 0,
            length: len,
            data: true,
        }]
    });
    let file = File::open(src)?;
    for x in extents.into_iter().filter(|x| x.data) {
        let (mut off_in, end) = (x.offset, x.offset + x.length);
        let mut off_out = at + x.offset;
        while off_in < end {
            let want = (end - off_in).min(1 << 30) as usize;
            let n = rustix::fs::copy_file_range(
                &file,
                Some(&mut off_in),
                out,
                Some(&mut off_out),
                want,
            )?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the source shrank while it was copied",
                ));
            }
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn allocated(f: &File) -> u64 {
        use std::os::unix::fs::MetadataExt;
        f.metadata().unwrap().blocks() * 512
    }

    #[test]
    fn zero_blocks_become_holes_and_content_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o");
        let mut w = SparseWriter::new(File::create(&path).unwrap());
        let mut want = Vec::new();
        // Data, 8 MiB of zeros (in odd-sized writes), data not block aligned, zeros.
        for chunk in [
            vec![7u8; 5000],
            vec![0u8; 8 << 20],
            vec![9u8; 100],
            vec![0; 3 << 20],
        ] {
            for piece in chunk.chunks(12345) {
                w.write_all(piece).unwrap();
            }
            want.extend_from_slice(&chunk);
        }
        w.flush().unwrap();
        let f = w.finish().unwrap();
        let mut got = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "content differs");
        assert!(allocated(&f) < 1 << 20, "allocated {}", allocated(&f));
    }

    #[test]
    fn append_keeps_holes_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut parts = Vec::new();
        let mut want = Vec::new();
        for (i, body) in [
            [vec![1u8; 10_000], vec![0u8; 4 << 20]].concat(),
            [vec![0u8; 4 << 20], vec![2u8; 3]].concat(),
            vec![0u8; 5000],
        ]
        .into_iter()
        .enumerate()
        {
            let p = dir.path().join(format!("p{i}"));
            let mut w = SparseWriter::new(File::create(&p).unwrap());
            w.write_all(&body).unwrap();
            w.finish().unwrap();
            want.extend_from_slice(&body);
            parts.push(p);
        }
        let out_path = dir.path().join("all");
        let out = File::create(&out_path).unwrap();
        let mut at = 0;
        for p in &parts {
            at += append_sparse(p, &out, at).unwrap();
        }
        out.set_len(at).unwrap();
        let mut got = Vec::new();
        File::open(&out_path)
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert!(got == want, "content differs");
        assert!(allocated(&out) < 1 << 20, "allocated {}", allocated(&out));
    }
}
