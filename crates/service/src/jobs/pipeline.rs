//! One attempt at an import (DESIGN.md "Pipeline"): fetch the stored object →
//! format → size → inspect → policy (the `imgport check` engine: the same verdict the
//! CLI and ImportImage `DryRun` give) → convert to qcow2 (an unnamed file linked into
//! `images/IMAGEID.qcow2` only when complete, fsynced, then the directory fsynced) →
//! register (the stored file is re-opened and must be a qcow2 of the guest's size).
//! Recording NORMAL and notifying happen in the worker, in one transaction.

use super::files;
use super::progress::Progress;
use super::source::{Interrupt, JobSource, StopFlags};
use super::Phase;
use crate::db::images::Image;
use crate::objects::s3_upload::{KeptPart, MultipartSink};
use crate::AppState;
use imgport_disk::convert::{ConvertOptions, ConvertStats, OutputFormat};
use imgport_disk::ReadAt;
use imgport_policy::{BootFacts, Code, Finding, ImportForm, Severity};
use std::sync::Arc;

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The qcow2 is in place and sound.
    Normal {
        stored_size: u64,
        virtual_size: u64,
        findings: Vec<Finding>,
        /// The boot test's result, when the import ran one (R-BOOT).
        boot: Option<BootFacts>,
    },
    /// The import fails with `code` (R-ERR); `findings` are the verdict's.
    Failed {
        code: Code,
        message: String,
        findings: Vec<Finding>,
        boot: Option<BootFacts>,
    },
    /// The attempt stopped before its end; the job is not this attempt's to end.
    Interrupted(Interrupt),
}

fn failed(code: Code, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        code,
        message: message.into(),
        findings: Vec::new(),
        boot: None,
    }
}

/// What an attempt runs with.
pub struct Attempt<'a> {
    pub st: &'a AppState,
    pub job: &'a Image,
    pub progress: &'a Progress,
    pub stop: Arc<StopFlags>,
    /// Worker threads of the conversion.
    pub threads: usize,
    /// Bytes per second the job may read (None: no cap).
    pub read_rate: Option<u64>,
}

impl Attempt<'_> {
    /// An error `e` of a read: the job was stopped, or the failure `otherwise`.
    fn read_error(&self, otherwise: impl FnOnce() -> Outcome) -> Outcome {
        match self.stop.interrupted() {
            Some(i) => Outcome::Interrupted(i),
            None => otherwise(),
        }
    }
}

/// The message of a refused image: the first error finding of the reported code,
/// with its first fix.
fn refusal_message(findings: &[Finding], code: Option<imgport_policy::Code>) -> String {
    let f = findings
        .iter()
        .find(|f| f.severity == Severity::Error && f.code == code)
        .or_else(|| findings.iter().find(|f| f.severity == Severity::Error));
    match f {
        Some(f) => match f.fix.first() {
            Some(fix) => format!("{} Fix: {fix}", f.message),
            None => f.message.clone(),
        },
        None => "the image does not meet the import rules".into(),
    }
}

/// The verdict: an earlier attempt's, kept (issue 13 item 5: a retaken job goes straight
/// to the conversion — unless it boots, which needs the whole report), or a new check
/// whose findings are kept for the next attempt.
fn verdict(
    a: &Attempt<'_>,
    src: &Arc<JobSource>,
    form: &ImportForm,
) -> Result<(Vec<Finding>, Option<imgport_check::CheckReport>), Box<Outcome>> {
    let (st, job, progress) = (a.st, a.job, a.progress);
    // The check passed (a refusal ends the job at once).
    let kept = match (
        job.attempts > 1 && !job.boot_test,
        st.db.kept_findings(&job.image_id),
    ) {
        (true, Ok(Some(json))) => serde_json::from_str::<Vec<Finding>>(&json).ok(),
        _ => None,
    };
    Ok(match kept {
        Some(findings) => {
            progress.enter(Phase::Policy);
            tracing::info!("the verdict of an earlier attempt is kept: no second check");
            (findings, None)
        }
        None => {
            let report = check(a, src, form)?;
            let json = serde_json::to_string(&report.verdict.findings).unwrap_or_default();
            if let Err(e) = st.db.keep_findings(&job.image_id, &json) {
                tracing::warn!("keeping the verdict: {e}");
            }
            (report.verdict.findings.clone(), Some(report))
        }
    })
}

/// The conversion to qcow2 into the image's store (or a copy of an identical import).
fn convert(a: &Attempt<'_>, src: &Arc<JobSource>) -> Result<(files::Stored, u64), Box<Outcome>> {
    a.progress.enter(Phase::Convert);
    let disk = match imgport_disk::open(src.clone() as Arc<dyn ReadAt>) {
        Ok(d) => d,
        Err(e) => {
            return Err(Box::new(a.read_error(|| {
                failed(
                    Code::InternalError,
                    format!("the checked image could not be opened for conversion: {e}"),
                )
            })))
        }
    };
    let virtual_size = disk.info().virtual_size;
    let opts = ConvertOptions {
        format: OutputFormat::Qcow2,
        sync: true,
        threads: a.threads.max(1),
        ..ConvertOptions::default()
    };
    let stored = match store_converted(a, &*disk, &opts) {
        Ok(s) => s,
        Err(e) => {
            return Err(Box::new(a.read_error(|| {
                failed(
                    Code::InternalError,
                    format!("the conversion to qcow2 failed: {e}"),
                )
            })))
        }
    };
    Ok((stored, virtual_size))
}

/// Run the attempt.
pub fn run(a: &Attempt<'_>) -> Outcome {
    let (st, job, progress) = (a.st, a.job, a.progress);

    progress.enter(Phase::Fetch);
    files::clean_for_attempt(st, &job.image_id);
    let object = match st.open_source(&job.source_blob) {
        Ok(o) => o,
        Err(e) => {
            return failed(
                Code::InvalidUrl,
                format!(
                    "InvalidUrl: the object behind ImageUrl can no longer be read as it was when the import was requested ({e}). Upload the image again and import it with a new URL."
                ),
            )
        }
    };
    let src = JobSource::new(object, a.stop.clone(), a.read_rate);

    let form = ImportForm {
        os_type: Some(job.os_type.clone()),
        os_version: Some(job.os_version.clone()),
        architecture: Some(job.architecture.clone()),
        force: job.force,
        region: Some(job.region.clone()),
        // The URL was checked against the request's region when the job was queued.
        source_region: Some(job.region.clone()),
    };
    let (findings, report) = match verdict(a, &src, &form) {
        Ok(v) => v,
        Err(end) => return *end,
    };
    let (stored, virtual_size) = match convert(a, &src) {
        Ok(c) => c,
        Err(end) => return *end,
    };
    let stats = stored.stats().clone();
    // A copy converted nothing: its convert phase shows no bytes.
    if !matches!(
        &stored,
        files::Stored::Object {
            copied_from: Some(_),
            ..
        }
    ) {
        progress.bytes(stats.virtual_size, stats.virtual_size);
    }
    crate::metrics::bytes_read(src.read_bytes());
    crate::metrics::converted(stats.virtual_size, stats.output_size);

    progress.enter(Phase::Register);
    if let Err(why) = stored.verify(st, virtual_size) {
        files::remove_image(st, &job.image_id);
        return failed(
            Code::InternalError,
            format!("the stored qcow2 is not sound: {why}"),
        );
    }
    if let Some(i) = a.stop.interrupted() {
        return Outcome::Interrupted(i);
    }
    let (true, Some(report)) = (job.boot_test, report) else {
        return Outcome::Normal {
            stored_size: stats.output_size,
            virtual_size,
            findings,
            boot: None,
        };
    };
    // R-BOOT (issue 17): boot the stored qcow2 (our own conversion) as the cloud would;
    // the result joins the verdict's findings and is kept whole (BootTest in
    // DescribeImages, the message).
    progress.enter(Phase::Boot);
    let (verdict, boot) = boot_stored(a, &stored, report, &form);
    if let Some(i) = a.stop.interrupted() {
        // Shutdown or a lost lease: QEMU was killed; the next attempt boots again.
        files::remove_image(st, &job.image_id);
        return Outcome::Interrupted(i);
    }
    if verdict.importable {
        return Outcome::Normal {
            stored_size: stats.output_size,
            virtual_size,
            findings: verdict.findings,
            boot: Some(boot),
        };
    }
    files::remove_image(st, &job.image_id);
    let code = verdict.first_code();
    Outcome::Failed {
        code: code.unwrap_or(Code::InternalError),
        message: refusal_message(&verdict.findings, code),
        findings: verdict.findings,
        boot: Some(boot),
    }
}

/// The `imgport check` engine over the job's source: the report of an importable image,
/// or how the attempt ends (refused, unreadable, interrupted).
fn check(
    a: &Attempt<'_>,
    src: &Arc<JobSource>,
    form: &ImportForm,
) -> Result<imgport_check::CheckReport, Box<Outcome>> {
    let progress = a.progress;
    let checked =
        imgport_check::check_with_progress(src.clone() as Arc<dyn ReadAt>, form, &mut |p| {
            progress.enter(Phase::from(p))
        });
    let report = checked.map_err(|e| {
        Box::new(a.read_error(|| {
            failed(
                Code::InternalError,
                format!("the stored image could not be read: {e}"),
            )
        }))
    })?;
    if let Some(i) = a.stop.interrupted() {
        return Err(Box::new(Outcome::Interrupted(i)));
    }
    let verdict = &report.verdict;
    if !verdict.importable {
        let code = verdict.first_code();
        return Err(Box::new(Outcome::Failed {
            code: code.unwrap_or(Code::InternalError),
            message: refusal_message(&verdict.findings, code),
            findings: verdict.findings.clone(),
            boot: None,
        }));
    }
    Ok(report)
}

/// Boots the stored image and re-decides the verdict with what the boot showed; the
/// boot stops (QEMU killed) as soon as the job must stop.
fn boot_stored(
    a: &Attempt<'_>,
    stored: &files::Stored,
    mut report: imgport_check::CheckReport,
    form: &ImportForm,
) -> (imgport_policy::Verdict, BootFacts) {
    use imgport_check::boot;
    let c = &a.st.config;
    let stop = a.stop.clone();
    let opts = boot::BootOptions {
        qemu: c.boot_qemu.clone(),
        timeout: std::time::Duration::from_secs(c.boot_timeout_secs.max(1)),
        max_concurrent: c.boot_max_concurrent.max(1),
        cancel: boot::Cancel::when(move || stop.interrupted().is_some()),
        ..boot::BootOptions::default()
    };
    let facts = match stored.local_copy(a.st) {
        Ok(copy) => boot::boot_file(copy.path(), "qcow2", &report, &opts),
        Err(why) => imgport_policy::BootFacts::not_run(why),
    };
    tracing::info!(
        image = %stored.describe(),
        outcome = facts.outcome.as_str(),
        elapsed_ms = facts.elapsed_ms,
        "boot test"
    );
    boot::apply(&mut report, facts.clone(), form);
    (report.verdict, facts)
}

/// Convert into the image store: a file under `data_dir/images` (embedded store), or a
/// multipart upload into the external store's images bucket (issue 13).
fn store_converted(
    a: &Attempt<'_>,
    disk: &dyn imgport_disk::VirtualDisk,
    opts: &ConvertOptions,
) -> Result<files::Stored, String> {
    let (st, id) = (a.st, &a.job.image_id);
    let Some(store) = &st.external else {
        let progress = |done, total| a.progress.bytes(done, total);
        let path = st.image_path(id);
        let stats = imgport_disk::convert::convert_to_path(disk, &path, opts, true, &progress)
            .map_err(|e| e.to_string())?;
        let stored = files::Stored::File { path, stats };
        // Stored images are private whatever the umask (issue 18 item 4); the rename
        // is durable only once the directory is.
        stored
            .make_durable()
            .inspect_err(|_| files::remove_image(st, id))?;
        return Ok(stored);
    };
    let key = store.image_key(id);
    // Content-addressed (issue 13 item 5): the same object version, already imported
    // and NORMAL, is copied on the store's side instead of converted again; the copy
    // is verified like a conversion. Imports of it racing each other both convert.
    if let Ok(Some((other, size, vsize))) = st.db.normal_image_from(&a.job.source_blob, id) {
        let bucket = &store.config().images_bucket;
        match store.copy(bucket, &store.image_key(&other), &key) {
            Ok(()) => {
                tracing::info!(from = %other, "same source as a NORMAL image: its qcow2 copied, not converted");
                files::abort_recorded_upload(st, id);
                let stats = ConvertStats {
                    virtual_size: vsize as u64,
                    output_size: size as u64,
                    ..ConvertStats::default()
                };
                return Ok(files::Stored::Object {
                    key,
                    stats,
                    copied_from: Some(other),
                });
            }
            Err(e) => {
                tracing::warn!(from = %other, "copying its qcow2 failed, converting instead: {e}")
            }
        }
    }
    // Resume the upload a crashed or stopped attempt recorded (its parts are kept);
    // if the store no longer has it, start afresh.
    if let Ok(Some(upload)) = st.db.output_upload(id) {
        let kept: Vec<KeptPart> = st
            .db
            .recorded_parts(&upload)
            .unwrap_or_default()
            .into_iter()
            .map(|(index, etag, md5, size)| KeptPart {
                index: index as usize,
                etag,
                md5,
                size: size as u64,
            })
            .collect();
        let sink = MultipartSink::resume(store, &key, &upload, kept, record_parts(st, &upload));
        match upload_converted(a, disk, opts, sink) {
            Ok(stats) => {
                return Ok(files::Stored::Object {
                    key,
                    stats,
                    copied_from: None,
                })
            }
            Err(e) if a.stop.interrupted().is_some() => return Err(e),
            Err(e) => {
                tracing::warn!(upload = %upload, "resuming the earlier attempt's upload failed, starting afresh: {e}");
                files::abort_recorded_upload(st, id);
            }
        }
    }
    let sink = MultipartSink::begin(store, &key, |upload| {
        if let Err(e) = st.db.set_output_upload(id, Some(upload)) {
            tracing::warn!("recording the upload id: {e}");
        }
    })
    .map_err(|e| e.to_string())?;
    let upload = sink.upload_id().to_string();
    let sink = sink.on_part(record_parts(st, &upload));
    let stats = upload_converted(a, disk, opts, sink)?;
    Ok(files::Stored::Object {
        key,
        stats,
        copied_from: None,
    })
}

/// Each part the store confirms is recorded for a later attempt to resume with.
fn record_parts(st: &crate::AppState, upload: &str) -> crate::objects::s3_upload::OnPart {
    let (db, upload) = (st.db.clone(), upload.to_string());
    Box::new(move |p: &KeptPart| {
        let part = (
            p.index as i64,
            p.etag.as_str(),
            p.md5.as_str(),
            p.size as i64,
        );
        if let Err(e) = db.record_part(&upload, part) {
            tracing::warn!("recording an uploaded part: {e}");
        }
    })
}

/// Convert into `sink` and complete the upload. On failure the upload is aborted —
/// unless the job was stopped (shutdown, lost lease): then whoever takes it over
/// resumes it.
fn upload_converted(
    a: &Attempt<'_>,
    disk: &dyn imgport_disk::VirtualDisk,
    opts: &ConvertOptions,
    sink: MultipartSink,
) -> Result<ConvertStats, String> {
    let (st, id) = (a.st, &a.job.image_id);
    let progress = |done, total| a.progress.bytes(done, total);
    let upload = sink.upload_id().to_string();
    let abort = |e: String| {
        if a.stop.interrupted().is_none() {
            files::abort_upload(st, id, &upload);
        }
        e
    };
    let (sink, stats) = imgport_disk::convert::convert(disk, sink, opts, &progress)
        .map_err(|e| abort(e.to_string()))?;
    if sink.reused_parts() > 0 {
        tracing::info!(upload = %upload, parts = sink.reused_parts(), "resumed the earlier attempt's upload: its parts were kept, not sent again");
    }
    sink.complete().map_err(|e| abort(e.to_string()))?;
    let _ = st.db.set_output_upload(id, None);
    let _ = st.db.forget_parts(&upload);
    Ok(stats)
}

/// The stored image opens as a qcow2 of `virtual_size` bytes, and all of its mapping
/// tables are valid (the disk core's metadata walk).
pub(super) fn verify_image(reader: Arc<dyn ReadAt>, virtual_size: u64) -> Result<(), String> {
    let d = imgport_disk::open(reader).map_err(|e| e.to_string())?;
    let info = d.info();
    if info.format.to_string() != "qcow2" {
        return Err(format!("it is {}, not qcow2", info.format));
    }
    if info.virtual_size != virtual_size {
        return Err(format!(
            "its virtual size is {} bytes, the source's {virtual_size}",
            info.virtual_size
        ));
    }
    imgport_disk::allocation(&*d).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgport_policy::Code;

    #[test]
    fn the_message_is_the_reported_codes_finding_with_its_fix() {
        let f = |sev, code, msg: &str| Finding {
            severity: sev,
            code,
            rule: imgport_policy::rules::RuleId::Virtio,
            message: msg.into(),
            evidence: vec![],
            fix: vec![format!("fix {msg}")],
            waived: false,
        };
        let findings = vec![
            f(Severity::Warning, None, "w"),
            f(Severity::Error, Some(Code::VirtioNotInstall), "virtio"),
            f(Severity::Error, Some(Code::CloudInitNotInstalled), "cloud"),
        ];
        assert_eq!(
            refusal_message(&findings, Some(Code::CloudInitNotInstalled)),
            "cloud Fix: fix cloud"
        );
        assert_eq!(refusal_message(&findings, None), "virtio Fix: fix virtio");
        assert_eq!(
            refusal_message(&[], None),
            "the image does not meet the import rules"
        );
    }
}
