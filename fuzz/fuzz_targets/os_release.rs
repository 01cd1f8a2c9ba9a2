//! Any bytes as the guest's release files (os-release, lsb-release, centos/redhat
//! and SuSE release, debian_version): parsers and distribution detection.
#![no_main]

use imgport_inspect::fs::memfs::MemFs;
use imgport_inspect::guest::Guest;
use imgport_inspect::linux::{distro, os_release};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = os_release::parse_os_release(&text);
    let _ = distro::parse_redhat_release(&text);
    let _ = distro::parse_suse_release(&text);
    // The first byte picks which file the rest is.
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let path = match which % 6 {
        0 => "/etc/os-release",
        1 => "/usr/lib/os-release",
        2 => "/etc/lsb-release",
        3 => "/etc/centos-release",
        4 => "/etc/SuSE-release",
        _ => "/etc/debian_version",
    };
    let mut fs = MemFs::new();
    fs.add_file(path, rest.to_vec());
    let guest = Guest::new(Arc::new(fs));
    let mut ev = Vec::new();
    let _ = distro::detect(&guest, &mut ev);
});
