//! Every grain and grain table in its own place (issue 18 item 8; R-FMT): run once at
//! open, reading the grain directory and grain tables only.
//!
//! VMDK has no refcounts: a grain or grain table belongs to exactly one entry. Two
//! grain directory entries naming one grain table, two grain table entries naming one
//! grain, or grains overlapping each other or the metadata (header, embedded
//! descriptor, grain directory, grain tables) would let a small file present a large
//! disk of repeated data, and no VMDK writer produces them. Each allocated structure
//! is kept as one `u64` (start sector and kind), sorted, and checked for overlap; with
//! the grains in their own places, uncompressed grains map at most the file's size and
//! compressed ones at most one grain per sector of the file.

use super::grain_table::GrainKind;
use super::{VmdkDisk, FMT};
use crate::{Error, Result};

/// Most structures tracked (8 bytes each): 32 Mi grains are 2 TiB of 64 KiB grains.
const MAX_TRACKED: u64 = 32 << 20;

const HEADER: u64 = 0;
const DESCRIPTOR: u64 = 1;
const DIRECTORY: u64 = 2;
const TABLE: u64 = 3;
const GRAIN: u64 = 4;
const COMPRESSED_GRAIN: u64 = 5;

fn name(kind: u64) -> &'static str {
    match kind {
        HEADER => "the sparse extent header",
        DESCRIPTOR => "the embedded descriptor",
        DIRECTORY => "the grain directory",
        TABLE => "the grain table",
        GRAIN => "the grain",
        _ => "the compressed grain",
    }
}

/// Check that the grains and grain tables of `disk` do not overlap (see the module
/// documentation).
pub(super) fn check(disk: &VmdkDisk) -> Result<()> {
    let hdr = &disk.hdr;
    let file_size = disk.src.size();
    let file_sectors = file_size.div_ceil(512);
    let gt_sectors = disk.gd.gt_bytes.div_ceil(512);
    let gd_sectors = (disk.gd.entries.len() as u64 * 4).div_ceil(512);
    let mut items: Vec<u64> = Vec::new();
    let push = |items: &mut Vec<u64>, sector: u64, kind: u64| -> Result<()> {
        if items.len() as u64 >= MAX_TRACKED {
            return Err(Error::limit(
                "VMDK grains and grain tables to check for overlaps",
                items.len() as u64 + 1,
                MAX_TRACKED,
            ));
        }
        items.push(sector << 3 | kind);
        Ok(())
    };
    let len = |kind: u64| match kind {
        HEADER | COMPRESSED_GRAIN => 1,
        DESCRIPTOR => hdr.desc_size.max(1),
        DIRECTORY => gd_sectors.max(1),
        TABLE => gt_sectors.max(1),
        _ => hdr.grain_sectors,
    };
    push(&mut items, 0, HEADER)?;
    push(&mut items, hdr.desc_offset, DESCRIPTOR)?;
    push(&mut items, disk.gd.offset / 512, DIRECTORY)?;

    // Grain tables first, before any is read: a table named by many directory entries
    // would otherwise be walked once per entry.
    let mut tables: Vec<u64> = (0..disk.gd.entries.len())
        .filter_map(|i| disk.gd.table_offset(i))
        .map(|o| o / 512)
        .collect();
    tables.sort_unstable();
    for w in tables.windows(2) {
        if let [a, b] = *w {
            if b < a + gt_sectors.max(1) {
                return Err(shared(if a == b {
                    format!("two grain directory entries name the grain table at sector {a}")
                } else {
                    format!("the grain tables at sectors {a} and {b} overlap")
                }));
            }
        }
    }
    // Every table is read below: ask for them all at once, so that a remote source
    // fetches them in a few concurrent, coalesced requests (a streamOptimized image
    // keeps each table after its grains, spread over the file) instead of one round
    // trip each (issue 16). Bounded by the directory's size and by the cache.
    let ranges: Vec<(u64, u64)> = tables
        .iter()
        .map(|&s| (s.saturating_mul(512), disk.gd.gt_bytes))
        .collect();
    disk.src.prefetch(&ranges)?;
    drop(tables);

    let gs = hdr.grain_size();
    let per_gt = u64::from(hdr.num_gtes_per_gt);
    let span = hdr.gt_coverage();
    let virtual_size = disk.info.virtual_size;
    let (mut grains, mut compressed) = (0u64, 0u64);
    for gdi in 0..disk.gd.entries.len() {
        let Some(gt_at) = disk.gd.table_offset(gdi) else {
            continue;
        };
        push(&mut items, gt_at / 512, TABLE)?;
        let Some(table) = disk.table(gdi)? else {
            continue;
        };
        for (i, &gte) in table.iter().enumerate().take(per_gt as usize) {
            let guest = gdi as u64 * span + i as u64 * gs;
            if guest >= virtual_size {
                break;
            }
            match disk.classify(gte, guest)? {
                GrainKind::Normal(h) => {
                    grains += 1;
                    // More grains than the file holds: some must be shared.
                    if (grains - 1).saturating_mul(hdr.grain_sectors) >= file_sectors {
                        return Err(shared(format!(
                            "{grains} grains of {gs} bytes are mapped from a {file_size}-byte file"
                        )));
                    }
                    push(&mut items, h / 512, GRAIN)?;
                }
                GrainKind::Compressed(h) => {
                    compressed += 1;
                    if compressed > file_sectors {
                        return Err(shared(format!("{compressed} compressed grains are mapped from a {file_size}-byte file of {file_sectors} sectors")));
                    }
                    push(&mut items, h / 512, COMPRESSED_GRAIN)?;
                }
                GrainKind::Zero | GrainKind::Unallocated => {}
            }
        }
    }

    items.sort_unstable();
    // The structure reaching furthest so far: (end sector, packed item).
    let mut reach: Option<(u64, u64)> = None;
    for &it in &items {
        let (start, kind) = (it >> 3, it & 7);
        if let Some((end, prev)) = reach {
            if start < end {
                let (pstart, pkind) = (prev >> 3, prev & 7);
                let detail = if pstart == start && pkind == kind {
                    match kind {
                        TABLE => format!(
                            "two grain directory entries name the grain table at sector {start}"
                        ),
                        _ => format!(
                            "two grain table entries name {} at sector {start}",
                            name(kind)
                        ),
                    }
                } else {
                    format!(
                        "{} at sector {start} overlaps {} at sector {pstart}",
                        name(kind),
                        name(pkind)
                    )
                };
                return Err(shared(detail));
            }
        }
        let end = start.saturating_add(len(kind));
        if reach.is_none_or(|(e, _)| end > e) {
            reach = Some((end, it));
        }
    }
    Ok(())
}

fn shared(detail: String) -> Error {
    Error::corrupt(
        FMT,
        "grain tables",
        0,
        format!("{detail}: each grain and grain table must have its own place in the file (a disk of repeated data from a small file)"),
    )
}
