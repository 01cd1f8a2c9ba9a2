//! Volume groups from the PVs' metadata, and reading linear logical volumes.
//!
//! A VG is assembled from the PV metadata with the highest `seqno`; its PVs are
//! matched to scanned PVs by UUID. An LV is readable only when every segment is
//! `striped` with `stripe_count = 1` (what `lvs` shows as `linear`) on a PV that is
//! present and large enough; anything else (striped over several PVs, thin, mirror,
//! raid, cache, vdo, snapshot copy-on-write stores, missing PVs) is reported with
//! the reason and never guessed at.

use super::metadata::{self, Section};
use super::PhysicalVolume;
use crate::{Error, Result};
use imgport_disk::source::check_bounds;
use imgport_disk::ReadAt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Size of the sectors LVM metadata counts in.
const SECTOR: u64 = 512;

/// A volume group.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeGroup {
    pub name: String,
    pub uuid: String,
    /// Metadata sequence number used.
    pub seqno: u64,
    /// Extent size in bytes.
    pub extent_size: u64,
    pub pvs: Vec<VgPv>,
    /// Visible logical volumes, in metadata order.
    pub lvs: Vec<LogicalVolume>,
    /// PVs the metadata lists that were not found: `"pv1 <uuid> (was /dev/sdb)"`.
    pub missing_pvs: Vec<String>,
    pub findings: Vec<String>,
}

/// A PV as the VG metadata lists it.
#[derive(Clone, Serialize)]
pub struct VgPv {
    /// Name inside the metadata (`pv0`).
    pub id: String,
    pub uuid: String,
    /// Our name of the device holding it (`partition 2`), `None` when missing.
    pub device: Option<String>,
    /// Byte offset of the first extent on the device.
    pub pe_start: u64,
    pub pe_count: u64,
    #[serde(skip)]
    dev: Option<Arc<dyn ReadAt>>,
}

impl std::fmt::Debug for VgPv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VgPv")
            .field("id", &self.id)
            .field("uuid", &self.uuid)
            .field("device", &self.device)
            .field("pe_start", &self.pe_start)
            .field("pe_count", &self.pe_count)
            .finish()
    }
}

/// A logical volume.
#[derive(Debug, Clone, Serialize)]
pub struct LogicalVolume {
    pub vg: String,
    pub name: String,
    pub uuid: String,
    /// Size in bytes.
    pub size: u64,
    /// Segment types in order (`striped`, `thin`, `raid1`, …).
    pub segment_types: Vec<String>,
    /// Whether [`open_lv`] can read it.
    pub readable: bool,
    /// Why not, when not readable.
    pub reason: Option<String>,
    /// Linear mapping (only when readable).
    #[serde(skip)]
    map: Vec<Piece>,
}

/// `len` bytes at `lv_offset` of the LV are at `pv_offset` of `vg.pvs[pv]`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    lv_offset: u64,
    len: u64,
    pv: usize,
    pv_offset: u64,
}

/// Group PVs into volume groups by their metadata. PVs without usable metadata
/// that no VG lists are dropped (report their [`PhysicalVolume::findings`] first).
pub fn assemble(pvs: Vec<PhysicalVolume>) -> Vec<VolumeGroup> {
    // (vg uuid, seqno, parsed metadata, index of the PV it came from)
    let mut best: Vec<(String, u64, Section, usize)> = Vec::new();
    let mut findings_by_vg: Vec<(String, String)> = Vec::new();
    for (i, pv) in pvs.iter().enumerate() {
        let Some(text) = &pv.metadata else { continue };
        let root = match metadata::parse(text) {
            Ok(r) => r,
            Err(e) => {
                findings_by_vg.push((String::new(), format!("{}: LVM metadata: {e}", pv.name)));
                continue;
            }
        };
        let Some((_, vg)) = root.sections().next() else {
            continue;
        };
        let Some(uuid) = vg.str("id").map(str::to_string) else {
            continue;
        };
        let seqno = vg.int("seqno").unwrap_or(0).max(0) as u64;
        match best.iter_mut().find(|b| b.0 == uuid) {
            Some(b) => {
                if seqno != b.1 {
                    findings_by_vg.push((
                        uuid.clone(),
                        format!("PVs disagree on the metadata seqno ({} and {seqno}); the newest is used", b.1),
                    ));
                }
                if seqno > b.1 {
                    *b = (uuid, seqno, root, i);
                }
            }
            None => best.push((uuid, seqno, root, i)),
        }
    }
    best.into_iter()
        .filter_map(|(uuid, seqno, root, _)| {
            let (name, vg) = root.sections().next()?;
            let mut out = build_vg(name, &uuid, seqno, vg, &pvs);
            for (u, f) in &findings_by_vg {
                if *u == uuid {
                    out.findings.push(f.clone());
                }
            }
            Some(out)
        })
        .collect()
}

fn normalize_uuid(u: &str) -> String {
    u.chars().filter(|c| *c != '-').collect()
}

fn build_vg(
    name: &str,
    uuid: &str,
    seqno: u64,
    vg: &Section,
    scanned: &[PhysicalVolume],
) -> VolumeGroup {
    let mut out = VolumeGroup {
        name: name.to_string(),
        uuid: uuid.to_string(),
        seqno,
        extent_size: 0,
        pvs: Vec::new(),
        lvs: Vec::new(),
        missing_pvs: Vec::new(),
        findings: Vec::new(),
    };
    let extent_sectors = vg.int("extent_size").unwrap_or(0);
    let extent_size = u64::try_from(extent_sectors)
        .ok()
        .and_then(|e| e.checked_mul(SECTOR))
        .unwrap_or(0);
    out.extent_size = extent_size;
    if extent_size == 0 {
        out.findings
            .push(format!("extent_size {extent_sectors} is not valid"));
    }
    if let Some(pvsec) = vg.section("physical_volumes") {
        for (id, p) in pvsec.sections() {
            let pv = vg_pv(id, p, scanned, &mut out);
            out.pvs.push(pv);
        }
    }
    if let Some(lvsec) = vg.section("logical_volumes") {
        add_lvs(&mut out, lvsec);
    }
    out
}

/// The VG's PV `id` as its metadata section `p` describes it, on the scanned PV of
/// the same UUID (the first, when several: a finding) unless flagged MISSING; an
/// absent one is listed in `out.missing_pvs`, the device's own findings in
/// `out.findings`.
fn vg_pv(id: &str, p: &Section, scanned: &[PhysicalVolume], out: &mut VolumeGroup) -> VgPv {
    let pv_uuid = p.str("id").unwrap_or_default().to_string();
    let found = scanned
        .iter()
        .filter(|s| normalize_uuid(&s.uuid) == normalize_uuid(&pv_uuid))
        .collect::<Vec<_>>();
    if found.len() > 1 {
        out.findings.push(format!(
            "PV {pv_uuid} was found {} times ({}); the first is used",
            found.len(),
            found
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let found = found.first();
    let flagged_missing = p.strings("flags").contains(&"MISSING");
    if let Some(s) = found {
        out.findings
            .extend(s.findings.iter().map(|f| format!("{}: {f}", s.name)));
    }
    let pe_start = p
        .int("pe_start")
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0);
    let pv = VgPv {
        id: id.to_string(),
        uuid: pv_uuid.clone(),
        device: found.map(|s| s.name.clone()),
        pe_start: pe_start.saturating_mul(SECTOR),
        pe_count: p
            .int("pe_count")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
        dev: if flagged_missing {
            None
        } else {
            found.map(|s| s.dev.clone())
        },
    };
    if pv.dev.is_none() {
        let hint = p
            .str("device")
            .map(|d| format!(" (was {d})"))
            .unwrap_or_default();
        let flag = if flagged_missing {
            ", flagged MISSING in the metadata"
        } else {
            ""
        };
        out.missing_pvs.push(format!("{id} {pv_uuid}{hint}{flag}"));
    }
    pv
}

/// The visible LVs of `lvsec` (and old-style snapshots' copy-on-write stores, by the
/// snapshot's name, unreadable), built over `out`'s PVs.
fn add_lvs(out: &mut VolumeGroup, lvsec: &Section) {
    // First listing of each PV name wins, as for lookups by name elsewhere.
    let mut pv_index: HashMap<String, usize> = HashMap::new();
    for (i, p) in out.pvs.iter().enumerate() {
        pv_index.entry(p.id.clone()).or_insert(i);
    }
    let cow = cow_stores(lvsec);
    for (lv_name, lv) in lvsec.sections() {
        // As `lvs` shows them: the snapshot goes by its COW store's name (the
        // `snapshotN` LV holding the snapshot segment is internal).
        let is_cow = cow.contains_key(lv_name);
        let is_snapshot = lv
            .sections()
            .any(|(_, s)| s.str("type") == Some("snapshot"));
        if is_snapshot || (!is_cow && !lv.strings("status").contains(&"VISIBLE")) {
            continue;
        }
        let mut l = build_lv(&out.name, lv_name, lv, out, &pv_index);
        if let Some(origin) = cow.get(lv_name) {
            l.readable = false;
            l.map.clear();
            l.reason = Some(format!(
                "snapshot of {origin} (a copy-on-write store, not a filesystem)"
            ));
        }
        out.lvs.push(l);
    }
}

/// Copy-on-write store → origin, for each old-style snapshot segment of `lvsec`:
/// such stores look linear but hold no filesystem.
fn cow_stores(lvsec: &Section) -> HashMap<String, String> {
    let mut cow: HashMap<String, String> = HashMap::new();
    for (_, lv) in lvsec.sections() {
        for (_, seg) in lv.sections() {
            if seg.str("type") == Some("snapshot") {
                if let (Some(store), Some(origin)) = (seg.str("cow_store"), seg.str("origin")) {
                    cow.insert(store.to_string(), origin.to_string());
                }
            }
        }
    }
    cow
}

fn build_lv(
    vg_name: &str,
    name: &str,
    lv: &Section,
    vg: &VolumeGroup,
    pv_index: &HashMap<String, usize>,
) -> LogicalVolume {
    let mut segs: Vec<&Section> = lv
        .sections()
        .filter(|(k, s)| k.starts_with("segment") && s.get("start_extent").is_some())
        .map(|(_, s)| s)
        .collect();
    segs.sort_by_key(|s| s.int("start_extent").unwrap_or(0));
    let mut l = LogicalVolume {
        vg: vg_name.to_string(),
        name: name.to_string(),
        uuid: lv.str("id").unwrap_or_default().to_string(),
        size: 0,
        segment_types: segs
            .iter()
            .map(|s| s.str("type").unwrap_or("?").to_string())
            .collect(),
        readable: false,
        reason: None,
        map: Vec::new(),
    };
    let extents: u64 = segs
        .iter()
        .map(|s| {
            s.int("extent_count")
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0)
        })
        .fold(0u64, u64::saturating_add);
    l.size = extents.saturating_mul(vg.extent_size);
    match linear_map(&segs, vg, pv_index) {
        Ok(map) => {
            l.readable = true;
            l.map = map;
        }
        Err(why) => l.reason = Some(why),
    }
    l
}

/// The byte mapping of a linear LV, or why it is not one we read.
fn linear_map(
    segs: &[&Section],
    vg: &VolumeGroup,
    pv_index: &HashMap<String, usize>,
) -> std::result::Result<Vec<Piece>, String> {
    if vg.extent_size == 0 {
        return Err("the volume group's extent size is not valid".to_string());
    }
    if segs.is_empty() {
        return Err("no segments".to_string());
    }
    let mut map = Vec::with_capacity(segs.len());
    let mut next_extent = 0u64;
    for (i, s) in segs.iter().enumerate() {
        let n = i + 1;
        let ty = s.str("type").unwrap_or("?");
        if ty != "striped" {
            return Err(format!(
                "segment {n} is of type {ty:?} (only linear volumes are read)"
            ));
        }
        let stripes = s.int("stripe_count").unwrap_or(0);
        if stripes != 1 {
            return Err(format!(
                "segment {n} is striped over {stripes} PVs (only linear volumes are read)"
            ));
        }
        let start = s.int("start_extent").and_then(|v| u64::try_from(v).ok());
        let count = s
            .int("extent_count")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0);
        if start != Some(next_extent) || count == 0 {
            return Err(format!(
                "segment {n} starts at extent {start:?} with {count} extents; expected to start at {next_extent}"
            ));
        }
        let (pv_id, pe) = match s.get("stripes") {
            Some(metadata::Value::Array(a)) => match a.as_slice() {
                [metadata::Value::Str(p), metadata::Value::Int(e)] if *e >= 0 => {
                    (p.as_str(), *e as u64)
                }
                _ => return Err(format!("segment {n}: stripes is not [\"pvN\", extent]")),
            },
            _ => return Err(format!("segment {n} has no stripes")),
        };
        let Some(&pv_idx) = pv_index.get(pv_id) else {
            return Err(format!(
                "segment {n} is on {pv_id:?}, which the VG does not list"
            ));
        };
        let pv = &vg.pvs[pv_idx];
        let Some(dev) = &pv.dev else {
            return Err(format!(
                "segment {n} is on {pv_id} ({}), which is missing",
                pv.uuid
            ));
        };
        if pe.checked_add(count).is_none_or(|e| e > pv.pe_count) {
            return Err(format!(
                "segment {n}: extents {pe}+{count} are past the PV's {} extents",
                pv.pe_count
            ));
        }
        let len = count.checked_mul(vg.extent_size);
        let pv_offset = pe
            .checked_mul(vg.extent_size)
            .and_then(|o| o.checked_add(pv.pe_start));
        let (Some(len), Some(pv_offset)) = (len, pv_offset) else {
            return Err(format!("segment {n}: offsets overflow"));
        };
        if pv_offset.checked_add(len).is_none_or(|e| e > dev.size()) {
            return Err(format!(
                "segment {n} ends at byte {} of {pv_id}, past its end ({} bytes): image truncated?",
                pv_offset.saturating_add(len),
                dev.size()
            ));
        }
        let lv_offset = next_extent
            .checked_mul(vg.extent_size)
            .ok_or("offsets overflow")?;
        map.push(Piece {
            lv_offset,
            len,
            pv: pv_idx,
            pv_offset,
        });
        next_extent += count;
    }
    Ok(map)
}

/// The bytes of a readable (linear) logical volume, named `"lv VG/LV"`.
pub fn open_lv(vg: &VolumeGroup, lv: &LogicalVolume) -> Result<Arc<dyn ReadAt>> {
    if !lv.readable {
        return Err(Error::Unsupported(format!(
            "logical volume {}/{}: {}",
            lv.vg,
            lv.name,
            lv.reason.as_deref().unwrap_or("not readable")
        )));
    }
    let mut pieces = Vec::with_capacity(lv.map.len());
    for p in &lv.map {
        let dev = vg
            .pvs
            .get(p.pv)
            .and_then(|v| v.dev.clone())
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "logical volume {}/{}: its PV is not in this VG",
                    lv.vg, lv.name
                ))
            })?;
        pieces.push((*p, dev));
    }
    let size = lv.map.last().map_or(0, |p| p.lv_offset + p.len);
    Ok(Arc::new(LinearLv {
        name: format!("lv {}/{}", lv.vg, lv.name),
        size,
        pieces,
    }))
}

/// A linear LV: consecutive pieces of PVs.
struct LinearLv {
    name: String,
    size: u64,
    pieces: Vec<(Piece, Arc<dyn ReadAt>)>,
}

impl ReadAt for LinearLv {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> imgport_disk::Result<()> {
        check_bounds(&|| self.describe(), offset, buf.len(), self.size)?;
        let mut done = 0usize;
        while done < buf.len() {
            let pos = offset + done as u64;
            let i = self
                .pieces
                .partition_point(|(p, _)| p.lv_offset + p.len <= pos);
            let Some((p, dev)) = self.pieces.get(i) else {
                // Unreachable: the pieces cover 0..size.
                return Err(imgport_disk::Error::OutOfBounds {
                    what: self.describe(),
                    offset: pos,
                    len: (buf.len() - done) as u64,
                    size: self.size,
                });
            };
            let within = pos - p.lv_offset;
            let n = (p.len - within).min((buf.len() - done) as u64) as usize;
            dev.read_exact_at(&mut buf[done..done + n], p.pv_offset + within)?;
            done += n;
        }
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.pieces.first().map_or(0, |(_, d)| d.bytes_read())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
