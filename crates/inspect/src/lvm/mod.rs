//! LVM2: physical volume labels, text metadata, volume groups and linear logical volumes.
//!
//! Flow: [`scan_pv`] on every partition (and the whole disk when it has no table),
//! [`assemble`] the PVs found into [`VolumeGroup`]s, then [`open_lv`] each readable
//! [`LogicalVolume`] as a block device named `"lv VG/LV"`.
//! Written here: no maintained Rust crate reads LVM2 on-disk metadata.

use crate::Result;
use imgport_disk::ReadAt;
use serde::Serialize;
use std::sync::Arc;

pub mod label;
pub mod metadata;
mod volume;

pub use label::Area;
pub use volume::{assemble, open_lv, LogicalVolume, VgPv, VolumeGroup};

/// A device carrying an LVM2 PV label.
#[derive(Clone, Serialize)]
pub struct PhysicalVolume {
    /// Our name of the device (`partition 2`, `disk`).
    pub name: String,
    /// PV UUID, dashed as `pvs` prints it.
    pub uuid: String,
    /// Device size the PV header records.
    pub device_size: u64,
    /// Sector (0–3) of the label.
    pub label_sector: u64,
    pub data_areas: Vec<Area>,
    pub metadata_areas: Vec<Area>,
    /// The current metadata text of the first metadata area that has a valid one.
    #[serde(skip)]
    pub metadata: Option<String>,
    /// Damage found (bad metadata area checksums, …).
    pub findings: Vec<String>,
    #[serde(skip)]
    pub dev: Arc<dyn ReadAt>,
}

impl std::fmt::Debug for PhysicalVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhysicalVolume")
            .field("name", &self.name)
            .field("uuid", &self.uuid)
            .field("device_size", &self.device_size)
            .field("label_sector", &self.label_sector)
            .field("data_areas", &self.data_areas)
            .field("metadata_areas", &self.metadata_areas)
            .field("metadata_bytes", &self.metadata.as_ref().map(String::len))
            .field("findings", &self.findings)
            .finish()
    }
}

/// Read the PV label of `dev` (named `name` in reports). `Ok(None)` when `dev` is
/// not a PV; `Err` when the label itself is damaged. Damaged metadata areas are
/// findings (another copy may be good).
pub fn scan_pv(dev: Arc<dyn ReadAt>, name: &str) -> Result<Option<PhysicalVolume>> {
    let Some(l) = label::read_label(&*dev)? else {
        return Ok(None);
    };
    let mut findings = Vec::new();
    let mut text = None;
    for (i, mda) in l.metadata_areas.iter().enumerate() {
        match label::read_metadata(&*dev, *mda) {
            Ok(Some(t)) => {
                text = Some(t);
                break;
            }
            Ok(None) => {}
            Err(e) => findings.push(format!("metadata area {}: {e}", i + 1)),
        }
    }
    if l.device_size > dev.size() {
        findings.push(format!(
            "the PV header records {} bytes but the device has {} (image truncated?)",
            l.device_size,
            dev.size()
        ));
    }
    Ok(Some(PhysicalVolume {
        name: name.to_string(),
        uuid: l.uuid,
        device_size: l.device_size,
        label_sector: l.sector,
        data_areas: l.data_areas,
        metadata_areas: l.metadata_areas,
        metadata: text,
        findings,
        dev,
    }))
}
