//! Stream-optimized extents (VMware "Virtual Disk Format 1.1", "Stream-Optimized
//! Compressed Sparse Extents"): grain markers in front of compressed grains, metadata
//! markers, and the footer that holds the real header when `gdOffset` is `GD_AT_END`.

use super::sparse_header::{SparseHeader, HEADER_SIZE, MAGIC};
use super::FMT;
use crate::bytes::{le32, le64};
use crate::source::{ReadAt, ReadAtExt};
use crate::{Error, Result};

/// A grain marker: `lba` (u64) and compressed `size` (u32), then the data.
pub const GRAIN_MARKER_SIZE: u64 = 12;

/// Metadata marker types (a marker sector whose `size` field is 0).
pub const MARKER_EOS: u32 = 0;
pub const MARKER_GT: u32 = 1;
pub const MARKER_GD: u32 = 2;
pub const MARKER_FOOTER: u32 = 3;

/// Read the footer of a stream-optimized extent (qemu: footer marker, footer header
/// and end-of-stream marker in the last three sectors) and return its header, which
/// takes precedence over the one at offset 0.
pub fn read_footer(src: &dyn ReadAt) -> Result<SparseHeader> {
    let file_size = src.size();
    // qemu reads at the sector-rounded file length − 1536; bytes past EOF are zeros.
    let end = file_size.div_ceil(512) * 512;
    let Some(start) = end.checked_sub(3 * 512) else {
        return Err(Error::corrupt(
            FMT,
            "stream footer",
            0,
            format!("the header says the grain directory is at the end, but the file ({file_size} bytes) is too short for a footer"),
        ));
    };
    let mut b = src.read_upto(start, 3 * 512)?;
    b.resize(3 * 512, 0);
    let footer_marker = &b[..512];
    let header = &b[512..1024];
    let eos = &b[1024..];
    let ok = header.starts_with(MAGIC)
        && le32(footer_marker, 8) == 0
        && le32(footer_marker, 12) == MARKER_FOOTER
        && le64(eos, 0) == 0
        && le32(eos, 8) == 0
        && le32(eos, 12) == MARKER_EOS;
    if !ok {
        return Err(Error::corrupt(
            FMT,
            "stream footer",
            start,
            "the header says the grain directory is at the end, but the last three sectors are not a footer marker, a footer and an end-of-stream marker: the file is truncated or damaged",
        ));
    }
    SparseHeader::parse(&header[..HEADER_SIZE], start + 512)
}

/// The compressed bytes of the grain at `host` (a grain marker first when `markers`).
pub fn read_compressed(
    src: &dyn ReadAt,
    host: u64,
    grain_size: u64,
    markers: bool,
) -> Result<Vec<u8>> {
    let file_size = src.size();
    if !markers {
        // qemu reads one grain's worth and lets zlib stop at the end of the stream.
        if host >= file_size {
            return Err(past_eof(host, file_size));
        }
        let mut v = src.read_upto(host, grain_size as usize)?;
        v.resize(grain_size as usize, 0);
        return Ok(v);
    }
    if host
        .checked_add(GRAIN_MARKER_SIZE)
        .is_none_or(|e| e > file_size)
    {
        return Err(past_eof(host, file_size));
    }
    let m = src.read_vec(host, GRAIN_MARKER_SIZE as usize)?;
    let size = u64::from(le32(&m, 8));
    // qemu reads two grains including the marker and refuses a larger size.
    if size == 0 || size > 2 * grain_size - GRAIN_MARKER_SIZE {
        return Err(Error::corrupt(
            FMT,
            "grain marker",
            host,
            format!("compressed size {size} is 0 or larger than two grains"),
        ));
    }
    let data_at = host + GRAIN_MARKER_SIZE;
    if data_at + size > file_size {
        return Err(Error::corrupt(
            FMT,
            "compressed grain",
            host,
            format!("{size} bytes at {data_at:#x} run past the end of the file ({file_size} bytes): the file is truncated"),
        ));
    }
    src.read_vec(data_at, size as usize)
}

fn past_eof(host: u64, file_size: u64) -> Error {
    Error::corrupt(
        FMT,
        "compressed grain",
        host,
        format!("starts past the end of the file ({file_size} bytes): the file is truncated"),
    )
}

/// Inflate a zlib stream (RFC 1950, as qemu's `uncompress`) into at most `grain_size`
/// bytes; the stream must end within the input and within one grain.
pub fn inflate_grain(input: &[u8], grain_size: usize) -> std::result::Result<Vec<u8>, String> {
    let mut d = flate2::Decompress::new(true);
    let mut out = vec![0u8; grain_size];
    match d.decompress(input, &mut out, flate2::FlushDecompress::Finish) {
        Ok(flate2::Status::StreamEnd) => {
            out.truncate(d.total_out() as usize);
            Ok(out)
        }
        Ok(_) => Err(format!(
            "the zlib stream does not end within {} input bytes and one grain ({grain_size} bytes) of output",
            input.len()
        )),
        Err(e) => Err(format!("zlib error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn inflates_and_bounds_output() {
        let data = vec![7u8; 4096];
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&data).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(inflate_grain(&z, 4096).unwrap(), data);
        assert!(inflate_grain(&z, 2048).is_err(), "output over a grain");
        assert!(
            inflate_grain(&z[..z.len() / 2], 4096).is_err(),
            "cut stream"
        );
        // Trailing bytes after the stream are ignored (qemu reads a whole grain).
        let mut padded = z.clone();
        padded.extend_from_slice(&[0u8; 100]);
        assert_eq!(inflate_grain(&padded, 4096).unwrap(), data);
    }
}
