//! API errors (R-ERR): HTTP 200 with `{"Response":{"Error":{"Code","Message"},
//! "RequestId"}}`, as Tencent Cloud API 3.0 answers, with the real common codes
//! (`AuthFailure.*`, `MissingParameter`, `InvalidParameter`, `InvalidParameterValue`,
//! `UnknownParameter`, `InvalidAction`, `NoSuchVersion`, `InvalidRegion`,
//! `RequestLimitExceeded`, `RequestSizeLimitExceeded`, `InternalError`) and the CVM
//! image codes (`InvalidImageId.*`, `InvalidUrl`, `InvalidImageOsType.Unsupported` …).

/// An API error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `MissingParameter`.
    pub fn missing(param: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request is missing a required parameter `{param}`."),
        )
    }

    /// `InvalidParameterValue`: the value of `param` is wrong.
    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidParameterValue",
            format!("The value of parameter `{param}` is invalid: {why}"),
        )
    }

    /// `InvalidParameter`: the parameter's type or shape is wrong.
    pub fn bad_type(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidParameter",
            format!("The parameter `{param}` is malformed: {why}"),
        )
    }

    /// `InternalError` (logged; the client sees no details).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            "InternalError",
            "An internal error occurred; please retry later.",
        )
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::internal(e)
    }
}
