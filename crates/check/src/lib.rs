//! The pre-flight engine: one image source → format facts, measured sizes, guest
//! inspection, and the policy [`Verdict`] — the same answer for `imgport check` and the
//! import service (ImportImage `DryRun` and the import job), so the two never disagree.
//!
//! Pure composition of the core crates: no network or database of its own. A remote
//! image is checked through [`imgport_disk::HttpSource`] range reads by the caller.

#[cfg(feature = "native")]
pub mod boot;
mod error;
mod facts;
mod watch;

pub use error::Error;
pub use facts::guest_facts;

use imgport_disk::{Allocation, ImageInfo, Measure, ReadAt, VirtualDisk};
use imgport_inspect::Report;
use imgport_policy::{DiskRole, FormatFacts, GuestFacts, ImportForm, Verdict};
use serde::Serialize;
use std::sync::Arc;
use web_time::Instant;

/// The phases of a check, in order (for progress display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Detect the format and open it (R-FMT).
    Format,
    /// Walk the mapping tables and measure the qcow2 size (R-SIZE-*); the import job's
    /// phase of the same name.
    Size,
    /// Partitions, filesystems, OS facts.
    Inspect,
    /// Apply the rules.
    Policy,
}

/// Everything a check established, and the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// What was checked (file path or URL, as the source describes itself).
    pub source: String,
    /// Size of the image file in bytes.
    pub image_size: u64,
    /// The disk core's format facts, when the image could be opened.
    pub info: Option<ImageInfo>,
    /// `qemu-img measure -O qcow2` equivalent (R-SIZE-ACTUAL).
    pub measure: Option<Measure>,
    pub allocation: Option<Allocation>,
    /// Facts handed to the policy.
    pub format: FormatFacts,
    pub guest: Option<GuestFacts>,
    /// The full inspection report (partitions, filesystems, kernels, evidence …).
    pub inspection: Option<Report>,
    pub verdict: Verdict,
    /// A file that is no disk image but what users upload by mistake (an installer
    /// ISO, an archive, an encrypted container): read as raw, as qemu-img reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mistaken_upload: Option<MistakenUpload>,
    /// Bytes read from the image file (or fetched from the URL) by the whole check.
    pub bytes_read: u64,
    pub elapsed_ms: u64,
}

/// Check the image readable through `src` against the import rules, with `form` as the
/// import form. `Err` only when the image could not be read at all (I/O): a refused or
/// broken image is a verdict (`InvalidFormatSize`), not an error.
pub fn check(src: Arc<dyn ReadAt>, form: &ImportForm) -> Result<CheckReport, Error> {
    check_with_progress(src, form, &mut |_| {})
}

/// [`check`], calling `progress` as each phase starts.
pub fn check_with_progress(
    src: Arc<dyn ReadAt>,
    form: &ImportForm,
    progress: &mut dyn FnMut(Phase),
) -> Result<CheckReport, Error> {
    let started = Instant::now();
    let read_before = src.bytes_read();
    let mut report = CheckReport {
        source: src.describe(),
        image_size: src.size(),
        info: None,
        measure: None,
        allocation: None,
        format: FormatFacts::default(),
        guest: None,
        inspection: None,
        verdict: Verdict::default(),
        mistaken_upload: None,
        bytes_read: 0,
        elapsed_ms: 0,
    };
    progress(Phase::Format);
    let readable = open_and_measure(&src, &mut report, progress)?;
    if let Some(Readable { disk, all_zero }) = readable {
        progress(Phase::Inspect);
        let watched = Arc::new(watch::Watched::new(disk));
        let inspection = imgport_inspect::inspect(watched.clone());
        if let Some(damage) = watched.corruption() {
            // The image's own data failed to decode where the inspection read it: the
            // file is damaged (R-FMT), whatever the inspection made of the rest.
            report.format = FormatFacts::refused(
                report.info.as_ref().map(|i| i.format.name()),
                &format!("reading the guest's data: {damage}"),
            );
            report.format.file_size = Some(src.size());
        } else {
            let mut guest = guest_facts(&inspection, all_zero);
            if let Some(m) = &report.mistaken_upload {
                guest.classification = Some(m.classification);
                guest.classification_evidence.insert(
                    0,
                    format!(
                        "the file is {} content ({}), not a disk image; qemu-img reads it as a \
                         raw disk",
                        m.detected_format, m.evidence
                    ),
                );
            }
            report.guest = Some(guest);
        }
        report.inspection = Some(inspection);
    }
    progress(Phase::Policy);
    report.verdict = imgport_policy::decide(&report.format, report.guest.as_ref(), form);
    report.bytes_read = src.bytes_read().saturating_sub(read_before);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The JSON of a check that could not be made (the image unreadable, a bad form):
/// `{"source", "error": {"code": "CouldNotCheck", "message"}}`, as `imgport check --json`
/// and the in-browser check print it.
pub fn could_not_check(source: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"source": source, "error": {"code": "CouldNotCheck", "message": message}})
}

/// What [`CheckReport::mistaken_upload`] records.
#[derive(Debug, Clone, Serialize)]
pub struct MistakenUpload {
    /// What it is to the rules (`install-iso`, `archive`, `encrypted`).
    pub classification: DiskRole,
    /// The disk core's name for what the file is (`iso9660`, `tar`, `gzip` …).
    pub detected_format: String,
    /// What identified it (the disk core's detection: magic and offset).
    pub evidence: String,
}

/// Files the disk core refuses as image formats that are no disk images at all, but
/// what a user uploads by mistake. qemu-img, which the seed tells users to check the
/// format with, calls them `raw`; the import then finds no root partition — the seed's
/// RootPartitionNotFound causes "an installation package was uploaded" and "a wrong
/// file" (R-ERR). A real but unsupported image format (VHDX, VDI, QED, OVA …) and a
/// compressed stream (gzip, xz, zstd, bzip2: most often a compressed disk image, to be
/// decompressed before upload) stay InvalidFormatSize (R-FMT).
fn mistaken_upload(e: &imgport_disk::Error) -> Option<DiskRole> {
    if !matches!(e, imgport_disk::Error::UnsupportedFormat { .. }) {
        return None;
    }
    Some(match e.detected_format()?.as_str() {
        "iso9660" => DiskRole::InstallIso,
        "tar" | "zip" | "7z" => DiskRole::Archive,
        "luks" => DiskRole::Encrypted,
        _ => return None,
    })
}

/// A readable image: its guest view, and whether nothing is stored as data.
struct Readable {
    disk: Arc<dyn ReadAt>,
    all_zero: bool,
}

/// Open the image, walk its tables and measure it. `Ok(None)`: refused (recorded in
/// `report.format`).
fn open_and_measure(
    src: &Arc<dyn ReadAt>,
    report: &mut CheckReport,
    progress: &mut dyn FnMut(Phase),
) -> Result<Option<Readable>, Error> {
    let refuse = |report: &mut CheckReport, e: imgport_disk::Error| -> Result<_, Error> {
        if e.is_io() {
            return Err(Error::Read(e));
        }
        let detected = e.detected_format();
        report.format = FormatFacts::refused(detected.as_deref(), &e.to_string());
        report.format.file_size = Some(src.size());
        Ok(None)
    };
    let disk: Arc<dyn VirtualDisk> = match imgport_disk::open(src.clone()) {
        Ok(d) => Arc::from(d),
        Err(e) => match mistaken_upload(&e) {
            // qemu-img (and so the import) reads these files as raw disks and finds no
            // root partition: checked the same way, the classification says what they are.
            Some(class) => {
                let imgport_disk::Error::UnsupportedFormat { detected, detail } = &e else {
                    return refuse(report, e);
                };
                report.mistaken_upload = Some(MistakenUpload {
                    classification: class,
                    detected_format: detected.clone(),
                    evidence: detail.clone(),
                });
                match imgport_disk::open_as(src.clone(), imgport_disk::Format::Raw) {
                    Ok(d) => Arc::from(d),
                    Err(e) => return refuse(report, e),
                }
            }
            None => return refuse(report, e),
        },
    };
    report.info = Some(disk.info().clone());
    progress(Phase::Size);
    // The allocation walk validates every mapping-table entry: a corrupt or truncated
    // table is refused here, as the import would refuse it (R-FMT).
    let allocation = match imgport_disk::allocation(&*disk) {
        Ok(a) => a,
        Err(e) => return refuse(report, e),
    };
    let measure = match imgport_disk::measure(&*disk, imgport_disk::measure::DEFAULT_CLUSTER_SIZE) {
        Ok(m) => m,
        Err(e) => return refuse(report, e),
    };
    let info = disk.info();
    report.format = FormatFacts::readable(
        &info.format.to_string(),
        info.virtual_size,
        measure.required,
    );
    report.format.file_size = Some(info.file_size);
    // Raw and fixed VHD count the file's holes as zero; a source that cannot show them
    // (HTTP) makes the measure an upper bound.
    let holes_unseen = src.host_extents(0, src.size().min(4096)).is_none();
    report.format.qcow2_required_counts_zeros = holes_unseen
        && (disk.data_recurses_to_host()
            // A qcow2 over HTTP: metadata preallocation cannot be told from the file's
            // allocated size (qemu's test) — over the limit, sample the mapped clusters:
            // zeros among them mean the count may be preallocated space (the import
            // measures its stored copy, whose holes it sees).
            || info.format == imgport_disk::Format::Qcow2
                && measure.required > imgport_policy::rules::MAX_ACTUAL_BYTES
                && imgport_disk::measure::data_samples_read_zero(&*disk, allocation.data, 16)
                    .unwrap_or(false));
    report.measure = Some(measure);
    report.allocation = Some(allocation);
    // Nothing counts as data for measure (nothing stored, or only holes of the host
    // file where qemu's block status looks through to it: a sparse raw file, a
    // metadata-preallocated qcow2): every byte of the guest reads as zero (R-PART).
    // The allocation map alone would call a preallocated but empty qcow2 all data.
    let all_zero = measure.data == 0;
    Ok(Some(Readable {
        disk: disk as Arc<dyn ReadAt>,
        all_zero,
    }))
}
