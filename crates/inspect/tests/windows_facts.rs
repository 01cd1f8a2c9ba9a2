//! Windows facts and the registry hive reader, on hives written by hivex
//! (`tests/fixtures/windows.sh`: hivexregedit --merge into an empty regf) and,
//! when FUSE worked at build time, on MBR disks whose NTFS partition ntfs-3g
//! populated. Oracles: `hivexregedit --export` (every key and value of every
//! hive, byte for byte) and `hivexget`.

use imgport_disk::{FileSource, ReadAt};
use imgport_inspect::fs::memfs::MemFs;
use imgport_inspect::linux::elf::Arch;
use imgport_inspect::partition::{open_partition, read_partition_table};
use imgport_inspect::windows::facts::{release_from_build, release_from_product_name};
use imgport_inspect::windows::hive::{Hive, RegData};
use imgport_inspect::windows::services::guest_path;
use imgport_inspect::windows::{inspect_windows, StartType, VirtioRole, WindowsFacts};
use imgport_inspect::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------- fixtures

/// The fixture directory, built once per test process; `None` (after a SKIPPED line,
/// or a panic under IMGPORT_TEST_REQUIRE_TOOLS=1) when the hivex tools are missing.
fn fixtures() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        imgport_test_support::require_tools(
            &["hivexregedit", "hivexget", "python3"],
            "apt-get install libwin-hivex-perl libhivex-bin",
        )
        .then(|| imgport_test_support::build_fixtures("windows.sh", "windows"))
    })
    .as_deref()
}

macro_rules! fixtures_or_skip {
    () => {
        match fixtures() {
            Some(d) => d,
            None => return,
        }
    };
}

const OS_FIXTURES: [&str; 5] = ["win2016", "win2012r2", "win2008r2", "win2008x86", "win10"];

/// A [`MemFs`] holding the host directory `dir` (the fixture's volume tree).
fn memfs_from(dir: &Path) -> MemFs {
    fn add(fs: &mut MemFs, host: &Path, guest: &str) {
        let mut entries: Vec<_> = std::fs::read_dir(host)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().into_string().unwrap();
            let g = format!("{guest}/{name}");
            if e.file_type().unwrap().is_dir() {
                fs.add_dir(&g);
                add(fs, &e.path(), &g);
            } else {
                fs.add_file(&g, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut fs = MemFs::new();
    add(&mut fs, dir, "");
    fs
}

/// The hive files of an OS fixture (SOFTWARE, SYSTEM in whatever casing).
fn hive_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(name).join("tree")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n.eq_ignore_ascii_case("config"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    assert_eq!(out.len(), 2, "{name}: {out:?}");
    out
}

fn load(path: &Path) -> Hive {
    Hive::new(std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------- oracle: hivexregedit --export

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Our reading of `hive`, printed the way `hivexregedit --export HIVE '\'` prints.
fn export(hive: &Hive) -> String {
    let mut out = String::from("Windows Registry Editor Version 5.00\n\n");
    fn node(out: &mut String, key: &imgport_inspect::windows::hive::Key<'_>, path: &str) {
        out.push_str(&format!(
            "[{}]\n",
            if path.is_empty() { "\\" } else { path }
        ));
        let mut values: Vec<_> = key
            .values()
            .unwrap()
            .into_iter()
            .map(|v| (v.name().to_string(), v.data_type(), v.raw_data().unwrap()))
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ty, data) in values {
            if name.is_empty() {
                out.push('@');
            } else {
                out.push_str(&format!("\"{}\"", escape(&name)));
            }
            if ty == 4 && data.len() == 4 {
                let v = u32::from_le_bytes(data.try_into().unwrap());
                out.push_str(&format!("=dword:{v:08x}\n"));
            } else {
                let hex: Vec<String> = data.iter().map(|b| format!("{b:02x}")).collect();
                out.push_str(&format!("=hex({ty:x}):{}\n", hex.join(",")));
            }
        }
        out.push('\n');
        let mut subs = key.subkeys().unwrap();
        subs.sort_by(|a, b| a.name().cmp(b.name()));
        for s in subs {
            let p = format!("{path}\\{}", s.name());
            node(out, &s, &p);
        }
    }
    node(&mut out, &hive.root().unwrap(), "");
    out
}

fn hivex_export(path: &Path) -> String {
    let out = Command::new("hivexregedit")
        .arg("--export")
        .arg(path)
        .arg("\\")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hivexget(path: &Path, key: &str, value: &str) -> String {
    let out = Command::new("hivexget")
        .arg(path)
        .arg(key)
        .arg(value)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_string()
}

#[test]
fn every_hive_reads_as_hivex_exports_it() {
    let dir = fixtures_or_skip!();
    let mut files: Vec<PathBuf> = OS_FIXTURES
        .iter()
        .flat_map(|n| hive_files(dir, n))
        .collect();
    files.push(dir.join("hives/ab.hiv"));
    files.push(dir.join("hives/bigdata.hiv"));
    for f in files {
        let ours = export(&load(&f));
        let theirs = hivex_export(&f);
        assert!(
            ours == theirs,
            "{}: differs from hivexregedit --export\n--- ours\n{ours}\n--- hivex\n{theirs}",
            f.display()
        );
    }
}

#[test]
fn typed_values_match_hivexget() {
    let dir = fixtures_or_skip!();
    let sw_path = dir.join("win2016/tree/Windows/System32/config/SOFTWARE");
    let sys_path = dir.join("win2016/tree/Windows/System32/config/SYSTEM");
    let sw = load(&sw_path);
    let sys = load(&sys_path);
    let cv_path = r"\Microsoft\Windows NT\CurrentVersion";
    // Lookups are case-insensitive and take either separator.
    let cv = sw
        .open_key("microsoft/WINDOWS NT/currentversion")
        .unwrap()
        .unwrap();
    assert_eq!(cv.name(), "CurrentVersion");
    for name in [
        "ProductName",
        "EditionID",
        "CurrentBuild",
        "SystemRoot",
        "InstallationType",
    ] {
        let ours = cv.value_data(name).unwrap().unwrap();
        assert_eq!(
            ours.as_str().unwrap(),
            hivexget(&sw_path, cv_path, name),
            "{name}"
        );
    }
    assert_eq!(
        cv.value_data("productname").unwrap().unwrap(),
        RegData::Sz("Windows Server 2016 Datacenter".into())
    );
    // REG_DWORD: hivexget prints decimal.
    let major = cv.value_data("CurrentMajorVersionNumber").unwrap().unwrap();
    assert_eq!(major, RegData::Dword(10));
    assert_eq!(
        hivexget(&sw_path, cv_path, "CurrentMajorVersionNumber"),
        "10"
    );
    // REG_QWORD (hivexget prints it as hex bytes; the .reg says 0x01d3c1a2b3c4d5e6).
    assert_eq!(
        cv.value_data("InstallTime").unwrap().unwrap(),
        RegData::Qword(0x01d3_c1a2_b3c4_d5e6)
    );
    // REG_BINARY.
    assert_eq!(
        cv.value_data("DigitalProductId").unwrap().unwrap(),
        RegData::Binary(vec![
            0xa4, 0, 0, 0, 3, 0, 0, 0, 0x30, 0x30, 0x33, 0x37, 0x37, 0x2d
        ])
    );
    // REG_MULTI_SZ and REG_EXPAND_SZ.
    let sgo = sys
        .open_key(r"ControlSet001\Control\ServiceGroupOrder")
        .unwrap()
        .unwrap();
    assert_eq!(
        sgo.value_data("List").unwrap().unwrap(),
        RegData::MultiSz(
            [
                "System Reserved",
                "Boot Bus Extender",
                "System Bus Extender",
                "SCSI miniport",
                "Base"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    let viostor = sys
        .open_key(r"ControlSet001\Services\viostor")
        .unwrap()
        .unwrap();
    let ip = viostor.value_data("ImagePath").unwrap().unwrap();
    assert_eq!(
        ip,
        RegData::ExpandSz(r"\SystemRoot\System32\drivers\viostor.sys".into())
    );
    assert_eq!(
        ip.as_str().unwrap(),
        hivexget(&sys_path, r"\ControlSet001\Services\viostor", "ImagePath")
    );
    assert_eq!(
        viostor.value_data("Start").unwrap().unwrap().as_dword(),
        Some(0)
    );
    // An empty REG_SZ.
    let vioser = sys
        .open_key(r"ControlSet001\Services\vioser")
        .unwrap()
        .unwrap();
    assert_eq!(
        vioser.value_data("Group").unwrap().unwrap(),
        RegData::Sz(String::new())
    );
    // Absent keys and values.
    assert!(sys
        .open_key(r"ControlSet001\Services\vioscsi")
        .unwrap()
        .is_none());
    assert!(viostor.value("NoSuchValue").unwrap().is_none());
    // Root and subkey listing.
    let names: Vec<String> = sys
        .root()
        .unwrap()
        .subkeys()
        .unwrap()
        .iter()
        .map(|k| k.name().to_string())
        .collect();
    assert_eq!(names, ["ControlSet001", "Select"]);
    let base = sw.base_block();
    assert!(!base.is_dirty() && base.checksum_ok, "{base:?}");
}

#[test]
fn big_data_record_matches_hivexget() {
    let dir = fixtures_or_skip!();
    let path = dir.join("hives/bigdata.hiv");
    let hive = load(&path);
    let v = hive.root().unwrap().value("big").unwrap().unwrap();
    assert_eq!(v.data_len(), 40000);
    let data = v.raw_data().unwrap();
    let expected: Vec<u8> = (0..40000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(data, expected);
    // hivexget prints a REG_BINARY value's bytes as they are.
    let out = Command::new("hivexget")
        .arg(&path)
        .arg("\\")
        .arg("Big")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        data == out.stdout,
        "hivexget printed {} bytes",
        out.stdout.len()
    );
}

// ---------------------------------------------------------------- damaged hives

#[test]
fn damaged_hives_are_errors_not_panics() {
    let dir = fixtures_or_skip!();
    let h = |n: &str| std::fs::read(dir.join("hives").join(n)).unwrap();

    // A subkeys list that is an `ri` pointing at itself.
    let hive = Hive::new(h("loop-ri.hiv")).unwrap();
    let err = hive.root().unwrap().subkeys().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Corrupt {
                structure: "subkeys list",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("loop"), "{err}");
    assert!(hive.open_key(r"Microsoft\Windows NT").is_err());

    // A loop in the key tree: paths still resolve, a walk stops with an error.
    let hive = Hive::new(h("loop-key.hiv")).unwrap();
    let b = hive.open_key(r"A\B").unwrap().unwrap();
    assert_eq!(b.subkeys().unwrap()[0].name(), "A");
    assert!(hive.open_key(r"A\B\A\B\A").unwrap().is_some());
    let err = hive.walk(1000, &mut |_, _| Ok(())).unwrap_err();
    assert!(err.to_string().contains("its own ancestor"), "{err}");
    // The walk of a sound hive visits every key.
    let ok = Hive::new(h("ab.hiv")).unwrap();
    let mut seen = Vec::new();
    assert_eq!(
        ok.walk(1000, &mut |p, _| {
            seen.push(p.to_string());
            Ok(())
        })
        .unwrap(),
        3
    );
    assert_eq!(seen, ["", "A", r"A\B"]);

    // A subkeys list offset outside the hive bins.
    let hive = Hive::new(h("badcell.hiv")).unwrap();
    let err = hive.open_key("Microsoft").unwrap_err();
    assert!(err.to_string().contains("outside the hive bins"), "{err}");

    // Truncated and wrong signature: not a hive at all.
    let err = Hive::new(h("truncated.hiv")).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let err = Hive::new(h("badsig.hiv")).unwrap_err();
    assert!(err.to_string().contains("regf"), "{err}");
    assert!(Hive::new(Vec::new()).is_err());
    assert!(Hive::new(vec![0; 4096]).is_err());
}

/// Every single-byte change and every truncation of a real hive gives either a
/// reading or an error, never a panic or a hang.
#[test]
fn mutated_hives_never_panic() {
    let dir = fixtures_or_skip!();
    let orig = std::fs::read(dir.join("win2016/tree/Windows/System32/config/SYSTEM")).unwrap();
    let exercise = |data: Vec<u8>| {
        if let Ok(hive) = Hive::new(data) {
            let _ = hive.walk(10_000, &mut |_, key| {
                for v in key.values()? {
                    let _ = v.data();
                }
                Ok(())
            });
            let _ = hive.open_key(r"ControlSet001\Services\viostor");
        }
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut d = orig.clone();
        // Half the changes hit the base block and the first cells, where the
        // structure is.
        let span = if i % 2 == 0 { 4096 + 1024 } else { d.len() };
        let pos = (seed as usize) % span;
        d[pos] = (seed >> 32) as u8;
        exercise(d);
    }
    for len in (0..orig.len()).step_by(97) {
        exercise(orig[..len].to_vec());
    }
}

// ---------------------------------------------------------------- facts

fn facts_from_tree(name: &str) -> Option<WindowsFacts> {
    let dir = fixtures()?;
    let fs = memfs_from(&dir.join(name).join("tree"));
    Some(inspect_windows(&fs).unwrap().expect("a Windows volume"))
}

fn driver<'a>(f: &'a WindowsFacts, name: &str) -> &'a imgport_inspect::windows::VirtioDriver {
    f.virtio.drivers.iter().find(|d| d.name == name).unwrap()
}

#[test]
fn win2016_datacenter_with_virtio_and_cloudbase_init() {
    let Some(f) = facts_from_tree("win2016") else {
        return;
    };
    assert_eq!(
        f.product_name.as_deref(),
        Some("Windows Server 2016 Datacenter")
    );
    assert_eq!(f.edition_id.as_deref(), Some("ServerDatacenter"));
    assert_eq!(f.installation_type.as_deref(), Some("Server"));
    assert_eq!(f.product_type.as_deref(), Some("ServerNT"));
    assert_eq!(f.is_server, Some(true));
    assert_eq!(f.current_version.as_deref(), Some("6.3"));
    assert_eq!(f.current_build.as_deref(), Some("14393"));
    assert_eq!(f.build, Some(14393));
    assert_eq!((f.major, f.minor), (Some(10), Some(0)));
    assert_eq!(f.version.as_deref(), Some("2016"));
    assert_eq!(f.arch, Some(Arch::X86_64));
    assert_eq!(f.arch_bits, Some(64));
    assert_eq!(f.current_control_set, Some(1));
    assert_eq!(f.computer_name.as_deref(), Some("WIN-2016DC"));

    let viostor = driver(&f, "viostor");
    let svc = viostor.service.as_ref().unwrap();
    assert_eq!(svc.start, Some(0));
    assert_eq!(svc.start_type, Some(StartType::Boot));
    assert_eq!(svc.service_type, Some(1));
    assert_eq!(
        svc.image_path.as_deref(),
        Some(r"\SystemRoot\System32\drivers\viostor.sys")
    );
    assert_eq!(
        viostor.driver_file.as_deref(),
        Some("/Windows/System32/drivers/viostor.sys")
    );
    assert_eq!(
        viostor.driver_store,
        ["/Windows/System32/DriverStore/FileRepository/viostor.inf_amd64_c2b9b1b3e8d5a4f0"]
    );
    assert!(viostor.boot_ready());
    let netkvm = driver(&f, "netkvm");
    assert_eq!(
        netkvm.service.as_ref().unwrap().start_type,
        Some(StartType::Demand)
    );
    assert_eq!(netkvm.role, VirtioRole::Network);
    assert!(netkvm.driver_file.is_some() && netkvm.installed());
    assert!(driver(&f, "vioscsi").service.is_none());
    assert!(driver(&f, "balloon").service.is_none() && !driver(&f, "balloon").installed());
    assert!(f.virtio.storage_ready && f.virtio.net_ready && f.virtio.ready);

    let cbi = &f.cloudbase_init;
    assert!(cbi.installed);
    let svc = cbi.service.as_ref().unwrap();
    assert_eq!(svc.start_type, Some(StartType::Auto));
    assert!(svc.image_path.as_deref().unwrap().contains("--config-file"));
    assert_eq!(
        cbi.install_dir.as_deref(),
        Some("/Program Files/Cloudbase Solutions/Cloudbase-Init")
    );
    assert_eq!(
        cbi.conf_path.as_deref(),
        Some("/Program Files/Cloudbase Solutions/Cloudbase-Init/conf/cloudbase-init.conf")
    );
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert_eq!(f.hives.len(), 2);
    assert!(f
        .hives
        .iter()
        .all(|h| !h.dirty && h.checksum_ok && h.format_version == "1.5"));
    assert!(f
        .evidence
        .iter()
        .any(|e| e.what.contains("ProductName=Windows Server 2016")));
    // The facts serialise (the CLI prints them as JSON).
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["arch"], "x86_64");
    assert_eq!(
        json["virtio"]["drivers"][0]["service"]["start_type"],
        "boot"
    );
}

#[test]
fn win2012r2_without_virtio_uses_the_current_control_set() {
    let Some(f) = facts_from_tree("win2012r2") else {
        return;
    };
    assert_eq!(
        f.product_name.as_deref(),
        Some("Windows Server 2012 R2 Standard")
    );
    assert_eq!(f.version.as_deref(), Some("2012 R2"));
    assert_eq!(f.build, Some(9600));
    // No CurrentMajorVersionNumber before Windows 10: from CurrentVersion.
    assert_eq!((f.major, f.minor), (Some(6), Some(3)));
    // Select\Current = 2: ControlSet001's stale viostor does not count.
    assert_eq!(f.current_control_set, Some(2));
    assert_eq!(f.computer_name.as_deref(), Some("WIN-2012R2"));
    assert!(f
        .virtio
        .drivers
        .iter()
        .all(|d| d.service.is_none() && d.driver_file.is_none()));
    assert!(!f.virtio.storage_ready && !f.virtio.net_ready && !f.virtio.ready);
    // No PROCESSOR_ARCHITECTURE: SysWOW64 says 64-bit.
    assert_eq!(f.arch, Some(Arch::X86_64));
    assert!(f.evidence.iter().any(|e| e.path == "/Windows/SysWOW64"));
    // Installed in Program Files (x86), service not registered.
    assert!(f.cloudbase_init.installed && f.cloudbase_init.service.is_none());
    assert_eq!(
        f.cloudbase_init.conf_path.as_deref(),
        Some("/Program Files (x86)/Cloudbase Solutions/Cloudbase-Init/conf/cloudbase-init.conf")
    );
}

#[test]
fn win2008r2_with_virtio_without_cloudbase_init() {
    let Some(f) = facts_from_tree("win2008r2") else {
        return;
    };
    assert_eq!(
        f.product_name.as_deref(),
        Some("Windows Server 2008 R2 Enterprise")
    );
    assert_eq!(f.version.as_deref(), Some("2008 R2"));
    assert_eq!(f.current_version.as_deref(), Some("6.1"));
    assert_eq!(f.build, Some(7601));
    assert_eq!(f.arch, Some(Arch::X86_64));
    assert!(f.virtio.ready);
    assert!(!f.cloudbase_init.installed);
    assert_eq!(
        f.cloudbase_init,
        imgport_inspect::windows::CloudbaseInit {
            installed: false,
            service: None,
            install_dir: None,
            conf_path: None,
        }
    );
}

#[test]
fn win2008_x86_odd_casing_dirty_hive() {
    let Some(f) = facts_from_tree("win2008x86") else {
        return;
    };
    assert_eq!(
        f.product_name.as_deref(),
        Some("Windows Server (R) 2008 Standard")
    );
    assert_eq!(f.version.as_deref(), Some("2008"));
    assert_eq!(f.installation_type, None);
    assert_eq!(f.is_server, Some(true));
    assert_eq!(f.arch, Some(Arch::I386));
    assert_eq!(f.arch_bits, Some(32));
    // Paths come back in the casing stored on the volume.
    assert_eq!(f.hives[0].path, "/WINDOWS/system32/CONFIG/software");
    let vioscsi = driver(&f, "vioscsi");
    assert_eq!(
        vioscsi.driver_file.as_deref(),
        Some("/WINDOWS/system32/DRIVERS/vioscsi.sys")
    );
    assert!(vioscsi.boot_ready());
    // netkvm only staged in the driver store.
    let netkvm = driver(&f, "netkvm");
    assert!(netkvm.service.is_none() && netkvm.installed());
    assert!(f.virtio.ready);
    // cloudbase-init: the --config-file of the service's command line.
    assert_eq!(
        f.cloudbase_init.conf_path.as_deref(),
        Some("/Program Files/Cloudbase Solutions/Cloudbase-Init/conf/cloudbase-init.conf")
    );
    // The SYSTEM hive is dirty: still read, and said.
    assert!(!f.hives[0].dirty && f.hives[1].dirty && f.hives[1].checksum_ok);
    assert!(
        f.warnings.iter().any(|w| w.contains("dirty")),
        "{:?}",
        f.warnings
    );
    assert_eq!(f.current_control_set, Some(1));
}

#[test]
fn win10_is_a_client() {
    let Some(f) = facts_from_tree("win10") else {
        return;
    };
    assert_eq!(f.product_name.as_deref(), Some("Windows 10 Pro"));
    assert_eq!(f.product_type.as_deref(), Some("WinNT"));
    assert_eq!(f.installation_type.as_deref(), Some("Client"));
    assert_eq!(f.is_server, Some(false));
    assert_eq!(f.version.as_deref(), Some("10"));
    assert_eq!(
        (f.major, f.minor, f.build),
        (Some(10), Some(0), Some(19045))
    );
    assert!(!f.virtio.ready && !f.cloudbase_init.installed);
}

#[test]
fn not_windows_and_broken_hives() {
    // No config directory, or only one hive: not a Windows system volume.
    let mut fs = MemFs::new();
    fs.add_file("/etc/os-release", "ID=debian\n");
    assert!(inspect_windows(&fs).unwrap().is_none());
    fs.add_file("/Windows/System32/config/SYSTEM", vec![0u8; 10]);
    assert!(inspect_windows(&fs).unwrap().is_none());
    // Both present but not hives: an error naming the structure.
    fs.add_file("/Windows/System32/config/SOFTWARE", b"not a hive".to_vec());
    let err = inspect_windows(&fs).unwrap_err();
    assert!(err.to_string().contains("regf base block"), "{err}");

    let Some(dir) = fixtures() else { return };
    // A SOFTWARE hive whose root subkeys list loops: facts it holds are missing,
    // with a warning; SYSTEM facts are still there.
    let tree = dir.join("win2016/tree");
    let mut fs = memfs_from(&tree);
    fs.add_file(
        "/Windows/System32/config/SOFTWARE",
        std::fs::read(dir.join("hives/loop-ri.hiv")).unwrap(),
    );
    let f = inspect_windows(&fs).unwrap().unwrap();
    assert_eq!(f.product_name, None);
    assert_eq!(f.version, None);
    assert!(
        f.warnings.iter().any(|w| w.contains("loop")),
        "{:?}",
        f.warnings
    );
    assert_eq!(f.computer_name.as_deref(), Some("WIN-2016DC"));
    assert!(f.virtio.ready);
}

// ---------------------------------------------------------------- NTFS disk images

#[test]
fn facts_through_ntfs_disk_images() {
    let dir = fixtures_or_skip!();
    for name in OS_FIXTURES {
        let Some(img) = imgport_test_support::fixture(dir, &format!("{name}.raw"), "windows.sh")
        else {
            return;
        };
        let disk: Arc<dyn ReadAt> = Arc::new(FileSource::open(&img).unwrap());
        let table = read_partition_table(&*disk).unwrap();
        let part = open_partition(Arc::clone(&disk), &table.partitions[0]);
        let probe = imgport_inspect::fs::probe(&*part).unwrap();
        assert_eq!(probe.kind, imgport_inspect::fs::FsKind::Ntfs, "{name}");
        let fs = match imgport_inspect::fs::open(part, &probe) {
            Ok(Some(fs)) => fs,
            other => panic!("{name}: {other:?}", other = other.map(|o| o.is_some())),
        };
        let ntfs = inspect_windows(&*fs).unwrap().expect("Windows on NTFS");
        let mem = facts_from_tree(name).unwrap();
        assert_eq!(ntfs.product_name, mem.product_name, "{name}");
        assert_eq!(ntfs.version, mem.version, "{name}");
        assert_eq!(ntfs.arch, mem.arch, "{name}");
        assert_eq!(ntfs.computer_name, mem.computer_name, "{name}");
        assert_eq!(ntfs.virtio.ready, mem.virtio.ready, "{name}");
        assert_eq!(
            ntfs.cloudbase_init.installed, mem.cloudbase_init.installed,
            "{name}"
        );
        assert_eq!(
            ntfs.cloudbase_init.conf_path.is_some(),
            mem.cloudbase_init.conf_path.is_some(),
            "{name}"
        );
        assert_eq!(
            ntfs.hives.iter().map(|h| h.dirty).collect::<Vec<_>>(),
            mem.hives.iter().map(|h| h.dirty).collect::<Vec<_>>()
        );
    }
}

// ---------------------------------------------------------------- pure functions

#[test]
fn release_names() {
    assert_eq!(release_from_build(6002, true), Some("2008"));
    assert_eq!(release_from_build(7601, true), Some("2008 R2"));
    assert_eq!(release_from_build(7601, false), Some("7"));
    assert_eq!(release_from_build(9200, true), Some("2012"));
    assert_eq!(release_from_build(9600, true), Some("2012 R2"));
    assert_eq!(release_from_build(14393, true), Some("2016"));
    assert_eq!(release_from_build(17763, true), Some("2019"));
    assert_eq!(release_from_build(20348, true), Some("2022"));
    assert_eq!(release_from_build(22631, false), Some("11"));
    assert_eq!(release_from_build(16299, true), None);
    assert_eq!(
        release_from_product_name("Windows Server 2012 R2 Datacenter").as_deref(),
        Some("2012 R2")
    );
    assert_eq!(
        release_from_product_name("Windows Server 2019 Standard").as_deref(),
        Some("2019")
    );
    assert_eq!(
        release_from_product_name("Windows 7 Professional").as_deref(),
        Some("7")
    );
    assert_eq!(
        release_from_product_name("Windows Server (R) 2008 Standard").as_deref(),
        Some("2008")
    );
    assert_eq!(
        release_from_product_name("Windows Server\u{ae} 2008 Enterprise").as_deref(),
        Some("2008")
    );
    assert_eq!(
        release_from_product_name("Windows Server 2022 Datacenter Evaluation").as_deref(),
        Some("2022")
    );
    assert_eq!(release_from_product_name("Hyper-V"), None);
}

#[test]
fn windows_paths_to_guest_paths() {
    assert_eq!(
        guest_path(r"\SystemRoot\System32\drivers\viostor.sys").as_deref(),
        Some("/Windows/System32/drivers/viostor.sys")
    );
    assert_eq!(
        guest_path(r"System32\DRIVERS\netkvm.sys").as_deref(),
        Some("/Windows/System32/DRIVERS/netkvm.sys")
    );
    assert_eq!(
        guest_path(r"%SystemRoot%\x.sys").as_deref(),
        Some("/Windows/x.sys")
    );
    assert_eq!(
        guest_path(r#""C:\Program Files\a b\c.conf""#).as_deref(),
        Some("/Program Files/a b/c.conf")
    );
    assert_eq!(guest_path(r"\??\c:\x").as_deref(), Some("/x"));
    assert_eq!(guest_path(r"D:\data"), None);
    assert_eq!(guest_path(r"\\server\share"), None);
    assert_eq!(guest_path(""), None);
}
