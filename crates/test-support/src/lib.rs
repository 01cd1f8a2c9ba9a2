//! Dev-only helpers shared by the integration tests of every imgport crate (issue 14
//! item 6, issue 18 item 14). Never a dependency of product code (`publish = false`).
//!
//! One switch decides what a test does when something it needs is missing here (a
//! tool, a fixture the script could not build, a loop device, a kernel filesystem):
//!
//! - `IMGPORT_TEST_REQUIRE_TOOLS=1` (set by `scripts/test.sh`, i.e. CI): the test
//!   **panics**, saying what was missing and how to get it — CI runs every test it counts;
//! - otherwise the test prints one `SKIPPED: …` line to stderr and returns.
//!
//! `IMGPORT_TEST_REQUIRE_PG=1`, the former switch of the PostgreSQL tests, is accepted
//! as an alias.
//!
//! Modules: [`switch`] (the switch, [`skip`], [`have`], [`require_tools!`]),
//! [`fixtures`] (the fixture scripts and their cache), [`qemu`] (qemu-img / qemu-io /
//! qemu-nbd as oracles), [`data`] (deterministic test bytes), [`range_server`] (an HTTP
//! range server with latency, bandwidth cap and round-trip counts).

pub mod data;
pub mod fixtures;
pub mod qemu;
pub mod range_server;
pub mod switch;

pub use data::{noise, pattern};
pub use fixtures::{build_fixtures, cache_root, fixture, repo_root};
pub use qemu::{have_qemu_img, qemu_img, qemu_json, run};
pub use range_server::{Mode, RangeServer, ServerOptions, Stats};
pub use switch::{have, require_tool, require_tools, required, skip, SWITCH};
