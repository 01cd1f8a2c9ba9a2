//! `DescribeImportImageOs`: the supported OS list — the policy crate's rules table, the
//! one source of truth `imgport check` uses too (R-OS, R-ARCH).

use super::error::ApiError;
use super::Ctx;
use serde_json::Value;

pub fn run(_ctx: &Ctx<'_>, _p: &Value) -> Result<Value, ApiError> {
    serde_json::to_value(imgport_policy::describe_import_image_os()).map_err(ApiError::internal)
}
