//! The `IMGPORT_TEST_REQUIRE_TOOLS` switch: a missing prerequisite either fails the
//! test (CI) or skips it loudly (a developer's machine).

use std::path::Path;

/// The environment variable that turns every skip into a failure (`=1`).
pub const SWITCH: &str = "IMGPORT_TEST_REQUIRE_TOOLS";

/// The PostgreSQL tests' former switch, still accepted (`=1`) as an alias of [`SWITCH`].
const LEGACY_PG_SWITCH: &str = "IMGPORT_TEST_REQUIRE_PG";

/// True when a test may not skip: `IMGPORT_TEST_REQUIRE_TOOLS=1` (or the old
/// `IMGPORT_TEST_REQUIRE_PG=1`). Any other value, or none, allows skipping.
pub fn required() -> bool {
    [SWITCH, LEGACY_PG_SWITCH]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| s.trim() == "1"))
}

/// A prerequisite of the calling test is missing: `what` says which, `how` how to get
/// it. Panics under the switch; otherwise prints a `SKIPPED:` line to stderr and
/// returns, and the caller returns too.
#[track_caller]
pub fn skip(what: &str, how: &str) {
    if required() {
        panic!("{what}; {how} ({SWITCH}=1: a test may not skip)");
    }
    eprintln!("SKIPPED: {what}; {how} (with {SWITCH}=1 this fails)");
}

/// Whether `tool` is an executable on `PATH` (or in /usr/sbin, /sbin, where the
/// fixture scripts also look).
pub fn have(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| is_executable(&dir.join(tool)))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `have(tool)`, or [`skip`] (`how`: the package to install) and false.
#[track_caller]
pub fn require_tool(tool: &str, how: &str) -> bool {
    if have(tool) {
        return true;
    }
    skip(&format!("`{tool}` is not installed"), how);
    false
}

/// Every tool of `tools` is there, or [`skip`] for the first missing one and false.
#[track_caller]
pub fn require_tools(tools: &[&str], how: &str) -> bool {
    tools.iter().all(|t| require_tool(t, how))
}

/// Return from the calling test unless every tool is installed (see [`require_tools`]):
/// `require_tools!("apt-get install cpio gzip"; "cpio", "gzip");`
#[macro_export]
macro_rules! require_tools {
    ($how:expr; $($tool:expr),+ $(,)?) => {
        if !$crate::require_tools(&[$($tool),+], $how) {
            return;
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test of this crate that touches the environment (tests run in threads).
    #[test]
    fn the_switch_turns_a_skip_into_a_panic() {
        for (value, panics) in [("1", true), ("0", false), ("", false)] {
            std::env::set_var(SWITCH, value);
            std::env::remove_var(LEGACY_PG_SWITCH);
            let r = std::panic::catch_unwind(|| skip("`x` is not installed", "install x"));
            assert_eq!(r.is_err(), panics, "{SWITCH}={value:?}");
        }
        std::env::remove_var(SWITCH);
        std::env::set_var(LEGACY_PG_SWITCH, "0");
        assert!(!required(), "IMGPORT_TEST_REQUIRE_PG=0 allows skipping");
        std::env::set_var(LEGACY_PG_SWITCH, "1");
        assert!(required());
        std::env::remove_var(LEGACY_PG_SWITCH);
        assert!(!require_tool("no-such-tool-imgport", "nothing"));
        assert!(have("sh"));
    }
}
