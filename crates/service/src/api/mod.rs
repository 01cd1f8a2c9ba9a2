//! The cloud API (Tencent Cloud API 3.0 style, CVM version 2017-03-12, R-FLOW-FORM,
//! R-FLOW-RESULT, R-ERR): `POST /` with a JSON body and the headers `X-TC-Action`,
//! `X-TC-Version`, `X-TC-Region`, `X-TC-Timestamp` and a TC3-HMAC-SHA256
//! `Authorization` ([`tc3`]). Responses are `{"Response":{…,"RequestId"}}`; errors are
//! HTTP 200 with `{"Response":{"Error":{"Code","Message"},"RequestId"}}` ([`error`]).
//!
//! A request is checked in this order: body size (`RequestSizeLimitExceeded`),
//! `Authorization` (`AuthFailure.InvalidAuthorization`), rate per SecretId
//! (`RequestLimitExceeded`), SecretId (`AuthFailure.SecretIdNotFound`), timestamp and
//! signature (`AuthFailure.SignatureExpire` / `SignatureFailure`), action
//! (`InvalidAction`), version (`NoSuchVersion`), region (`InvalidRegion`), body
//! (`InvalidParameter`), parameters (`UnknownParameter`), replay
//! (`AuthFailure.SignatureFailure`: a signature is used once, [`crate::replay`]), then
//! the action's own checks.
//! Every action sees only the calling account's resources.
//!
//! One file per action: [`import_image`], [`describe_import_image_os`],
//! [`describe_images`], [`delete_images`], [`modify_image_attribute`], and the message
//! centre's [`describe_messages`], [`read_message`], [`describe_subscription`],
//! [`modify_subscription`]. Also served here: `/healthz`, `/metrics`, `/openapi.json`.

pub mod delete_images;
pub mod describe_images;
pub mod describe_import_image_os;
pub mod describe_messages;
pub mod describe_subscription;
pub mod error;
pub mod import_image;
pub mod modify_image_attribute;
pub mod modify_subscription;
mod openapi;
pub mod params;
mod ratelimit;
pub mod read_message;
pub mod request;
pub mod tc3;

use crate::db::accounts::Account;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use error::ApiCode;
use error::ApiError;
use serde_json::{json, Value};
use std::time::Instant;

/// Largest request body accepted.
pub const MAX_BODY: usize = 1 << 20;
/// The API version implemented.
pub const VERSION: &str = "2017-03-12";
/// The service named in the credential scope.
pub const SERVICE: &str = "cvm";

/// Headers read once by both the signature check and the dispatch.
const SINGLE_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "host",
    "x-tc-action",
    "x-tc-region",
    "x-tc-timestamp",
    "x-tc-version",
];

/// What an action runs with.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub account: Account,
    /// `X-TC-Region` (empty for the message-centre actions when not sent).
    pub region: String,
    pub request_id: String,
}

/// An action: its name, whether it needs a region, and its typed request
/// ([`request::Request`], which parses and runs it).
struct Action {
    name: &'static str,
    regional: bool,
    /// Changes nothing: the same request may be sent again unchanged ([`crate::replay`]).
    read_only: bool,
    prepare: fn(&Value) -> Result<request::Prepared, ApiError>,
}

const ACTIONS: &[Action] = &[
    Action {
        name: "ImportImage",
        regional: true,
        read_only: false,
        prepare: request::prepare::<import_image::ImportImage>,
    },
    Action {
        name: "DescribeImportImageOs",
        regional: true,
        read_only: true,
        prepare: request::prepare::<describe_import_image_os::DescribeImportImageOs>,
    },
    Action {
        name: "DescribeImages",
        regional: true,
        read_only: true,
        prepare: request::prepare::<describe_images::DescribeImages>,
    },
    Action {
        name: "DeleteImages",
        regional: true,
        read_only: false,
        prepare: request::prepare::<delete_images::DeleteImages>,
    },
    Action {
        name: "ModifyImageAttribute",
        regional: true,
        read_only: false,
        prepare: request::prepare::<modify_image_attribute::ModifyImageAttribute>,
    },
    Action {
        name: "DescribeMessages",
        regional: false,
        read_only: true,
        prepare: request::prepare::<describe_messages::DescribeMessages>,
    },
    Action {
        name: "ReadMessage",
        regional: false,
        read_only: false,
        prepare: request::prepare::<read_message::ReadMessage>,
    },
    Action {
        name: "DescribeSubscription",
        regional: false,
        read_only: true,
        prepare: request::prepare::<describe_subscription::DescribeSubscription>,
    },
    Action {
        name: "ModifySubscription",
        regional: false,
        read_only: false,
        prepare: request::prepare::<modify_subscription::ModifySubscription>,
    },
];

/// The names of the actions (for the OpenAPI description and the walkthrough).
pub fn action_names() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.name).collect()
}

/// The API routes: `POST /` (signed actions), `GET /healthz`, `GET /metrics`,
/// `GET /openapi.json`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", post(handle))
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::handler))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .with_state(state)
}

/// `GET /healthz`: `ok` when the database answers.
async fn healthz(State(st): State<AppState>) -> Response {
    let ok = tokio::task::spawn_blocking(move || st.db.account_count().is_ok())
        .await
        .unwrap_or(false);
    if ok {
        "ok\n".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable\n",
        )
            .into_response()
    }
}

fn header(h: &HeaderMap, n: &str) -> Option<String> {
    h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// A request id in UUID (v4) form.
fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{:x}{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        8 | (b[8] & 3),
        &h[17..20],
        &h[20..32]
    )
}

fn reply(request_id: &str, result: &Result<Value, ApiError>) -> Response {
    let resp = match result {
        Ok(v) => {
            let mut v = v.clone();
            if !v.is_object() {
                v = json!({});
            }
            v["RequestId"] = json!(request_id);
            json!({ "Response": v })
        }
        Err(e) => {
            json!({"Response": {"Error": {"Code": e.code.as_str(), "Message": e.message}, "RequestId": request_id}})
        }
    };
    Json(resp).into_response()
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request_id = request_id();
    let action: String = header(&headers, "x-tc-action")
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    let span = tracing::info_span!("api", request_id = %request_id, action = %action);
    let known = ACTIONS.iter().any(|a| a.name == action);
    let result = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(e) => Err(match crate::net::body_rate::too_slow_in(&e) {
            // Sent below the minimum rate (issue 18 item 3): say so, not "too large".
            Some(slow) => ApiError::new(
                ApiCode::InvalidParameter,
                format!("The request body was not received: {slow}."),
            ),
            None => ApiError::new(
                ApiCode::RequestSizeLimitExceeded,
                format!("The request body is larger than {MAX_BODY} bytes."),
            ),
        }),
        Ok(body) => {
            let (rid, act, span2) = (request_id.clone(), action.clone(), span.clone());
            tokio::task::spawn_blocking(move || {
                let _g = span2.enter();
                run(&st, &method, &uri, &headers, &body, &act, &rid)
            })
            .await
            .unwrap_or_else(|e| Err(ApiError::internal(e)))
        }
    };
    let _g = span.enter();
    let code = match &result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    crate::metrics::api_request(&action, known, code);
    let ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok(_) => tracing::info!(ms, "ok"),
        Err(e) => tracing::info!(code = %e.code, ms, "refused: {}", e.message),
    }
    reply(&request_id, &result)
}

/// Authenticate the request, find the action and run it.
/// Who sent the request: the TC3-HMAC-SHA256 signature checked against the account's key
/// (and the SecretId's rate). Returns the account, the parsed Authorization and the
/// signed time.
fn authenticate(
    st: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Account, tc3::Authorization, i64), ApiError> {
    // Headers that must not be ambiguous: the signature check and the dispatch must
    // read the same value.
    for n in SINGLE_HEADERS {
        if headers.get_all(*n).iter().nth(1).is_some() {
            return Err(ApiError::new(
                ApiCode::AuthFailureInvalidAuthorization,
                format!("The request carries the header {n} more than once; send it once."),
            ));
        }
    }
    let auth = header(headers, "authorization").ok_or_else(|| {
        ApiError::new(
            ApiCode::AuthFailureInvalidAuthorization,
            "The request is not signed: the Authorization header is missing (TC3-HMAC-SHA256).",
        )
    })?;
    let a = tc3::parse(&auth)?;
    if !ratelimit::allow(&a.secret_id) {
        return Err(ApiError::new(
            ApiCode::RequestLimitExceeded,
            format!(
                "The request rate exceeds {} requests per second for this SecretId; retry later.",
                ratelimit::RATE_PER_SEC
            ),
        ));
    }
    let account = st.db.account_by_secret_id(&a.secret_id)?.ok_or_else(|| {
        ApiError::new(
            ApiCode::AuthFailureSecretIdNotFound,
            "The SecretId is not found, please ensure that your SecretId is correct.",
        )
    })?;
    let ts =
        header(headers, "x-tc-timestamp").ok_or_else(|| ApiError::missing("X-TC-Timestamp"))?;
    let ts: i64 = ts
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid("X-TC-Timestamp", "must be a Unix time in seconds"))?;
    let signed: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
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
        SERVICE,
        ts,
        crate::db::now(),
        st.config.max_clock_skew_secs,
    )?;
    Ok((account, a, ts))
}

/// The action, API version and region the request addresses.
fn target(
    st: &AppState,
    headers: &HeaderMap,
    action: &str,
) -> Result<(&'static Action, String), ApiError> {
    if action.is_empty() {
        return Err(ApiError::missing("X-TC-Action"));
    }
    let act = ACTIONS.iter().find(|x| x.name == action).ok_or_else(|| {
        ApiError::new(
            ApiCode::InvalidAction,
            format!("The action `{action}` does not exist."),
        )
    })?;
    match header(headers, "x-tc-version") {
        None => return Err(ApiError::missing("X-TC-Version")),
        Some(v) if v != VERSION => {
            let v = imgport_policy::text::clip(v, 32);
            return Err(ApiError::new(
                ApiCode::NoSuchVersion,
                format!("The API version `{v}` does not exist; this service implements {VERSION}."),
            ));
        }
        Some(_) => {}
    }
    let region = header(headers, "x-tc-region").unwrap_or_default();
    if region.is_empty() && act.regional {
        return Err(ApiError::missing("X-TC-Region"));
    }
    if !region.is_empty() && !st.config.regions.contains(&region) {
        let r = imgport_policy::text::clip(region, 64);
        return Err(ApiError::new(
            ApiCode::InvalidRegion,
            format!(
                "The region `{r}` does not exist; regions: {}.",
                st.config.regions.join(", ")
            ),
        ));
    }
    Ok((act, region))
}

/// The request body: a JSON object (empty: no parameters).
fn parameters(body: &[u8]) -> Result<Value, ApiError> {
    let params: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new(
                ApiCode::InvalidParameter,
                format!("The request body is not valid JSON: {e}"),
            )
        })?
    };
    if !params.is_object() {
        return Err(ApiError::new(
            ApiCode::InvalidParameter,
            "The request body must be a JSON object.",
        ));
    }
    Ok(params)
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
    let (account, a, ts) = authenticate(st, method, uri, headers, body)?;
    tracing::info!(app_id = account.app_id, "authenticated");
    let (act, region) = target(st, headers, action)?;
    let params = parameters(body)?;
    // Parsed before the signature is used up: a malformed request changes nothing.
    let prepared = (act.prepare)(&params)?;
    // The signature may not cover the action and region (the SDKs sign only
    // content-type;host): it authenticates one request that changes something; read-only
    // ones (and a DryRun) may reuse it, but a signature they used changes nothing later.
    let dry_run = params.get("DryRun") == Some(&Value::Bool(true));
    let read_only = act.read_only || dry_run;
    let expires_at = ts.saturating_add(st.config.max_clock_skew_secs.max(0));
    let first = crate::replay::first_use(
        &st.db,
        &crate::replay::tc3_key(&a.signature),
        expires_at,
        read_only.then_some(crate::replay::READ_ONLY),
    )?;
    if !first && !read_only {
        tracing::warn!(app_id = account.app_id, "replayed signature refused");
        return Err(ApiError::new(
            ApiCode::AuthFailureSignatureFailure,
            "This signature was already used by an earlier request: the request was sent again (a replay), possibly as another action or region. A signature authenticates one request that changes something; sign each request anew with the current time (the SDKs do).",
        ));
    }
    let ctx = Ctx {
        state: st,
        account,
        region,
        request_id: request_id.to_string(),
    };
    prepared(&ctx)
}

/// The message-centre user a request is about: `UserName`, else the account's owner
/// user (named like the account). Returns (user id, name).
pub fn message_user(ctx: &Ctx<'_>, user_name: Option<&str>) -> Result<(i64, String), ApiError> {
    let name = user_name.unwrap_or(&ctx.account.name).to_string();
    let id = ctx
        .state
        .db
        .user_id(ctx.account.app_id, &name)?
        .ok_or_else(|| {
            let n = imgport_policy::text::clip(&name, 64);
            ApiError::new(
                ApiCode::InvalidParameterValueUserNotFound,
                format!(
                    "The user `{n}` does not exist in this account (imgport account add-user)."
                ),
            )
        })?;
    Ok((id, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuids() {
        let id = request_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(request_id(), id);
    }

    #[test]
    fn iso_times() {}
}
