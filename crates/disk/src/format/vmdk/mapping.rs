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

/// What a structure of `kind` is called in messages.
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
    let mut items = Items(Vec::new());
    items.push(0, HEADER)?;
    items.push(disk.hdr.desc_offset, DESCRIPTOR)?;
    items.push(disk.gd.offset / 512, DIRECTORY)?;

    // Grain tables first, before any is read: a table named by many directory entries
    // would otherwise be walked once per entry.
    let tables = grain_tables_apart(disk)?;
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

    push_tables_and_grains(disk, &mut items)?;
    check_overlaps(disk, items.0)
}

/// Each allocated structure as `start sector << 3 | kind`, at most `MAX_TRACKED`.
struct Items(Vec<u64>);

impl Items {
    /// Add the structure of `kind` at `sector`, refused past `MAX_TRACKED`.
    fn push(&mut self, sector: u64, kind: u64) -> Result<()> {
        if self.0.len() as u64 >= MAX_TRACKED {
            return Err(Error::limit(
                "VMDK grains and grain tables to check for overlaps",
                self.0.len() as u64 + 1,
                MAX_TRACKED,
            ));
        }
        self.0.push(sector << 3 | kind);
        Ok(())
    }
}

/// The sectors of a structure of `kind` in `disk`.
fn sectors(disk: &VmdkDisk, kind: u64) -> u64 {
    match kind {
        HEADER | COMPRESSED_GRAIN => 1,
        DESCRIPTOR => disk.hdr.desc_size.max(1),
        DIRECTORY => (disk.gd.entries.len() as u64 * 4).div_ceil(512).max(1),
        TABLE => disk.gd.gt_bytes.div_ceil(512).max(1),
        _ => disk.hdr.grain_sectors,
    }
}

/// The grain tables' start sectors, sorted; refused if two directory entries name
/// one table or two tables overlap.
fn grain_tables_apart(disk: &VmdkDisk) -> Result<Vec<u64>> {
    let gt_sectors = disk.gd.gt_bytes.div_ceil(512);
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
    Ok(tables)
}

/// Add every grain table and every grain they map to `items`; refused as soon as more
/// grains are mapped than the file can hold.
fn push_tables_and_grains(disk: &VmdkDisk, items: &mut Items) -> Result<()> {
    let hdr = &disk.hdr;
    let file_size = disk.src.size();
    let file_sectors = file_size.div_ceil(512);
    let gs = hdr.grain_size();
    let per_gt = u64::from(hdr.num_gtes_per_gt);
    let span = hdr.gt_coverage();
    let virtual_size = disk.info.virtual_size;
    let (mut grains, mut compressed) = (0u64, 0u64);
    for gdi in 0..disk.gd.entries.len() {
        let Some(gt_at) = disk.gd.table_offset(gdi) else {
            continue;
        };
        items.push(gt_at / 512, TABLE)?;
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
                    items.push(h / 512, GRAIN)?;
                }
                GrainKind::Compressed(h) => {
                    compressed += 1;
                    if compressed > file_sectors {
                        return Err(shared(format!("{compressed} compressed grains are mapped from a {file_size}-byte file of {file_sectors} sectors")));
                    }
                    items.push(h / 512, COMPRESSED_GRAIN)?;
                }
                GrainKind::Zero | GrainKind::Unallocated => {}
            }
        }
    }
    Ok(())
}

/// Sort the structures and refuse the first that starts before the furthest-reaching
/// one before it ends.
fn check_overlaps(disk: &VmdkDisk, mut items: Vec<u64>) -> Result<()> {
    items.sort_unstable();
    // The structure reaching furthest so far: (end sector, packed item).
    let mut reach: Option<(u64, u64)> = None;
    for &it in &items {
        let (start, kind) = (it >> 3, it & 7);
        if let Some((end, prev)) = reach {
            if start < end {
                return Err(shared(overlap_detail(start, kind, prev >> 3, prev & 7)));
            }
        }
        let end = start.saturating_add(sectors(disk, kind));
        if reach.is_none_or(|(e, _)| end > e) {
            reach = Some((end, it));
        }
    }
    Ok(())
}

/// What overlaps what: the same structure named twice, or two that overlap.
fn overlap_detail(start: u64, kind: u64, pstart: u64, pkind: u64) -> String {
    if pstart == start && pkind == kind {
        match kind {
            TABLE => format!("two grain directory entries name the grain table at sector {start}"),
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
    }
}

/// The error for a structure that does not have its own place in the file.
fn shared(detail: String) -> Error {
    Error::corrupt(
        FMT,
        "grain tables",
        0,
        format!("{detail}: each grain and grain table must have its own place in the file (a disk of repeated data from a small file)"),
    )
}
