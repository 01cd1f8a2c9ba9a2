//! Partition tables and LVM2 on disks built by the real tools
//! (`tests/fixtures/partitions.sh`: sfdisk, sgdisk, mkfs.vfat, mkntfs, lvm,
//! mkfs.ext4). Oracles: `sfdisk --json`, `sgdisk -p` and `blkid -p` run on the same
//! files at test time; `pvs`/`lvs` JSON and the filesystems' sha256 saved when the
//! LVM fixtures were built (reading LVM back needs loop devices).

mod common;

use imgport_disk::{FileSource, MemSource, ReadAt, ReadAtExt};
use imgport_inspect::fs::{self, FsKind};
use imgport_inspect::lvm::{self, assemble, open_lv, scan_pv, PhysicalVolume};
use imgport_inspect::partition::{
    open_partition, read_partition_table, Partition, PartitionTable, TableKind,
};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------- fixtures

/// Return unless every tool is installed (a failure under IMGPORT_TEST_REQUIRE_TOOLS=1).
macro_rules! require {
    ($($tool:expr),+) => {
        imgport_test_support::require_tools!(
            "apt-get install fdisk gdisk dosfstools ntfs-3g lvm2 e2fsprogs util-linux python3";
            $($tool),+
        )
    };
}

/// The fixture directory, built once per test process by the script.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::build_fixtures("partitions.sh", "partitions"))
}

/// A fixture file; `None` (after a SKIPPED line, or a panic under
/// `IMGPORT_TEST_REQUIRE_TOOLS=1`) when the script could not build it here (loop devices?).
fn fixture(name: &str) -> Option<PathBuf> {
    imgport_test_support::fixture(fixtures(), name, "partitions.sh")
}

fn open(path: &Path) -> Arc<dyn ReadAt> {
    Arc::new(FileSource::open(path).expect("open fixture"))
}

fn table(path: &Path) -> PartitionTable {
    read_partition_table(&*open(path)).expect("read_partition_table")
}

fn run(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("PATH=$PATH:/usr/sbin:/sbin exec \"$0\" \"$@\"")
        .arg(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sfdisk_json(path: &Path) -> Value {
    let (ok, out, err) = run("sfdisk", &["--json", path.to_str().unwrap()]);
    assert!(ok, "sfdisk --json: {err}");
    serde_json::from_str(&out).expect("sfdisk JSON")
}

/// Compare our partitions with `sfdisk --json`'s, entry by entry.
fn assert_matches_sfdisk(ours: &[Partition], sf: &Value, sector: u64) {
    let theirs = sf["partitiontable"]["partitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        ours.len(),
        theirs.len(),
        "partition count vs sfdisk: {ours:#?} / {theirs:#?}"
    );
    for (p, s) in ours.iter().zip(&theirs) {
        let node = s["node"].as_str().unwrap();
        let num: u32 = node
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(p.number, num, "{node}");
        assert_eq!(
            p.start,
            s["start"].as_u64().unwrap() * sector,
            "{node} start"
        );
        assert_eq!(p.size, s["size"].as_u64().unwrap() * sector, "{node} size");
        let ty = s["type"].as_str().unwrap();
        if p.guid.is_some() {
            assert_eq!(p.type_id, ty, "{node} type");
            assert_eq!(p.guid.as_deref(), s["uuid"].as_str(), "{node} uuid");
            assert_eq!(
                p.name.as_deref(),
                Some(s["name"].as_str().unwrap_or("")),
                "{node} name"
            );
            let legacy = s["attrs"]
                .as_str()
                .is_some_and(|a| a.contains("LegacyBIOSBootable"));
            assert_eq!(p.bootable, legacy, "{node} attrs");
        } else {
            assert_eq!(p.type_id, format!("0x{:0>2}", ty), "{node} type");
            assert_eq!(
                p.bootable,
                s["bootable"].as_bool().unwrap_or(false),
                "{node} bootable"
            );
        }
    }
}

/// `sgdisk -p`'s table: (number, first sector, last sector, name).
fn sgdisk_print(path: &Path) -> (String, Vec<(u32, u64, u64, String)>) {
    let (ok, out, err) = run("sgdisk", &["-p", path.to_str().unwrap()]);
    assert!(ok, "sgdisk -p: {err}");
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in out.lines() {
        if line.starts_with("Number") {
            in_table = true;
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if in_table && f.len() >= 6 {
            let name = f[6..].join(" ");
            rows.push((
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                name,
            ));
        }
    }
    (out + &err, rows)
}

// ---------------------------------------------------------------- MBR

#[test]
fn mbr_primary_partitions_match_sfdisk() {
    require!("sfdisk", "python3");
    let Some(path) = fixture("mbr-primary.raw") else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.kind, TableKind::Mbr);
    assert!(!t.hybrid);
    let sf = sfdisk_json(&path);
    assert_eq!(t.disk_id.as_deref(), sf["partitiontable"]["id"].as_str());
    assert_eq!(t.disk_id.as_deref(), Some("0x1a2b3c4d"));
    assert_matches_sfdisk(&t.partitions, &sf, 512);
    let names: Vec<&str> = t.partitions.iter().map(|p| p.type_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Linux",
            "Linux swap / Solaris",
            "HPFS/NTFS/exFAT",
            "W95 FAT32 (LBA)"
        ]
    );
    assert!(t.findings.is_empty(), "{:?}", t.findings);
}

#[test]
fn mbr_logical_partitions_match_sfdisk() {
    require!("sfdisk", "python3");
    let Some(path) = fixture("mbr-logical.raw") else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.kind, TableKind::Mbr);
    assert_matches_sfdisk(&t.partitions, &sfdisk_json(&path), 512);
    let summary: Vec<(u32, bool, &str)> = t
        .partitions
        .iter()
        .map(|p| (p.number, p.logical, p.type_name.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (1, false, "Linux"),
            (2, false, "Extended"),
            (5, true, "Linux"),
            (6, true, "Linux LVM"),
            (7, true, "Linux swap / Solaris")
        ]
    );
    assert!(t.partitions[1].is_extended() && !t.partitions[2].is_extended());
    assert!(t.findings.is_empty(), "{:?}", t.findings);
}

#[test]
fn mbr_ebr_loop_is_cut_with_a_finding() {
    require!("sfdisk", "python3");
    let Some(path) = fixture("mbr-loop.raw") else {
        return;
    };
    let t = table(&path);
    let numbers: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 5, 6, 7]);
    assert!(
        t.findings.iter().any(|f| f.contains("loops back")),
        "{:?}",
        t.findings
    );
    // libfdisk follows the loop until its own limit: the first five agree with us.
    let sf = sfdisk_json(&path);
    let theirs = sf["partitiontable"]["partitions"].as_array().unwrap();
    assert!(
        theirs.len() > 5,
        "sfdisk now detects EBR loops: {}",
        theirs.len()
    );
    let first5 = serde_json::json!({"partitiontable": {"partitions": theirs[..5]}});
    assert_matches_sfdisk(&t.partitions, &first5, 512);
}

#[test]
fn truncated_image_reports_partitions_past_the_end() {
    require!("sfdisk", "python3");
    let Some(path) = fixture("truncated.raw") else {
        return;
    };
    let t = table(&path);
    assert_matches_sfdisk(&t.partitions, &sfdisk_json(&path), 512);
    let past: Vec<&String> = t
        .findings
        .iter()
        .filter(|f| f.contains("beyond the end of the disk"))
        .collect();
    assert_eq!(past.len(), 2, "{:?}", t.findings);
    assert!(past[0].starts_with("partition 3") && past[1].starts_with("partition 4"));
}

#[test]
fn whole_disk_filesystems_have_no_partition_table() {
    require!("blkid", "mkfs.vfat", "mkntfs");
    for (name, blkid_type) in [("fat-whole.raw", "vfat"), ("ntfs-whole.raw", "ntfs")] {
        let Some(path) = fixture(name) else { return };
        let t = table(&path);
        assert_eq!(t.kind, TableKind::None, "{name}: {t:?}");
        assert!(t.partitions.is_empty());
        assert!(
            t.findings.iter().any(|f| f.contains("boot sector")),
            "{name}: {:?}",
            t.findings
        );
        // blkid agrees: a filesystem, no PTTYPE (sfdisk, more lenient, would say "dos").
        let (_, out, _) = run("blkid", &["-p", "-o", "export", path.to_str().unwrap()]);
        assert!(!out.contains("PTTYPE="), "{name}: blkid says {out}");
        assert!(
            out.contains(&format!("TYPE={blkid_type}\n")),
            "{name}: blkid says {out}"
        );
    }
}

// ---------------------------------------------------------------- GPT

#[test]
fn gpt_matches_sfdisk_and_sgdisk() {
    require!("sfdisk", "sgdisk");
    let Some(path) = fixture("gpt.raw") else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.kind, TableKind::Gpt);
    assert!(!t.hybrid);
    let sf = sfdisk_json(&path);
    assert_eq!(t.disk_id.as_deref(), sf["partitiontable"]["id"].as_str());
    assert_matches_sfdisk(&t.partitions, &sf, 512);
    let (_, rows) = sgdisk_print(&path);
    let ours: Vec<(u32, u64, u64, String)> = t
        .partitions
        .iter()
        .map(|p| {
            (
                p.number,
                p.start / 512,
                (p.start + p.size) / 512 - 1,
                p.name.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(ours, rows);
    let names: Vec<&str> = t.partitions.iter().map(|p| p.type_name.as_str()).collect();
    assert_eq!(names, ["BIOS boot", "EFI System", "Linux filesystem"]);
    assert!(t.partitions[2].bootable && !t.partitions[0].bootable);
    assert!(t.findings.is_empty(), "{:?}", t.findings);
}

#[test]
fn gpt_hybrid_mbr_is_flagged() {
    require!("sfdisk", "sgdisk");
    let (Some(path), Some(plain)) = (fixture("gpt-hybrid.raw"), fixture("gpt.raw")) else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.kind, TableKind::Gpt);
    assert!(t.hybrid);
    assert_eq!(t.partitions, table(&plain).partitions);
    assert_matches_sfdisk(&t.partitions, &sfdisk_json(&path), 512);
    assert!(
        t.findings.iter().any(|f| f.contains("hybrid MBR")),
        "{:?}",
        t.findings
    );
}

#[test]
fn gpt_damaged_primary_header_falls_back_to_the_backup() {
    require!("sgdisk");
    let (Some(path), Some(plain)) = (fixture("gpt-badprimary.raw"), fixture("gpt.raw")) else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.kind, TableKind::Gpt);
    assert_eq!(t.partitions, table(&plain).partitions);
    assert!(
        t.findings
            .iter()
            .any(|f| f.contains("primary GPT header at LBA 1 is invalid")),
        "{:?}",
        t.findings
    );
    assert!(t
        .findings
        .iter()
        .any(|f| f.contains("using the backup GPT header at LBA 131071")));
    // sgdisk agrees: main header bad, backup used, same partitions.
    let (text, rows) = sgdisk_print(&path);
    assert!(
        text.contains("invalid main GPT header, but valid backup"),
        "{text}"
    );
    assert_eq!(rows.len(), t.partitions.len());
}

#[test]
fn gpt_with_4096_byte_sectors() {
    let Some(path) = fixture("gpt-4k.raw") else {
        return;
    };
    let t = table(&path);
    assert_eq!(t.kind, TableKind::Gpt);
    assert_eq!(
        t.disk_id.as_deref(),
        Some("4C4B4B4B-0000-4000-8000-000000004096")
    );
    assert!(
        t.findings.iter().any(|f| f.contains("4096-byte sectors")),
        "{:?}",
        t.findings
    );
    // Made by sgdisk on a 4Kn loop device: -n 1:256:+16M, -n 2:0:0 (to the last usable LBA).
    let last_usable = 64 * 1024 * 1024 / 4096 - 1 - 5; // backup header + 4 sectors of entries
    let got: Vec<(u32, u64, u64, &str)> = t
        .partitions
        .iter()
        .map(|p| (p.number, p.start, p.size, p.type_name.as_str()))
        .collect();
    let p2_start = 256 * 4096 + 16 * 1024 * 1024;
    assert_eq!(
        got,
        [
            (1, 256 * 4096, 16 * 1024 * 1024, "Linux filesystem"),
            (
                2,
                p2_start,
                (last_usable + 1) * 4096 - p2_start,
                "Linux LVM"
            )
        ]
    );
}

// ---------------------------------------------------------------- hostile tables

/// A 1 MiB disk with a protective MBR and a GPT header built by `edit`.
fn gpt_disk(edit: impl Fn(&mut [u8])) -> MemSource {
    let mut d = vec![0u8; 1 << 20];
    d[446 + 4] = 0xee;
    d[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
    d[446 + 12..446 + 16].copy_from_slice(&2047u32.to_le_bytes());
    d[510] = 0x55;
    d[511] = 0xaa;
    let h = &mut d[512..1024];
    h[..8].copy_from_slice(b"EFI PART");
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&1u64.to_le_bytes());
    h[32..40].copy_from_slice(&2047u64.to_le_bytes());
    h[40..48].copy_from_slice(&34u64.to_le_bytes());
    h[48..56].copy_from_slice(&2014u64.to_le_bytes());
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&128u32.to_le_bytes());
    h[84..88].copy_from_slice(&128u32.to_le_bytes());
    h[88..92].copy_from_slice(&crc32fast::hash(&[0u8; 128 * 128]).to_le_bytes());
    edit(h);
    let crc = crc32fast::hash(&h[..92]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    MemSource::new(d)
}

#[test]
fn gpt_huge_entry_count_is_refused_without_allocating() {
    let d = gpt_disk(|h| h[80..84].copy_from_slice(&u32::MAX.to_le_bytes()));
    let t = read_partition_table(&d).unwrap();
    assert_eq!(t.kind, TableKind::Gpt);
    assert!(t.partitions.is_empty());
    assert!(
        t.findings.iter().any(|f| f.contains("over the limit")),
        "{:?}",
        t.findings
    );
    let d = gpt_disk(|h| h[84..88].copy_from_slice(&100u32.to_le_bytes()));
    let t = read_partition_table(&d).unwrap();
    assert!(
        t.findings.iter().any(|f| f.contains("entry size 100")),
        "{:?}",
        t.findings
    );
    // A well-formed empty GPT is fine (and has no backup header: a finding).
    let t = read_partition_table(&gpt_disk(|_| {})).unwrap();
    assert_eq!(t.kind, TableKind::Gpt);
    assert!(
        t.findings
            .iter()
            .all(|f| f.starts_with("backup GPT header")),
        "{:?}",
        t.findings
    );
}

#[test]
fn mbr_partition_past_the_end_and_bad_boot_flags() {
    let mut d = vec![0u8; 4096];
    d[510] = 0x55;
    d[511] = 0xaa;
    d[446 + 4] = 0x83;
    d[446 + 8..446 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    d[446 + 12..446 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
    let t = read_partition_table(&MemSource::new(d.clone())).unwrap();
    assert_eq!(t.kind, TableKind::Mbr);
    assert_eq!(t.partitions[0].start, u64::from(u32::MAX) * 512);
    assert!(
        t.findings[0].contains("beyond the end of the disk"),
        "{:?}",
        t.findings
    );
    d[446] = 0x12; // boot flag neither 0 nor 0x80: not a table (blkid)
    let t = read_partition_table(&MemSource::new(d)).unwrap();
    assert_eq!(t.kind, TableKind::None);
    assert!(t.findings[0].contains("boot flag 0x12"), "{:?}", t.findings);
    // Tiny and empty disks.
    assert_eq!(
        read_partition_table(&MemSource::new(vec![0; 100]))
            .unwrap()
            .kind,
        TableKind::None
    );
    assert_eq!(
        read_partition_table(&MemSource::new(vec![0; 8192]))
            .unwrap()
            .kind,
        TableKind::None
    );
}

// ---------------------------------------------------------------- LVM2

struct LvmFixture {
    disk: Arc<dyn ReadAt>,
    pv2: Arc<dyn ReadAt>,
    pvs: Vec<Value>,
    lvs: Vec<Value>,
    sha: String,
}

fn lvm_fixture() -> Option<LvmFixture> {
    let names = [
        "lvm-disk.raw",
        "lvm-pv2.raw",
        "lvm.pvs.json",
        "lvm.lvs.json",
        "lvm.sha256",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| fixture(n)).collect::<Option<_>>()?;
    let json = |p: &Path, key: &str| -> Vec<Value> {
        let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["report"][0][key].as_array().unwrap().clone()
    };
    Some(LvmFixture {
        disk: open(&paths[0]),
        pv2: open(&paths[1]),
        pvs: json(&paths[2], "pv"),
        lvs: json(&paths[3], "lv"),
        sha: std::fs::read_to_string(&paths[4]).unwrap(),
    })
}

fn scan_fixture_pvs(fx: &LvmFixture, with_pv2: bool) -> Vec<PhysicalVolume> {
    let t = read_partition_table(&*fx.disk).unwrap();
    let mut pvs = Vec::new();
    for p in &t.partitions {
        let dev = open_partition(fx.disk.clone(), p);
        if let Some(pv) = scan_pv(dev, &format!("partition {}", p.number)).unwrap() {
            pvs.push(pv);
        }
    }
    if with_pv2 {
        pvs.push(
            scan_pv(fx.pv2.clone(), "lvm-pv2")
                .unwrap()
                .expect("lvm-pv2 is a PV"),
        );
    }
    pvs
}

/// sha256 of a device's bytes, by `sha256sum`.
fn sha256sum(dev: &dyn ReadAt) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum");
    let mut stdin = child.stdin.take().unwrap();
    let mut off = 0;
    while off < dev.size() {
        let n = (dev.size() - off).min(1 << 20) as usize;
        stdin.write_all(&dev.read_vec(off, n).unwrap()).unwrap();
        off += n as u64;
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn lvm_pvs_match_pvs_report() {
    require!("lvm", "losetup", "mkfs.ext4", "python3");
    let Some(fx) = lvm_fixture() else { return };
    let t = read_partition_table(&*fx.disk).unwrap();
    assert_eq!(t.partitions[1].type_name, "Linux LVM");
    let pvs = scan_fixture_pvs(&fx, true);
    assert_eq!(pvs.len(), 2, "partition 1 (ext4) is not a PV");
    for (ours, theirs) in pvs.iter().zip(&fx.pvs) {
        assert_eq!(ours.name, theirs["pv_name"].as_str().unwrap());
        assert_eq!(ours.uuid, theirs["pv_uuid"].as_str().unwrap());
        assert_eq!(ours.label_sector, 1);
        assert_eq!(
            ours.data_areas[0].offset.to_string(),
            theirs["pe_start"].as_str().unwrap()
        );
        assert!(ours
            .metadata
            .as_deref()
            .is_some_and(|m| m.contains("vgfix {")));
        assert!(ours.findings.is_empty(), "{:?}", ours.findings);
    }
}

#[test]
fn lvm_volume_group_matches_lvs_report_and_linear_lvs_read_back() {
    require!("lvm", "losetup", "mkfs.ext4", "python3", "sha256sum");
    let Some(fx) = lvm_fixture() else { return };
    let vgs = assemble(scan_fixture_pvs(&fx, true));
    assert_eq!(vgs.len(), 1);
    let vg = &vgs[0];
    assert_eq!(vg.name, "vgfix");
    assert_eq!(vg.extent_size, 1 << 20);
    assert!(vg.missing_pvs.is_empty(), "{:?}", vg.missing_pvs);
    assert!(vg.findings.is_empty(), "{:?}", vg.findings);
    for (pv, theirs) in vg.pvs.iter().zip(&fx.pvs) {
        assert_eq!(pv.uuid, theirs["pv_uuid"].as_str().unwrap());
        assert_eq!(pv.device.as_deref(), theirs["pv_name"].as_str());
        assert_eq!(
            pv.pe_start.to_string(),
            theirs["pe_start"].as_str().unwrap()
        );
        assert_eq!(
            pv.pe_count.to_string(),
            theirs["pv_pe_count"].as_str().unwrap()
        );
    }
    // lvs lists visible LVs (sorted by name), one row per segment.
    let mut names: Vec<&str> = vg.lvs.iter().map(|l| l.name.as_str()).collect();
    names.sort();
    let mut lvs_names: Vec<&str> = fx
        .lvs
        .iter()
        .map(|l| l["lv_name"].as_str().unwrap())
        .collect();
    lvs_names.dedup();
    assert_eq!(names, lvs_names);
    for lv in &vg.lvs {
        let rows: Vec<&Value> = fx
            .lvs
            .iter()
            .filter(|r| r["lv_name"] == lv.name.as_str())
            .collect();
        assert_eq!(lv.uuid, rows[0]["lv_uuid"].as_str().unwrap(), "{}", lv.name);
        assert_eq!(
            lv.size.to_string(),
            rows[0]["lv_size"].as_str().unwrap(),
            "{}",
            lv.name
        );
        assert_eq!(lv.segment_types.len(), rows.len(), "{}", lv.name);
        let linear = rows.iter().all(|r| r["segtype"] == "linear");
        match lv.name.as_str() {
            "root" | "data" => {
                assert!(linear && lv.readable, "{lv:?}");
                assert!(lv.segment_types.iter().all(|t| t == "striped"));
            }
            "stripe" => {
                assert_eq!(rows[0]["stripes"], "2");
                assert!(!lv.readable);
                assert!(
                    lv.reason.as_deref().unwrap().contains("striped over 2 PVs"),
                    "{lv:?}"
                );
            }
            "snap" => {
                // lvs shows the copy-on-write store as linear: only the metadata says snapshot.
                assert!(!lv.readable);
                assert!(
                    lv.reason.as_deref().unwrap().contains("snapshot of root"),
                    "{lv:?}"
                );
            }
            other => panic!("unexpected LV {other}"),
        }
    }
    // The filesystems written into the extents read back byte for byte.
    for (lv_name, label, file, content) in [
        ("root", "lvroot", "/etc/hostname", "lvm-fixture\n"),
        ("data", "lvdata", "/hello", "hello from two segments\n"),
    ] {
        let lv = vg.lvs.iter().find(|l| l.name == lv_name).unwrap();
        let dev = open_lv(vg, lv).unwrap();
        assert_eq!(dev.size(), lv.size);
        assert_eq!(dev.describe(), format!("lv vgfix/{lv_name}"));
        let want = fx
            .sha
            .lines()
            .find(|l| l.ends_with(&format!("{lv_name}.ext4")))
            .unwrap();
        assert!(
            want.starts_with(&sha256sum(&*dev)),
            "{lv_name}: sha256 differs from the ext4 image written"
        );
        // The ext4 superblock: magic 0xEF53 and the volume label.
        let sb = dev.read_vec(1024, 1024).unwrap();
        assert_eq!(&sb[56..58], &[0x53, 0xef]);
        assert_eq!(&sb[120..120 + label.len()], label.as_bytes());
        // Through the filesystem layer too.
        let probe = fs::probe(&*dev).unwrap();
        assert_eq!(probe.kind, FsKind::Ext4);
        assert_eq!(probe.label.as_deref(), Some(label));
        let fsys = fs::open(dev, &probe).unwrap().unwrap();
        assert_eq!(fsys.read_file(file, 1024).unwrap(), content.as_bytes());
    }
    let stripe = vg.lvs.iter().find(|l| l.name == "stripe").unwrap();
    assert!(open_lv(vg, stripe).is_err());
}

#[test]
fn lvm_metadata_wrapping_around_the_circular_buffer() {
    require!("lvm", "losetup", "mkfs.ext4", "python3");
    let Some(fx) = lvm_fixture() else { return };
    let orig = scan_pv(fx.pv2.clone(), "lvm-pv2").unwrap().unwrap();
    let mda = orig.metadata_areas[0];
    let mut img = fx.pv2.read_vec(0, fx.pv2.size() as usize).unwrap();
    let h = mda.offset as usize;
    let le64 = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let (area, off, len) = (le64(&img, h + 32), le64(&img, h + 40), le64(&img, h + 48));
    let text = img[h + off as usize..][..len as usize].to_vec();
    // Move the text so that its first 100 bytes end the area and the rest follows the header.
    let new_off = area - 100;
    img[h + new_off as usize..h + area as usize].copy_from_slice(&text[..100]);
    img[h + 512..h + 512 + text.len() - 100].copy_from_slice(&text[100..]);
    img[h + 40..h + 48].copy_from_slice(&new_off.to_le_bytes());
    let crc = lvm::label::lvm_crc(&[&img[h + 4..h + 512]]);
    img[h..h + 4].copy_from_slice(&crc.to_le_bytes());
    let pv = scan_pv(Arc::new(MemSource::new(img.clone())), "wrapped")
        .unwrap()
        .unwrap();
    assert!(pv.findings.is_empty(), "{:?}", pv.findings);
    assert_eq!(pv.metadata, orig.metadata);
    // One flipped byte in the text: the checksum catches it (a finding, no metadata).
    img[h + 600] ^= 1;
    let pv = scan_pv(Arc::new(MemSource::new(img)), "wrapped")
        .unwrap()
        .unwrap();
    assert!(pv.metadata.is_none());
    assert!(pv.findings[0].contains("checksum"), "{:?}", pv.findings);
}

#[test]
fn lvm_missing_pv_makes_only_its_lvs_unreadable() {
    require!("lvm", "losetup", "mkfs.ext4", "python3");
    let Some(fx) = lvm_fixture() else { return };
    let vgs = assemble(scan_fixture_pvs(&fx, false));
    let vg = &vgs[0];
    assert_eq!(vg.missing_pvs.len(), 1);
    assert!(
        vg.missing_pvs[0].contains("PV2BBB-1111-2222-3333-4444-5555-666666"),
        "{:?}",
        vg.missing_pvs
    );
    let lv = |n: &str| vg.lvs.iter().find(|l| l.name == n).unwrap();
    assert!(lv("root").readable);
    assert!(!lv("data").readable);
    assert!(
        lv("data").reason.as_deref().unwrap().contains("missing"),
        "{:?}",
        lv("data")
    );
    assert!(open_lv(vg, lv("root")).is_ok());
}

// ---------------------------------------------------------------- LVM metadata text

const THIN_AND_RAID: &str = r#"# Generated by LVM2: crafted after the format `vgcfgbackup` writes
# (thin pools and raid need device-mapper to create, which this host lacks).
vg0 {
id = "Vg0Vg0-aaaa-bbbb-cccc-dddd-eeee-ffffff"
seqno = 7
format = "lvm2"
status = ["RESIZEABLE", "READ", "WRITE"]
extent_size = 8192   # 4 MiB
physical_volumes {
pv0 {
id = "TestPV-0000-1111-2222-3333-4444-555555"
device = "/dev/vda2"	# Hint only
status = ["ALLOCATABLE"]
dev_size = 20971520
pe_start = 2048
pe_count = 2559
}
}
logical_volumes {
pool {
id = "aaaaaa-0000-0000-0000-0000-0000-000001"
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 10
type = "thin-pool"
metadata = "pool_tmeta"
pool = "pool_tdata"
transaction_id = 1
chunk_size = 128
discards = "passdown"
zero_new_blocks = 1
}
}
thin {
id = "aaaaaa-0000-0000-0000-0000-0000-000002"
status = ["READ", "WRITE", "VISIBLE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 100
type = "thin"
thin_pool = "pool"
transaction_id = 0
device_id = 1
}
}
pool_tdata {
id = "aaaaaa-0000-0000-0000-0000-0000-000003"
status = ["READ", "WRITE"]
segment_count = 1
segment1 {
start_extent = 0
extent_count = 10
type = "striped"
stripe_count = 1
stripes = [
"pv0", 0
]
}
}
mirror {
id = "aaaaaa-0000-0000-0000-0000-0000-000004"
status = ["READ", "WRITE", "VISIBLE"]
segment1 {
start_extent = 0
extent_count = 5
type = "raid1"
device_count = 2
raids = ["mirror_rmeta_0", "mirror_rimage_0", "mirror_rmeta_1", "mirror_rimage_1"]
}
}
linear {
id = "aaaaaa-0000-0000-0000-0000-0000-000005"
status = ["READ", "WRITE", "VISIBLE"]
creation_host = "host \"quoted\" \\ name"
segment1 {
start_extent = 0
extent_count = 2
type = "striped"
stripe_count = 1	# linear
stripes = [ "pv0", 10 ]
}
}
}
}
contents = "Text Format Volume Group"
version = 1
creation_time = 1700000000	# Tue Nov 14 22:13:20 2023
"#;

#[test]
fn lvm_metadata_text_thin_and_raid_are_not_readable() {
    let root = lvm::metadata::parse(THIN_AND_RAID).unwrap();
    let vg = root.section("vg0").unwrap();
    assert_eq!(vg.int("extent_size"), Some(8192));
    assert_eq!(vg.strings("status"), ["RESIZEABLE", "READ", "WRITE"]);
    let lin = vg
        .section("logical_volumes")
        .unwrap()
        .section("linear")
        .unwrap();
    assert_eq!(lin.str("creation_host"), Some("host \"quoted\" \\ name"));
    assert_eq!(root.str("contents"), Some("Text Format Volume Group"));

    let dev: Arc<dyn ReadAt> = Arc::new(MemSource::new(vec![0; 64 << 20]));
    let pv = PhysicalVolume {
        name: "partition 2".into(),
        uuid: "TestPV-0000-1111-2222-3333-4444-555555".into(),
        device_size: 16 << 20,
        label_sector: 1,
        data_areas: vec![],
        metadata_areas: vec![],
        metadata: Some(THIN_AND_RAID.into()),
        findings: vec![],
        dev,
    };
    let vgs = assemble(vec![pv]);
    let vg = &vgs[0];
    let got: Vec<(&str, bool, Vec<&str>)> = vg
        .lvs
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.readable,
                l.segment_types.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    // Hidden LVs (pool_tdata) are not listed.
    assert_eq!(
        got,
        [
            ("pool", false, vec!["thin-pool"]),
            ("thin", false, vec!["thin"]),
            ("mirror", false, vec!["raid1"]),
            ("linear", true, vec!["striped"]),
        ]
    );
    assert_eq!(vg.lvs[1].size, 100 * 4 * 1024 * 1024);
    assert!(vg.lvs[1].reason.as_deref().unwrap().contains("\"thin\""));
    let dev = open_lv(vg, &vg.lvs[3]).unwrap();
    assert_eq!(dev.size(), 8 << 20);
    assert!(dev.read_vec((8 << 20) - 1, 1).is_ok());
    assert!(dev.read_vec(8 << 20, 1).is_err());
    // extents past the end of a 4 MiB device: readable=false, not a read error later.
    let short: Arc<dyn ReadAt> = Arc::new(MemSource::new(vec![0; 4 << 20]));
    let mut pv = vgs_pv(short);
    pv.metadata = Some(THIN_AND_RAID.into());
    let vgs = assemble(vec![pv]);
    let linear = vgs[0].lvs.iter().find(|l| l.name == "linear").unwrap();
    assert!(
        linear
            .reason
            .as_deref()
            .unwrap()
            .contains("image truncated"),
        "{linear:?}"
    );
}

fn vgs_pv(dev: Arc<dyn ReadAt>) -> PhysicalVolume {
    PhysicalVolume {
        name: "partition 2".into(),
        uuid: "TestPV00001111222233334444555555".into(),
        device_size: dev.size(),
        label_sector: 1,
        data_areas: vec![],
        metadata_areas: vec![],
        metadata: None,
        findings: vec![],
        dev,
    }
}

#[test]
fn lvm_metadata_text_errors_and_limits() {
    use imgport_inspect::Error;
    let err = |t: &str| lvm::metadata::parse(t).unwrap_err();
    assert!(matches!(err("a { b = 1 "), Error::Corrupt { .. }));
    assert!(matches!(err("a = [1, [2]]"), Error::Corrupt { .. }));
    assert!(matches!(
        err("a = \"open"),
        Error::Corrupt { offset: 4, .. }
    ));
    assert!(matches!(
        err("a = 99999999999999999999"),
        Error::Corrupt { .. }
    ));
    assert!(matches!(err("}"), Error::Corrupt { offset: 0, .. }));
    let deep = "a {".repeat(100) + &"}".repeat(100);
    assert!(matches!(err(&deep), Error::Limit { .. }));
    let big = "# ".repeat(lvm::metadata::MAX_TEXT);
    assert!(matches!(err(&big), Error::Limit { .. }));
    let ok = lvm::metadata::parse("x = -1.5 y = [] z = 'single' w=[1 2,3]").unwrap();
    assert_eq!(ok.get("x"), Some(&lvm::metadata::Value::Float(-1.5)));
    assert_eq!(ok.str("z"), Some("single"));
}

#[test]
fn lvm_damaged_label_is_an_error_and_no_label_is_none() {
    let mut d = vec![0u8; 1 << 20];
    let none = scan_pv(Arc::new(MemSource::new(d.clone())), "x").unwrap();
    assert!(none.is_none());
    d[512..520].copy_from_slice(b"LABELONE");
    d[520..528].copy_from_slice(&1u64.to_le_bytes());
    let e = scan_pv(Arc::new(MemSource::new(d)), "x").unwrap_err();
    assert!(e.to_string().contains("LVM label at offset 512"), "{e}");
}
