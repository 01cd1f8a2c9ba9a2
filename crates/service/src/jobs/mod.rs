//! The durable import pipeline (DESIGN.md): lease a job → validate the object → check
//! (format, size, inspection, policy: the same engine and verdict as `imgport check`)
//! → convert to qcow2 into the image store (atomic: an unnamed temporary file linked
//! into place only when complete) → register NORMAL → notify subscribed users.
//!
//! Jobs are image rows with leases renewed as work progresses; a worker (or server)
//! that dies leaves a job another worker takes once the lease expires, restarting it
//! from the beginning — never stuck IMPORTING, never NORMAL without a complete qcow2.
//! After [`MAX_ATTEMPTS`] takes a job fails with `InternalError`.

use crate::db::images::Image;
use crate::AppState;
use imgport_disk::convert::{ConvertOptions, OutputFormat};
use imgport_policy::{ImportForm, Severity};
use std::time::{Duration, Instant};

/// Takes of one job before it is failed (a job whose workers keep dying).
pub const MAX_ATTEMPTS: i64 = 3;

/// Start `n` worker threads.
pub fn start(state: &AppState, n: usize) {
    for i in 0..n.max(1) {
        let st = state.clone();
        let owner = format!("{}-w{i}-{}", std::process::id(), crate::db::random_id(6));
        std::thread::Builder::new()
            .name(format!("import-worker-{i}"))
            .spawn(move || worker(st, owner))
            .expect("spawn worker thread");
    }
}

fn worker(st: AppState, owner: String) {
    let lease = st.config.job_lease_secs as i64;
    loop {
        match st.db.lease_job(&owner, lease, MAX_ATTEMPTS) {
            Ok(Some(job)) => {
                let span =
                    tracing::info_span!("job", image_id = %job.image_id, attempt = job.attempts);
                let _g = span.enter();
                run_job(&st, &owner, job);
            }
            Ok(None) => st.wait_for_work(Duration::from_millis(1000)),
            Err(e) => {
                tracing::error!("leasing a job: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// How a job ended.
struct Failure {
    code: String,
    message: String,
    findings: String,
}

fn fail(code: &str, message: impl Into<String>) -> Failure {
    Failure {
        code: code.into(),
        message: message.into(),
        findings: "[]".into(),
    }
}

fn run_job(st: &AppState, owner: &str, job: Image) {
    let started = Instant::now();
    let path = st.image_path(&job.image_id);
    let result = pipeline(st, owner, &job, &path);
    let (ok, size, code, message, findings) = match &result {
        Ok((size, findings)) => (true, *size as i64, None, None, findings.clone()),
        Err(f) => (
            false,
            0,
            Some(f.code.as_str()),
            Some(f.message.as_str()),
            f.findings.clone(),
        ),
    };
    match st
        .db
        .finish_job(&job.image_id, owner, ok, size, code, message, &findings)
    {
        Ok(true) => {
            crate::metrics::job_finished(code.unwrap_or("normal"));
            tracing::info!(
                ok,
                code = code.unwrap_or("-"),
                secs = started.elapsed().as_secs_f64(),
                "import finished"
            );
            notify(st, &job, ok, code, message);
        }
        Ok(false) => {
            // The lease was lost (another worker took the job): our output is not the image.
            tracing::warn!("lease lost; discarding this attempt");
            if ok {
                let _ = std::fs::remove_file(&path);
            }
        }
        Err(e) => tracing::error!("recording the job's end: {e}"),
    }
}

/// Returns (stored size, findings JSON).
fn pipeline(
    st: &AppState,
    owner: &str,
    job: &Image,
    path: &std::path::Path,
) -> Result<(u64, String), Failure> {
    let lease = st.config.job_lease_secs as i64;
    let beat = |phase: &str, pct: i64, bytes: i64| {
        let _ = st
            .db
            .job_progress(&job.image_id, owner, lease, phase, pct, bytes);
    };
    // A previous attempt may have died after linking the file but before recording it.
    let _ = std::fs::remove_file(path);
    let t = Instant::now();
    beat("validate", 2, 0);
    let reader = st.objects.open(&job.source_blob).map_err(|_| {
        fail("InvalidUrl", "InvalidUrl: the object behind ImageUrl no longer exists (deleted before the import read it)")
    })?;
    crate::metrics::phase_time("validate", t.elapsed().as_secs_f64());
    let t = Instant::now();
    beat("check", 5, 0);
    let form = ImportForm {
        os_type: Some(job.os_type.clone()),
        os_version: Some(job.os_version.clone()),
        architecture: Some(job.architecture.clone()),
        force: job.force,
        region: Some(job.region.clone()),
        source_region: None,
    };
    let report = imgport_check::check_with_progress(reader.clone(), &form, &mut |p| {
        let (name, pct) = match p {
            imgport_check::Phase::Format => ("format", 6),
            imgport_check::Phase::Measure => ("measure", 8),
            imgport_check::Phase::Inspect => ("inspect", 10),
            imgport_check::Phase::Policy => ("policy", 15),
        };
        beat(name, pct, 0);
    })
    .map_err(|e| fail("InternalError", format!("the image could not be read: {e}")))?;
    crate::metrics::phase_time("check", t.elapsed().as_secs_f64());
    let findings = serde_json::to_string(&report.verdict.findings).unwrap_or_else(|_| "[]".into());
    if !report.verdict.importable {
        let first = report.verdict.first_code();
        let f = report
            .verdict
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error && f.code == first)
            .or_else(|| report.verdict.errors().next());
        let message = f
            .map(|f| {
                let fix = f
                    .fix
                    .first()
                    .map(|x| format!(" Fix: {x}"))
                    .unwrap_or_default();
                format!("{}{fix}", f.message)
            })
            .unwrap_or_else(|| "the image does not meet the import rules".into());
        return Err(Failure {
            code: first
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|| "InternalError".into()),
            message,
            findings,
        });
    }
    let t = Instant::now();
    beat("convert", 20, 0);
    let disk = imgport_disk::open(reader).map_err(|e| fail("InvalidFormatSize", e.to_string()))?;
    let total = disk.info().virtual_size.max(1);
    let last = std::sync::Mutex::new(Instant::now());
    let progress = |done: u64, _all: u64| {
        let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
        if l.elapsed() >= Duration::from_millis(500) {
            *l = Instant::now();
            beat(
                "convert",
                20 + (done as f64 / total as f64 * 75.0) as i64,
                done as i64,
            );
        }
    };
    let opts = ConvertOptions {
        format: OutputFormat::Qcow2,
        sync: true,
        threads: 1,
        ..ConvertOptions::default()
    };
    let stats = imgport_disk::convert::convert_to_path(&*disk, path, &opts, true, &progress)
        .map_err(|e| fail("InternalError", format!("conversion to qcow2 failed: {e}")))?;
    crate::metrics::phase_time("convert", t.elapsed().as_secs_f64());
    crate::metrics::bytes_converted(stats.virtual_size);
    beat("register", 98, stats.virtual_size as i64);
    Ok((stats.output_size, findings))
}

/// Message centre (R-FLOW-ASYNC): a message to each subscribed user of the account.
fn notify(st: &AppState, job: &Image, ok: bool, code: Option<&str>, message: Option<&str>) {
    let (title, body) = if ok {
        (
            format!("Image import succeeded: {}", job.name),
            format!(
                "Your custom image {} ({}) was imported from {} and is ready (state NORMAL).",
                job.name, job.image_id, job.source_url
            ),
        )
    } else {
        let code = code.unwrap_or("InternalError");
        (
            format!("Image import failed: {} ({code})", job.name),
            format!(
                "The import of custom image {} ({}) failed with error code {code}. Cause: {}",
                job.name,
                job.image_id,
                message.unwrap_or("unknown")
            ),
        )
    };
    match st.db.notify(job.app_id, &job.image_id, &title, &body, code) {
        Ok(recipients) => {
            for (user, hook) in recipients {
                if let Some(h) = hook {
                    let payload = serde_json::json!({"UserId": user, "ImageId": job.image_id, "Title": title, "Content": body, "ErrorCode": code});
                    post_webhook(&h, &payload.to_string());
                }
            }
        }
        Err(e) => tracing::error!("sending messages: {e}"),
    }
}

/// POST `body` to a loopback webhook (validated at subscription): plain HTTP/1.1 over
/// TCP with short timeouts, no redirects followed.
fn post_webhook(url: &str, body: &str) {
    let Ok(u) = url::Url::parse(url) else { return };
    let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
        return;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = match (host, port) {
        ("localhost", p) => std::net::SocketAddr::from(([127, 0, 0, 1], p)),
        (h, p) => match h.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => std::net::SocketAddr::new(ip, p),
            _ => return,
        },
    };
    let send = || -> std::io::Result<()> {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_write_timeout(Some(Duration::from_secs(2)))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(
            s,
            "POST {} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            u.path(),
            body.len()
        )?;
        let mut buf = [0u8; 64];
        let _ = std::io::Read::read(&mut s, &mut buf);
        Ok(())
    };
    if let Err(e) = send() {
        tracing::warn!("webhook {url}: {e}");
    }
}
