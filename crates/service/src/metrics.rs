//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4): images by state,
//! importing jobs by phase, API requests by action and result, finished jobs by
//! outcome, job and phase durations (histograms), bytes read / converted / stored,
//! webhook deliveries. Counters live in this process; gauges are read from the
//! database at scrape time (so several servers on one database agree).

use crate::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Histogram buckets (seconds) for job and phase durations.
const BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, label: &str, value: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{label}=\"{value}\",le=\"{b}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{value}\",le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{value}\"}} {:.6}", self.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{value}\"}} {}", self.count);
    }
}

#[derive(Default)]
struct Counters {
    api: BTreeMap<(String, String), u64>,
    jobs: BTreeMap<String, u64>,
    job_seconds: BTreeMap<String, Histogram>,
    phase_seconds: BTreeMap<String, Histogram>,
    bytes_read: u64,
    bytes_converted: u64,
    bytes_stored: u64,
    webhooks: BTreeMap<&'static str, u64>,
    retakes: u64,
}

static COUNTERS: Mutex<Option<Counters>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Counters) -> R) -> R {
    let mut g = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Counters::default))
}

/// A label value made safe: at most 64 characters of `[A-Za-z0-9._-]`, else `other`.
fn label(v: &str) -> String {
    if !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        v.to_string()
    } else {
        "other".to_string()
    }
}

/// Count one API request of `action` answered with `code` (`ok` on success). Only
/// known actions get their own label (a client cannot grow the label set).
pub fn api_request(action: &str, known: bool, code: &str) {
    let a = if known { label(action) } else { "other".into() };
    let c = label(code);
    with(|m| *m.api.entry((a, c)).or_default() += 1);
}

/// Count a finished job: `normal`, or its error code; and its duration.
pub fn job_finished(outcome: &str, secs: f64) {
    let o = label(outcome);
    let kind = if outcome == "normal" {
        "normal"
    } else {
        "failed"
    };
    with(|m| {
        *m.jobs.entry(o).or_default() += 1;
        m.job_seconds
            .entry(kind.to_string())
            .or_default()
            .observe(secs);
    });
}

/// Time spent in one pipeline phase.
pub fn phase_time(phase: &str, secs: f64) {
    let p = label(phase);
    with(|m| m.phase_seconds.entry(p).or_default().observe(secs));
}

/// Bytes read from stored objects by jobs (check and conversion).
pub fn bytes_read(n: u64) {
    with(|m| m.bytes_read += n);
}

/// Guest bytes converted to qcow2, and the size of the stored file.
pub fn converted(guest_bytes: u64, stored_bytes: u64) {
    with(|m| {
        m.bytes_converted += guest_bytes;
        m.bytes_stored += stored_bytes;
    });
}

/// A webhook delivery attempt.
pub fn webhook(ok: bool) {
    with(|m| {
        *m.webhooks
            .entry(if ok { "ok" } else { "error" })
            .or_default() += 1
    });
}

/// A job taken again after its lease expired.
pub fn retake() {
    with(|m| m.retakes += 1);
}

/// The exposition text.
pub fn render(st: &AppState) -> String {
    let mut out = String::new();
    out.push_str("# HELP imgport_images Images by state.\n# TYPE imgport_images gauge\n");
    let counts = st.db.image_state_counts().unwrap_or_default();
    for state in ["IMPORTING", "NORMAL", "IMPORTFAILED"] {
        let n = counts
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let _ = writeln!(out, "imgport_images{{state=\"{state}\"}} {n}");
    }
    out.push_str(
        "# HELP imgport_jobs_importing Import jobs in progress by phase.\n# TYPE imgport_jobs_importing gauge\n",
    );
    if let Ok(v) = st.db.importing_phase_counts() {
        for (phase, n) in v {
            let _ = writeln!(
                out,
                "imgport_jobs_importing{{phase=\"{}\"}} {n}",
                label(&phase)
            );
        }
    }
    out.push_str(
        "# HELP imgport_webhook_deliveries Webhook deliveries by state.\n# TYPE imgport_webhook_deliveries gauge\n",
    );
    if let Ok(v) = st.db.delivery_state_counts() {
        for (s, n) in v {
            let _ = writeln!(
                out,
                "imgport_webhook_deliveries{{state=\"{}\"}} {n}",
                label(&s)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP imgport_workers Import workers of this server.\n# TYPE imgport_workers gauge\nimgport_workers {}",
        st.config.workers.max(1)
    );
    with(|m| {
        out.push_str("# HELP imgport_api_requests_total API requests by action and result code.\n# TYPE imgport_api_requests_total counter\n");
        for ((a, c), n) in &m.api {
            let _ = writeln!(
                out,
                "imgport_api_requests_total{{action=\"{a}\",code=\"{c}\"}} {n}"
            );
        }
        out.push_str("# HELP imgport_jobs_total Finished import jobs by outcome (normal or the error code).\n# TYPE imgport_jobs_total counter\n");
        for (o, n) in &m.jobs {
            let _ = writeln!(out, "imgport_jobs_total{{outcome=\"{o}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP imgport_job_retakes_total Jobs taken again after a lease expired.\n# TYPE imgport_job_retakes_total counter\nimgport_job_retakes_total {}",
            m.retakes
        );
        out.push_str("# HELP imgport_job_duration_seconds Import job duration, submission to end.\n# TYPE imgport_job_duration_seconds histogram\n");
        for (k, h) in &m.job_seconds {
            h.render(&mut out, "imgport_job_duration_seconds", "outcome", k);
        }
        out.push_str("# HELP imgport_phase_duration_seconds Time per import pipeline phase.\n# TYPE imgport_phase_duration_seconds histogram\n");
        for (p, h) in &m.phase_seconds {
            h.render(&mut out, "imgport_phase_duration_seconds", "phase", p);
        }
        let _ = writeln!(
            out,
            "# HELP imgport_read_bytes_total Bytes import jobs read from stored objects.\n# TYPE imgport_read_bytes_total counter\nimgport_read_bytes_total {}",
            m.bytes_read
        );
        let _ = writeln!(
            out,
            "# HELP imgport_converted_bytes_total Guest bytes converted to qcow2.\n# TYPE imgport_converted_bytes_total counter\nimgport_converted_bytes_total {}",
            m.bytes_converted
        );
        let _ = writeln!(
            out,
            "# HELP imgport_stored_bytes_total Bytes of qcow2 images stored.\n# TYPE imgport_stored_bytes_total counter\nimgport_stored_bytes_total {}",
            m.bytes_stored
        );
        out.push_str("# HELP imgport_webhook_attempts_total Webhook POSTs by result.\n# TYPE imgport_webhook_attempts_total counter\n");
        for (r, n) in &m.webhooks {
            let _ = writeln!(out, "imgport_webhook_attempts_total{{result=\"{r}\"}} {n}");
        }
    });
    out
}

/// `GET /metrics`.
pub async fn handler(State(st): State<AppState>) -> impl IntoResponse {
    let body = tokio::task::spawn_blocking(move || render(&st))
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cannot_be_injected() {
        assert_eq!(label("DescribeImages"), "DescribeImages");
        assert_eq!(
            label("InvalidImageOsType.Unsupported"),
            "InvalidImageOsType.Unsupported"
        );
        assert_eq!(label("a\"}\nevil 1"), "other");
        assert_eq!(label(&"a".repeat(65)), "other");
        assert_eq!(label(""), "other");
    }

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.2);
        h.observe(7.0);
        let mut s = String::new();
        h.render(&mut s, "x", "phase", "convert");
        assert!(s.contains("x_bucket{phase=\"convert\",le=\"0.25\"} 1\n"));
        assert!(s.contains("x_bucket{phase=\"convert\",le=\"10\"} 2\n"));
        assert!(s.contains("x_bucket{phase=\"convert\",le=\"+Inf\"} 2\n"));
        assert!(s.contains("x_count{phase=\"convert\"} 2\n"));
    }
}
