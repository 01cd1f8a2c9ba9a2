//! The import rules (`../shared/SPEC.md`, R-…) as data, and a pure `decide()`.
