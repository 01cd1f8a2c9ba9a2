//! API errors (R-ERR): HTTP 200 with `{"Response":{"Error":{"Code","Message"},
//! "RequestId"}}`, as Tencent Cloud API 3.0 answers, with the real common codes
//! (`AuthFailure.*`, `MissingParameter`, `InvalidParameter`, `InvalidParameterValue`,
//! `UnknownParameter`, `InvalidAction`, `NoSuchVersion`, `InvalidRegion`,
//! `RequestLimitExceeded`, `RequestSizeLimitExceeded`, `InternalError`) and the CVM
//! image codes (`InvalidImageId.*`, `InvalidUrl`, `InvalidImageOsType.Unsupported` …).

use imgport_policy::Code;

/// An API error code: the cloud's common and CVM image codes, and the import rules' own
/// (`InvalidUrl`, `InvalidImageOsType.Unsupported` …, through [`imgport_policy::Code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiCode {
    /// the request is not signed, or its Authorization is malformed.
    AuthFailureInvalidAuthorization,
    /// the signature does not match, or was used already.
    AuthFailureSignatureFailure,
    /// the signed time is outside the allowed skew.
    AuthFailureSignatureExpire,
    /// no account has this SecretId.
    AuthFailureSecretIdNotFound,
    /// a required parameter is absent or empty.
    MissingParameter,
    /// a parameter's type or shape is wrong.
    InvalidParameter,
    /// a parameter's value is wrong.
    InvalidParameterValue,
    /// a text parameter is too long.
    InvalidParameterValueTooLong,
    /// no such message-centre user.
    InvalidParameterValueUserNotFound,
    /// no such message.
    InvalidParameterValueMessageNotFound,
    /// a parameter the action does not know.
    UnknownParameter,
    /// no such action.
    InvalidAction,
    /// no such API version.
    NoSuchVersion,
    /// no such region.
    InvalidRegion,
    /// too many requests for this SecretId.
    RequestLimitExceeded,
    /// the body is too large (or too slow).
    RequestSizeLimitExceeded,
    /// not an image id.
    InvalidImageIdMalformed,
    /// no such image in the region.
    InvalidImageIdNotFound,
    /// the image is still importing.
    InvalidImageIdIncorrectState,
    /// the name is taken in the region.
    InvalidImageNameDuplicate,
    /// an unsupported filter.
    InvalidFilter,
    /// the account holds the most images it may.
    ImageQuotaLimitExceeded,
    /// An import rule's code (R-ERR), also `InvalidUrl` and `InternalError`.
    Policy(Code),
}

impl ApiCode {
    /// The code as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiCode::AuthFailureInvalidAuthorization => "AuthFailure.InvalidAuthorization",
            ApiCode::AuthFailureSignatureFailure => "AuthFailure.SignatureFailure",
            ApiCode::AuthFailureSignatureExpire => "AuthFailure.SignatureExpire",
            ApiCode::AuthFailureSecretIdNotFound => "AuthFailure.SecretIdNotFound",
            ApiCode::MissingParameter => "MissingParameter",
            ApiCode::InvalidParameter => "InvalidParameter",
            ApiCode::InvalidParameterValue => "InvalidParameterValue",
            ApiCode::InvalidParameterValueTooLong => "InvalidParameterValue.TooLong",
            ApiCode::InvalidParameterValueUserNotFound => "InvalidParameterValue.UserNotFound",
            ApiCode::InvalidParameterValueMessageNotFound => {
                "InvalidParameterValue.MessageNotFound"
            }
            ApiCode::UnknownParameter => "UnknownParameter",
            ApiCode::InvalidAction => "InvalidAction",
            ApiCode::NoSuchVersion => "NoSuchVersion",
            ApiCode::InvalidRegion => "InvalidRegion",
            ApiCode::RequestLimitExceeded => "RequestLimitExceeded",
            ApiCode::RequestSizeLimitExceeded => "RequestSizeLimitExceeded",
            ApiCode::InvalidImageIdMalformed => "InvalidImageId.Malformed",
            ApiCode::InvalidImageIdNotFound => "InvalidImageId.NotFound",
            ApiCode::InvalidImageIdIncorrectState => "InvalidImageId.IncorrectState",
            ApiCode::InvalidImageNameDuplicate => "InvalidImageName.Duplicate",
            ApiCode::InvalidFilter => "InvalidFilter",
            ApiCode::ImageQuotaLimitExceeded => "ImageQuotaLimitExceeded",
            ApiCode::Policy(c) => c.as_str(),
        }
    }
}

impl std::fmt::Display for ApiCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ApiCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<Code> for ApiCode {
    fn from(c: Code) -> Self {
        ApiCode::Policy(c)
    }
}

/// An API error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ApiCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: impl Into<ApiCode>, message: impl Into<String>) -> Self {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `MissingParameter`.
    pub fn missing(param: &str) -> Self {
        Self::new(
            ApiCode::MissingParameter,
            format!("The request is missing a required parameter `{param}`."),
        )
    }

    /// `InvalidParameterValue`: the value of `param` is wrong.
    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            ApiCode::InvalidParameterValue,
            format!("The value of parameter `{param}` is invalid: {why}"),
        )
    }

    /// `InvalidParameter`: the parameter's type or shape is wrong.
    pub fn bad_type(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            ApiCode::InvalidParameter,
            format!("The parameter `{param}` is malformed: {why}"),
        )
    }

    /// `InternalError` (logged; the client sees no details).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {e}");
        Self::new(
            Code::InternalError,
            "An internal error occurred; please retry later.",
        )
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::internal(e)
    }
}
