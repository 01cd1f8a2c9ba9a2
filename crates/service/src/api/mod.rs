//! The cloud API (Tencent Cloud API 3.0 style, CVM version 2017-03-12): `POST /` with
//! a JSON body, `X-TC-Action`, `X-TC-Version`, `X-TC-Region`, `X-TC-Timestamp` and a
//! TC3-HMAC-SHA256 `Authorization`. Responses `{"Response":{…,"RequestId"}}`; errors
//! are HTTP 200 with `{"Response":{"Error":{"Code","Message"},"RequestId"}}`.
//! One file per action; [`messages`] holds the message-centre actions.

mod delete_images;
mod describe_images;
mod describe_import_image_os;
pub mod error;
mod import_image;
mod messages;
mod modify_image_attribute;
pub mod tc3;

use crate::db::accounts::Account;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiError;
use serde_json::{json, Value};

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;
/// The API version we implement.
pub const VERSION: &str = "2017-03-12";

/// What an action runs with.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub account: Account,
    pub region: String,
    pub request_id: String,
}

/// The API routes: `POST /` (signed actions), `/healthz`, `/metrics`, `/openapi.json`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(handle))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(crate::metrics::handler))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .with_state(state)
}

fn header(h: &HeaderMap, n: &str) -> Option<String> {
    h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid_like();
    let action = header(&headers, "x-tc-action").unwrap_or_default();
    let span = tracing::info_span!("api", request_id = %request_id, action = %action);
    let _g = span.enter();
    let st2 = st.clone();
    let rid = request_id.clone();
    let result = tokio::task::spawn_blocking(move || {
        run(&st2, &method, &uri, &headers, &body, &action, &rid)
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(e)));
    let resp = match result {
        Ok(mut v) => {
            v["RequestId"] = json!(request_id);
            json!({ "Response": v })
        }
        Err(e) => {
            tracing::info!(code = %e.code, "api error: {}", e.message);
            json!({"Response": {"Error": {"Code": e.code, "Message": e.message}, "RequestId": request_id}})
        }
    };
    Json(resp).into_response()
}

fn run(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    action: &str,
    request_id: &str,
) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new("InvalidParameter", "request body too large"));
    }
    let auth = header(headers, "authorization").ok_or_else(|| {
        ApiError::new(
            "AuthFailure.SignatureFailure",
            "The request is not signed (no Authorization header)",
        )
    })?;
    let a = tc3::parse(&auth)?;
    if !rate_ok(&a.secret_id) {
        return Err(ApiError::new(
            "RequestLimitExceeded",
            format!("The request frequency exceeds the limit of {RATE_PER_SEC} requests per second for this SecretId; retry later."),
        ));
    }
    let account = st.db.account_by_secret_id(&a.secret_id)?.ok_or_else(|| {
        ApiError::new(
            "AuthFailure.SecretIdNotFound",
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )
    })?;
    let ts: i64 = header(headers, "x-tc-timestamp")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::missing("X-TC-Timestamp"))?;
    let signed: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    tc3::verify(
        &account.secret_key,
        &a,
        &tc3::Signed {
            method: method.as_str(),
            query: uri.query().unwrap_or(""),
            headers: &signed,
            body,
        },
        ts,
        crate::db::now(),
        st.config.max_clock_skew_secs,
    )?;
    if action.is_empty() {
        return Err(ApiError::missing("X-TC-Action"));
    }
    let version = header(headers, "x-tc-version").unwrap_or_default();
    if version != VERSION {
        return Err(ApiError::new(
            "InvalidParameterValue",
            format!("X-TC-Version must be {VERSION}, got `{version}`"),
        ));
    }
    let region = header(headers, "x-tc-region").unwrap_or_default();
    let needs_region = !matches!(
        action,
        "DescribeMessages" | "ReadMessage" | "DescribeSubscription" | "ModifySubscription"
    );
    if needs_region && !st.config.regions.contains(&region) {
        return Err(ApiError::new(
            "InvalidRegion",
            format!(
                "The region `{region}` does not exist; known: {}",
                st.config.regions.join(", ")
            ),
        ));
    }
    let params: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::new("InvalidParameter", format!("the body is not JSON: {e}")))?
    };
    if !params.is_object() {
        return Err(ApiError::new(
            "InvalidParameter",
            "the body must be a JSON object",
        ));
    }
    let ctx = Ctx {
        state: st,
        account,
        region,
        request_id: request_id.to_string(),
    };
    crate::metrics::api_call(action);
    match action {
        "ImportImage" => import_image::run(&ctx, &params),
        "DescribeImportImageOs" => describe_import_image_os::run(&ctx, &params),
        "DescribeImages" => describe_images::run(&ctx, &params),
        "DeleteImages" => delete_images::run(&ctx, &params),
        "ModifyImageAttribute" => modify_image_attribute::run(&ctx, &params),
        "DescribeMessages" => messages::describe_messages(&ctx, &params),
        "ReadMessage" => messages::read_message(&ctx, &params),
        "DescribeSubscription" => messages::describe_subscription(&ctx, &params),
        "ModifySubscription" => messages::modify_subscription(&ctx, &params),
        _ => Err(ApiError::new(
            "InvalidAction",
            format!("The action `{action}` does not exist."),
        )),
    }
}

/// Requests per second allowed per SecretId (token bucket; bursts of the same size).
pub const RATE_PER_SEC: f64 = 50.0;

/// Token bucket per SecretId (`RequestLimitExceeded` when empty). Bounded: at most
/// 10 000 keys are tracked; the oldest are forgotten.
fn rate_ok(secret_id: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Instant;
    static BUCKETS: Mutex<Option<HashMap<String, (f64, Instant)>>> = Mutex::new(None);
    let mut g = BUCKETS.lock().unwrap_or_else(|e| e.into_inner());
    let map = g.get_or_insert_with(HashMap::new);
    if map.len() > 10_000 {
        map.clear();
    }
    let now = Instant::now();
    let key: String = secret_id.chars().take(128).collect();
    let (tokens, last) = map.entry(key).or_insert((RATE_PER_SEC, now));
    *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * RATE_PER_SEC).min(RATE_PER_SEC);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

/// A random request id in UUID layout.
fn uuid_like() -> String {
    let r = crate::db::random_id(32);
    format!(
        "{}-{}-{}-{}-{}",
        &r[..8],
        &r[8..12],
        &r[12..16],
        &r[16..20],
        &r[20..]
    )
}

/// String parameter `name` of `p`.
pub fn str_param<'a>(p: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::invalid(name, "must be a string")),
    }
}

/// Required string parameter.
pub fn req_str<'a>(p: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    str_param(p, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing(name))
}

/// Boolean parameter (JSON bool; `"true"` strings accepted as tccli may send them).
pub fn bool_param(p: &Value, name: &str) -> Result<bool, ApiError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::invalid(name, "must be a boolean")),
    }
}

/// Integer parameter with bounds.
pub fn int_param(p: &Value, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    let v = match p.get(name) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        Some(_) => None,
    }
    .ok_or_else(|| ApiError::invalid(name, "must be an integer"))?;
    if v < min || v > max {
        return Err(ApiError::invalid(
            name,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(v)
}

/// String-array parameter.
pub fn str_list(p: &Value, name: &str, max: usize) -> Result<Vec<String>, ApiError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) if a.len() <= max => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::invalid(name, "must be a list of strings"))
            })
            .collect(),
        Some(Value::Array(_)) => Err(ApiError::invalid(name, format!("at most {max} values"))),
        Some(_) => Err(ApiError::invalid(name, "must be a list of strings")),
    }
}

/// The OpenAPI description of the non-Tencent endpoints.
fn openapi() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "imgport service endpoints", "version": env!("CARGO_PKG_VERSION")},
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics: API calls by action, images by state, jobs by outcome and phase durations", "responses": {"200": {"description": "text/plain exposition format"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3"}}}},
            "/": {"post": {"summary": "Tencent Cloud API 3.0 actions (X-TC-Action; TC3-HMAC-SHA256): ImportImage, DescribeImportImageOs, DescribeImages, DeleteImages, ModifyImageAttribute, DescribeMessages, ReadMessage, DescribeSubscription, ModifySubscription", "responses": {"200": {"description": "{\"Response\": {...}}"}}}}
        }
    })
}
