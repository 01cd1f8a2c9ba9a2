//! Any bytes as a guest's /etc/fstab: parsing, device-spec classification, and
//! root discovery mounting volumes from it (symlinked mount points included).
#![no_main]

use imgport_inspect::fs::memfs::MemFs;
use imgport_inspect::fs::{FileSystem, FsKind, FsProbe};
use imgport_inspect::guest::Volume;
use imgport_inspect::linux::find_linux_root;
use imgport_inspect::linux::fstab::{parse_fstab, parse_spec};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn vol(name: &str, fs: MemFs) -> Volume {
    Volume {
        name: name.into(),
        offset: 0,
        size: 1 << 20,
        probe: fs.probe().clone(),
        fs: Some(Arc::new(fs)),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for e in parse_fstab(&text) {
        let _ = parse_spec(&e.spec);
    }
    let mut root = MemFs::new();
    root.add_dir("/usr")
        .add_file("/etc/fstab", data.to_vec())
        .add_symlink("/mnt/loop", "/mnt/loop")
        .add_symlink("/srv", "../../var");
    let p = |uuid: &str, label: &str| FsProbe {
        kind: FsKind::Ext4,
        uuid: Some(uuid.into()),
        label: Some(label.into()),
    };
    let mut boot = MemFs::with_probe(p("1234", "boot"));
    boot.add_file("/vmlinuz-1", "x");
    let var = MemFs::with_probe(p("abcd", "var"));
    let volumes = [
        vol("partition 1", boot),
        vol("lv vg/root", root),
        vol("lv vg/var", var),
    ];
    if let Some((_, guest, _)) = find_linux_root(&volumes) {
        let _ = guest.read_dir("/boot");
        let _ = guest.read_file("/var/x", 10);
    }
});
