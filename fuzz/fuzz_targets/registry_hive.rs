//! Any bytes as a registry hive: open it, walk its keys (bounded), read and
//! decode every value, look keys up by path; and the same bytes as the SOFTWARE
//! and SYSTEM hives of a Windows volume for `inspect_windows`.
#![no_main]

use imgport_inspect::fs::memfs::MemFs;
use imgport_inspect::windows::hive::Hive;
use imgport_inspect::windows::inspect_windows;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hive) = Hive::new(data.to_vec()) {
        let _ = hive.walk(2_000, &mut |_, key| {
            for v in key.values()? {
                let _ = v.data();
            }
            let _ = key.subkey("x");
            Ok(())
        });
        let _ = hive.open_key(r"Microsoft\Windows NT\CurrentVersion");
        let _ = hive.open_key(r"ControlSet001\Services\viostor");
    }
    let mut fs = MemFs::new();
    fs.add_file("/Windows/System32/config/SOFTWARE", data.to_vec())
        .add_file("/Windows/System32/config/SYSTEM", data.to_vec())
        .add_dir("/Windows/System32/DriverStore/FileRepository/viostor.inf_x");
    let _ = inspect_windows(&fs);
});
