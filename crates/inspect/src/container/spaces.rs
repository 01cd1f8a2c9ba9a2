//! Windows Storage Spaces pool members: the GPT partition type
//! `E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D` ("Microsoft Storage Spaces"), and the pool
//! database header signature `SPACEDB ` at the start of the member's metadata (at the
//! partition start, or 4 KiB in). Only recognised (R-PART: Windows cannot be imported
//! from a storage pool); the pool is not read.

use crate::Result;
use imgport_disk::ReadAt;

/// The GPT partition type GUID of a Storage Spaces member.
pub const GPT_TYPE: &str = "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D";
/// The pool database header signature (8 bytes on disk: `SPACEDB ` with a trailing blank).
pub const SIGNATURE: &[u8; 7] = b"SPACEDB";
/// Where the header is looked for.
const OFFSETS: [u64; 2] = [0, 4096];

/// The byte offset of a `SPACEDB` header on `dev`, if any.
pub fn find(dev: &dyn ReadAt) -> Result<Option<u64>> {
    for off in OFFSETS {
        if off + 8 > dev.size() {
            break;
        }
        let mut b = [0u8; 8];
        dev.read_exact_at(&mut b, off)?;
        if b.starts_with(SIGNATURE) && matches!(b[7], b' ' | 0) {
            return Ok(Some(off));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgport_disk::MemSource;

    #[test]
    fn signature_at_start_or_4k() {
        let mut d = vec![0u8; 16384];
        assert_eq!(find(&MemSource::new(d.clone())).unwrap(), None);
        d[4096..4104].copy_from_slice(b"SPACEDB ");
        assert_eq!(find(&MemSource::new(d.clone())).unwrap(), Some(4096));
        d[..8].copy_from_slice(b"SPACEDB ");
        assert_eq!(find(&MemSource::new(d)).unwrap(), Some(0));
        assert_eq!(find(&MemSource::new(b"SPACE".to_vec())).unwrap(), None);
    }
}
