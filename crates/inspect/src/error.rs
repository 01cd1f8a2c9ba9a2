//! The inspection error type.

/// Result alias for inspection.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a structure inside the guest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the disk failed.
    #[error(transparent)]
    Disk(#[from] imgport_disk::Error),
    /// An on-disk structure is damaged.
    #[error("{structure} at offset {offset}: {detail}")]
    Corrupt {
        structure: &'static str,
        offset: u64,
        detail: String,
    },
    /// A path does not exist in the guest.
    #[error("{0}: no such file or directory in the guest")]
    NotFound(String),
    /// A path component is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// The operation needs a regular file.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// A size, count or depth limit was exceeded (bounded reads on hostile input).
    #[error("{what} is over the limit of {limit}")]
    Limit { what: String, limit: u64 },
    /// The structure is recognised but not readable by us (e.g. LVM thin pools).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

impl Error {
    /// Shorthand for [`Error::Corrupt`].
    pub fn corrupt(structure: &'static str, offset: u64, detail: impl Into<String>) -> Self {
        Error::Corrupt {
            structure,
            offset,
            detail: detail.into(),
        }
    }
}
