//! Stream decoders shared by the disk core and the guest inspection: one place that
//! picks the implementation by feature — the C zstd library (`native`) or the
//! pure-Rust `ruzstd` (`pure`, what the in-browser check builds for wasm32).

use std::io::{self, BufRead, Read};

/// Largest zstd window accepted: 2^27 bytes, the zstd CLI's default limit
/// (`--long` needs more; qemu and initramfs tools stay far below).
pub const ZSTD_MAX_WINDOW: u64 = 1 << 27;

/// A reader of the one zstd frame at the start of `input`, consuming only that
/// frame's bytes (what follows may be another stream). A frame whose window is over
/// [`ZSTD_MAX_WINDOW`] is refused before any buffer is allocated.
pub fn zstd_frame<'a, R: BufRead + 'a>(mut input: R) -> io::Result<Box<dyn Read + 'a>> {
    if let Some(w) = zstd_window_size(input.fill_buf()?) {
        if w > ZSTD_MAX_WINDOW {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("zstd frame window of {w} bytes (limit {ZSTD_MAX_WINDOW})"),
            ));
        }
    }
    open_zstd(input)
}

#[cfg(feature = "native")]
fn open_zstd<'a, R: BufRead + 'a>(input: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut d = zstd::stream::read::Decoder::with_buffer(input)?.single_frame();
    d.window_log_max(27)?;
    Ok(Box::new(d))
}

#[cfg(all(not(feature = "native"), feature = "pure"))]
fn open_zstd<'a, R: BufRead + 'a>(input: R) -> io::Result<Box<dyn Read + 'a>> {
    let d = ruzstd::decoding::StreamingDecoder::new(input)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    Ok(Box::new(d))
}

#[cfg(not(any(feature = "native", feature = "pure")))]
compile_error!("imgport-disk needs a codec feature: `native` (default) or `pure`");

/// The window size a zstd frame header declares (RFC 8878 §3.1.1.1), when `head`
/// holds a whole one; `None` otherwise (the decoder then reports what is wrong).
pub fn zstd_window_size(head: &[u8]) -> Option<u64> {
    if head.get(..4)? != [0x28, 0xb5, 0x2f, 0xfd] {
        return None;
    }
    let fhd = *head.get(4)?;
    let single_segment = fhd & 0x20 != 0;
    if !single_segment {
        let wd = *head.get(5)?;
        let log = 10 + u64::from(wd >> 3);
        let base = 1u64 << log;
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    let did_len = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let at = 5 + did_len;
    Some(match fhd >> 6 {
        0 => u64::from(*head.get(at)?),
        1 => u64::from(u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?)) + 256,
        2 => u64::from(u32::from_le_bytes(head.get(at..at + 4)?.try_into().ok()?)),
        _ => u64::from_le_bytes(head.get(at..at + 8)?.try_into().ok()?),
    })
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;

    #[test]
    fn a_frame_decodes_and_only_its_bytes_are_consumed() {
        let mut data = zstd::bulk::compress(&vec![7u8; 100_000], 3).unwrap();
        data.extend_from_slice(b"NEXT");
        let mut input = &data[..];
        let mut out = Vec::new();
        zstd_frame(&mut input)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, vec![7u8; 100_000]);
        assert_eq!(input, b"NEXT");
    }

    #[test]
    fn window_sizes_follow_rfc_8878() {
        // Window descriptor 0x88: log 10+17, mantissa 0 → 128 MiB; 0x89 is 1/8 more.
        assert_eq!(
            zstd_window_size(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0x88]),
            Some(1 << 27)
        );
        assert_eq!(
            zstd_window_size(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0x89]),
            Some((1 << 27) + (1 << 24))
        );
        // Single segment, 1-byte content size: the window is the content size.
        assert_eq!(
            zstd_window_size(&[0x28, 0xb5, 0x2f, 0xfd, 0x20, 200]),
            Some(200)
        );
        assert_eq!(zstd_window_size(b"not zstd"), None);
        let huge = [0x28, 0xb5, 0x2f, 0xfd, 0, 0x90];
        let e = zstd_frame(&huge[..]).err().unwrap();
        assert!(e.to_string().contains("limit"), "{e}");
    }
}
