//! `DescribeImportImageOs`: the OS types and versions ImportImage accepts (R-OS,
//! R-ARCH) — the policy crate's rules table, the one source of truth `imgport check`
//! uses too. Response: `ImportImageOsListSupported {Linux, Windows}` and
//! `ImportImageOsVersionSet [{OsName, OsVersions, Architecture}]`.

use super::error::ApiError;
use super::Ctx;
use serde_json::Value;

/// Parameters the action accepts.
pub const PARAMS: &[&str] = &[];

pub fn run(_ctx: &Ctx<'_>, _p: &Value) -> Result<Value, ApiError> {
    serde_json::to_value(imgport_policy::describe_import_image_os()).map_err(ApiError::internal)
}
