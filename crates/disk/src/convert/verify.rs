//! `--verify` and the import's check of its own output: the converted image re-read
//! through the reader must give back the digest the conversion wrote.

use super::cluster::is_zero;
use super::ConvertStats;
use crate::image::{ExtentKind, VirtualDisk};
use crate::{Error, Result};

/// Extents are asked for in windows of this many guest bytes.
const EXTENT_WINDOW: u64 = 1 << 30;

/// Re-read `output` through the reader and check that its content digest equals
/// `stats.digest`, i.e. that every cluster reads back as written and nothing else
/// is allocated. Returns the number of clusters checked.
pub fn verify(output: &dyn VirtualDisk, stats: &ConvertStats, cluster_size: u64) -> Result<u64> {
    if output.size() != stats.virtual_size {
        return Err(Error::Convert {
            detail: format!(
                "verification failed: the output's virtual size {} differs from the source's {}",
                output.size(),
                stats.virtual_size
            ),
        });
    }
    let cs = cluster_size;
    let mut digest = crc32fast::Hasher::new();
    let mut count = 0u64;
    let mut buf = vec![0u8; cs as usize];
    let size = output.size();
    let mut pos = 0u64;
    let mut last = None;
    while pos < size {
        let wend = pos.saturating_add(EXTENT_WINDOW).min(size);
        for e in output.extents(pos, wend - pos)? {
            if e.kind != ExtentKind::Data {
                continue;
            }
            for c in e.offset / cs..(e.offset + e.length).div_ceil(cs) {
                if last.is_some_and(|l| c <= l) {
                    continue;
                }
                last = Some(c);
                let n = (size - c * cs).min(cs) as usize;
                output.read_exact_at(&mut buf[..n], c * cs)?;
                if is_zero(&buf[..n]) {
                    // Never written (the writer skips zero clusters); a raw output
                    // reports every cluster as data.
                    continue;
                }
                digest.update(&c.to_le_bytes());
                digest.update(&crc32fast::hash(&buf[..n]).to_le_bytes());
                count += 1;
            }
        }
        pos = wend;
    }
    if count != stats.clusters_written || digest.finalize() != stats.digest {
        return Err(Error::Convert {
            detail: format!("verification failed: {count} clusters read back, {} written, or their content differs", stats.clusters_written),
        });
    }
    Ok(count)
}
