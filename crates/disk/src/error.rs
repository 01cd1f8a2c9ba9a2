//! The disk core's one error type.
//!
//! Every variant says what was found and where. [`Error::code`] maps an error to the
//! import service's error code (R-ERR): anything wrong with the image file itself is
//! `InvalidFormatSize`; I/O failures of our own sources are `InternalError`.

use std::fmt;

/// Result alias for the disk core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an image could not be read or was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The underlying source failed (local file, HTTP).
    #[error("I/O error on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A local path names something that is neither a regular file nor a block device
    /// (a FIFO, socket, character device or directory): refused at open, before any
    /// read could wait forever on it.
    #[error(
        "{what} is a {kind}, not a disk image file: name a regular image file or a block device"
    )]
    NotAFile { what: String, kind: &'static str },
    /// A read asked for bytes beyond the end of a source.
    #[error("read of {len} bytes at offset {offset} is past the end of {what} ({size} bytes)")]
    OutOfBounds {
        what: String,
        offset: u64,
        len: u64,
        size: u64,
    },
    /// A structure of a supported format is damaged or truncated.
    #[error("{format}: corrupt {structure} at offset {offset}: {detail}")]
    Corrupt {
        format: &'static str,
        structure: &'static str,
        offset: u64,
        detail: String,
    },
    /// A supported format uses a feature we refuse or do not implement
    /// (encryption, extended L2, unknown incompatible feature bits …).
    #[error("{format}: unsupported feature: {detail}")]
    Unsupported {
        format: &'static str,
        detail: String,
    },
    /// The image asks us to open another file or URL (backing file, external data
    /// file, VMDK extent in another file). Never followed.
    #[error("{format}: refused for safety: {detail}")]
    Unsafe {
        format: &'static str,
        detail: String,
    },
    /// The file is a recognised format that cannot be imported (R-FMT).
    #[error("{detected} is not an importable image format (R-FMT: only raw, qcow2, vhd and vmdk): {detail}")]
    UnsupportedFormat { detected: String, detail: String },
    /// The file matches more than one format; guessing would be a security hole
    /// (CVE-2024-32498, CVE-2024-40767).
    #[error("the file matches several formats ({}); refusing to guess which one it is — rebuild the image with `qemu-img convert -O qcow2`", .formats.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("; "))]
    Ambiguous { formats: Vec<(String, String)> },
    /// A size, count or allocation limit was exceeded.
    #[error("{what} is {value}, over the limit of {limit}")]
    Limit {
        what: String,
        value: u64,
        limit: u64,
    },
    /// The conversion itself failed (bad options, or its output did not read back as
    /// written): our fault, not the image's.
    #[error("conversion: {detail}")]
    Convert { detail: String },
    /// A remote source misbehaved (no Range support, wrong Content-Range, redirect …).
    #[error("remote source {url}: {detail}")]
    Remote { url: String, detail: String },
    /// A remote source answered with an HTTP error status (403, 404, 410, 412, 5xx …).
    /// The status is kept so that the service can map 401/403/404/410 to `InvalidUrl`.
    #[error("remote source {url}: HTTP {status}: {detail}")]
    RemoteStatus {
        url: String,
        status: u16,
        detail: String,
    },
}

/// The error codes of the import service (R-ERR) that the disk core can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ErrorCode {
    InvalidFormatSize,
    InternalError,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorCode::InvalidFormatSize => "InvalidFormatSize",
            ErrorCode::InternalError => "InternalError",
        })
    }
}

impl Error {
    /// Shorthand for [`Error::Corrupt`].
    pub fn corrupt(
        format: &'static str,
        structure: &'static str,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corrupt {
            format,
            structure,
            offset,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(format: &'static str, detail: impl Into<String>) -> Self {
        Error::Unsupported {
            format,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Unsafe`].
    pub fn unsafe_image(format: &'static str, detail: impl Into<String>) -> Self {
        Error::Unsafe {
            format,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::Limit`].
    pub fn limit(what: impl Into<String>, value: u64, limit: u64) -> Self {
        Error::Limit {
            what: what.into(),
            value,
            limit,
        }
    }

    /// The import error code this error means (R-ERR).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Io { .. }
            | Error::NotAFile { .. }
            | Error::Remote { .. }
            | Error::RemoteStatus { .. }
            | Error::Convert { .. } => ErrorCode::InternalError,
            _ => ErrorCode::InvalidFormatSize,
        }
    }

    /// The format the file was recognised as, when known.
    pub fn detected_format(&self) -> Option<String> {
        match self {
            Error::Corrupt { format, .. }
            | Error::Unsupported { format, .. }
            | Error::Unsafe { format, .. } => Some((*format).to_string()),
            Error::UnsupportedFormat { detected, .. } => Some(detected.clone()),
            Error::Ambiguous { formats } => Some(
                formats
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
            _ => None,
        }
    }

    /// Whether this is a failure to read (I/O, remote), not a verdict on the image.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::NotAFile { .. }
                | Error::Remote { .. }
                | Error::RemoteStatus { .. }
        )
    }

    /// The HTTP status of a remote source's error answer, if this is one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::RemoteStatus { status, .. } => Some(*status),
            _ => None,
        }
    }
}
