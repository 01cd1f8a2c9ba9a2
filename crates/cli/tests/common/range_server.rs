//! The range server of the remote-check tests: the one configurable server of
//! `imgport-test-support` (delay, bandwidth cap, misbehaviours, round-trip counts).

#[allow(unused_imports)]
pub use imgport_test_support::range_server::{Mode, RangeServer, ServerOptions, Stats};
