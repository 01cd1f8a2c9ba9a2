//! `DescribeImportImageOs`: the OS types and versions ImportImage accepts (R-OS,
//! R-ARCH) — the policy crate's rules table, the one source of truth `imgport check`
//! uses too. Response: `ImportImageOsListSupported {Linux, Windows}` and
//! `ImportImageOsVersionSet [{OsName, OsVersions, Architecture}]`.

use super::error::ApiError;
use super::request::Request;
use super::Ctx;
use serde::Deserialize;
use serde_json::Value;

/// The request: no parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeImportImageOs {}

impl Request for DescribeImportImageOs {
    fn run(self, _ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        serde_json::to_value(imgport_policy::describe_import_image_os()).map_err(ApiError::internal)
    }
}
