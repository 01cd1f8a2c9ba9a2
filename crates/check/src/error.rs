//! Why a check could not be completed (as opposed to a verdict about the image).

/// The image could not be checked: the verdict would be a guess, so there is none.
/// `imgport check` exits with status 2; the service fails the job with `InternalError`
/// (or `InvalidUrl` when the object-store link itself failed).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the image failed (local I/O error, or a remote source that misbehaved).
    #[error("could not read the image: {0}")]
    Read(#[source] imgport_disk::Error),
}

impl Error {
    /// The HTTP status a remote source answered with, when that was the failure.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Read(e) => e.http_status(),
        }
    }
}
