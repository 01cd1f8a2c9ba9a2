//! Helpers shared by the inspect integration tests.
#![allow(dead_code)]

pub mod hostile;
pub mod tree;

/// Run the fixture script `tests/fixtures/SCRIPT` (idempotent, cached under
/// `IMGPORT_FIXTURES` or `~/.cache/imgport/fixtures`) and return `CACHE/SUBDIR`.
pub use imgport_test_support::build_fixtures;
