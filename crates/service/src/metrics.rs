//! Prometheus metrics (`GET /metrics`): API calls by action, images by state, import
//! jobs by outcome, time per pipeline phase, bytes converted.

use crate::AppState;
use axum::extract::State;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct Counters {
    api_calls: BTreeMap<String, u64>,
    jobs: BTreeMap<String, u64>,
    phase_seconds: BTreeMap<String, f64>,
    bytes_converted: u64,
}

static COUNTERS: Mutex<Option<Counters>> = Mutex::new(None);

fn with(f: impl FnOnce(&mut Counters)) {
    let mut g = COUNTERS.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Counters::default));
}

/// Count one API call of `action` (unknown actions are counted as `other`).
pub fn api_call(action: &str) {
    let a = if action.len() <= 64 && action.bytes().all(|b| b.is_ascii_alphanumeric()) {
        action
    } else {
        "other"
    };
    with(|c| *c.api_calls.entry(a.to_string()).or_default() += 1);
}

/// Count a finished job (`normal`, or its error code).
pub fn job_finished(outcome: &str) {
    with(|c| *c.jobs.entry(outcome.to_string()).or_default() += 1);
}

/// Add time spent in a pipeline phase.
pub fn phase_time(phase: &str, secs: f64) {
    with(|c| *c.phase_seconds.entry(phase.to_string()).or_default() += secs);
}

pub fn bytes_converted(n: u64) {
    with(|c| c.bytes_converted += n);
}

pub async fn handler(State(st): State<AppState>) -> String {
    let mut out = String::new();
    out.push_str("# HELP imgport_images Images by state.\n# TYPE imgport_images gauge\n");
    if let Ok(counts) = st.db.image_state_counts() {
        for (state, n) in counts {
            out.push_str(&format!("imgport_images{{state=\"{state}\"}} {n}\n"));
        }
    }
    with(|c| {
        out.push_str("# HELP imgport_api_calls_total API calls by action.\n# TYPE imgport_api_calls_total counter\n");
        for (a, n) in &c.api_calls {
            out.push_str(&format!("imgport_api_calls_total{{action=\"{a}\"}} {n}\n"));
        }
        out.push_str("# HELP imgport_jobs_total Finished import jobs by outcome.\n# TYPE imgport_jobs_total counter\n");
        for (o, n) in &c.jobs {
            out.push_str(&format!("imgport_jobs_total{{outcome=\"{o}\"}} {n}\n"));
        }
        out.push_str("# HELP imgport_phase_seconds_total Time spent per import phase.\n# TYPE imgport_phase_seconds_total counter\n");
        for (p, s) in &c.phase_seconds {
            out.push_str(&format!(
                "imgport_phase_seconds_total{{phase=\"{p}\"}} {s:.3}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP imgport_converted_bytes_total Guest bytes converted to qcow2.\n# TYPE imgport_converted_bytes_total counter\nimgport_converted_bytes_total {}\n",
            c.bytes_converted
        ));
    });
    out
}
