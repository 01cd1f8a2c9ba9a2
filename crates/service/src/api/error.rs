//! API errors: HTTP 200 with `{"Response":{"Error":{"Code","Message"},"RequestId"}}`,
//! as Tencent Cloud API 3.0 answers.

/// An API error code and message.
#[derive(Debug, Clone)]
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
    pub fn missing(param: &str) -> Self {
        Self::new(
            "MissingParameter",
            format!("The request is missing a required parameter `{param}`."),
        )
    }
    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            "InvalidParameterValue",
            format!("The value of parameter `{param}` is invalid: {why}"),
        )
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            "InternalError",
            "An internal error occurred; please retry later.",
        )
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(e)
    }
}
