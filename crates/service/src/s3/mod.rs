//! The S3/COS-compatible object store endpoint.
