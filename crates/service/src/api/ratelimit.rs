//! `RequestLimitExceeded`: a token bucket per SecretId (the cloud API limits requests
//! per second per key). Bounded memory: at most [`MAX_KEYS`] keys are tracked; when
//! more appear, the table is reset (a reset only ever lets requests through).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Requests per second allowed per SecretId (bursts of the same size).
pub const RATE_PER_SEC: f64 = 50.0;
const MAX_KEYS: usize = 10_000;

static BUCKETS: Mutex<Option<HashMap<String, (f64, Instant)>>> = Mutex::new(None);

/// Take a token for `secret_id`; false when its bucket is empty.
pub fn allow(secret_id: &str) -> bool {
    allow_at(secret_id, Instant::now())
}

fn allow_at(secret_id: &str, now: Instant) -> bool {
    let mut g = BUCKETS.lock().unwrap_or_else(|e| e.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_KEYS && !map.contains_key(secret_id) {
        map.clear();
    }
    let key: String = secret_id.chars().take(128).collect();
    let (tokens, last) = map.entry(key).or_insert((RATE_PER_SEC, now));
    let elapsed = now.saturating_duration_since(*last).as_secs_f64();
    *tokens = (*tokens + elapsed * RATE_PER_SEC).min(RATE_PER_SEC);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_are_limited_and_tokens_refill() {
        let t = Instant::now();
        let key = "AKIDratelimittest";
        let allowed = (0..80).filter(|_| allow_at(key, t)).count();
        assert_eq!(allowed, RATE_PER_SEC as usize);
        assert!(!allow_at(key, t));
        assert!(allow_at(key, t + Duration::from_millis(100)));
        assert!(allow_at("AKIDanotherkey", t));
    }
}
