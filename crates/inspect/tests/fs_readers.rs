//! Identification and the ext2/3/4, FAT and NTFS readers on images built by the
//! real tools (`tests/fixtures/filesystems.sh`: mke2fs -d, mkfs.vfat + mcopy,
//! mkntfs + an ntfs-3g FUSE mount, mkfs.exfat, mkswap, cryptsetup, genisoimage,
//! pvcreate).
//!
//! Oracles:
//! - `blkid -p -o export IMAGE`, recorded next to each image when it is built:
//!   our probe must give the same TYPE (and, for FAT, VERSION), UUID and LABEL;
//! - the source tree `src/` the images were filled from: every listing, file
//!   type, size, byte and symlink target read through our readers must equal it;
//! - `ntfscat` (ntfs-3g's reader) for the 24 MiB registry-hive-sized file.
//!
//! Damaged images (superblock fields broken by the script, and random corruption
//! of the metadata a clean walk reads) must give errors, never panics or hangs.

mod common;

use common::hostile::{bounded_walk, corrupt_and_walk, Attack, Damaged};
use common::tree::compare_tree;
use imgport_disk::{FileSource, ReadAt};
use imgport_inspect::fs::{self, FileSystem, FileType, FsKind, FsProbe};
use imgport_inspect::Error;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------- fixtures

/// The fixture directory, built once per test process by the script.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::build_fixtures("filesystems.sh", "filesystems"))
}

/// A fixture file; `None` (after a SKIPPED line, or a panic under
/// `IMGPORT_TEST_REQUIRE_TOOLS=1`) when the script could not build it here.
fn fixture(name: &str) -> Option<PathBuf> {
    imgport_test_support::fixture(fixtures(), name, "filesystems.sh")
}

fn dev(path: &Path) -> Arc<dyn ReadAt> {
    Arc::new(FileSource::open(path).expect("open fixture"))
}

fn probe_of(kind: FsKind) -> FsProbe {
    FsProbe {
        kind,
        uuid: None,
        label: None,
    }
}

/// Probe the image and open it with what the probe found.
fn open(path: &Path) -> Arc<dyn FileSystem> {
    let d = dev(path);
    let p = fs::probe(&*d).unwrap();
    fs::open(d, &p)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
        .expect("a reader for this kind")
}

// ---------------------------------------------------------------- blkid oracle

/// `blkid -p -o export` output recorded by the script (`\ ` unescaped).
fn blkid_of(img: &Path) -> BTreeMap<String, String> {
    let txt = std::fs::read_to_string(format!("{}.blkid", img.display())).unwrap_or_default();
    txt.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("\\ ", " ").replace("\\\\", "\\")))
        .collect()
}

fn blkid_kind(b: &BTreeMap<String, String>) -> FsKind {
    match (
        b.get("TYPE").map(String::as_str),
        b.get("VERSION").map(String::as_str),
    ) {
        (Some("ext2"), _) => FsKind::Ext2,
        (Some("ext3"), _) => FsKind::Ext3,
        (Some("ext4"), _) => FsKind::Ext4,
        (Some("xfs"), _) => FsKind::Xfs,
        (Some("btrfs"), _) => FsKind::Btrfs,
        (Some("ntfs"), _) => FsKind::Ntfs,
        (Some("vfat"), Some("FAT12")) => FsKind::Fat12,
        (Some("vfat"), Some("FAT16")) => FsKind::Fat16,
        (Some("vfat"), Some("FAT32")) => FsKind::Fat32,
        (Some("exfat"), _) => FsKind::Exfat,
        (Some("swap" | "swsuspend"), _) => FsKind::Swap,
        (Some("crypto_LUKS"), _) => FsKind::Luks,
        (Some("BitLocker"), _) => FsKind::Bitlocker,
        (Some("iso9660"), _) => FsKind::Iso9660,
        (Some("LVM2_member"), _) => FsKind::LvmPv,
        _ => FsKind::Unknown,
    }
}

#[test]
fn probe_agrees_with_blkid() {
    let images = [
        "ext2.img",
        "ext3.img",
        "ext4.img",
        "ext4-1k.img",
        "ext4-inline.img",
        "ext4-mmp.img",
        "ext4-casefold.img",
        "fat12.img",
        "fat16.img",
        "fat32.img",
        "ntfs.img",
        "ntfs-flat.img",
        "exfat.img",
        "swap.img",
        "luks1.img",
        "luks2.img",
        "iso.img",
        "lvm-pv.img",
    ];
    let mut checked = 0;
    for name in images {
        let Some(p) = fixture(name) else { continue };
        let b = blkid_of(&p);
        let want_kind = blkid_kind(&b);
        assert_ne!(want_kind, FsKind::Unknown, "{name}: blkid says {b:?}");
        let got = fs::probe(&*dev(&p)).unwrap();
        assert_eq!(got.kind, want_kind, "{name}: kind (blkid: {b:?})");
        assert_eq!(got.uuid.as_ref(), b.get("UUID"), "{name}: UUID");
        assert_eq!(got.label.as_ref(), b.get("LABEL"), "{name}: LABEL");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} images checked");
}

#[test]
fn probe_of_damaged_and_tiny_devices() {
    // blkid still sees these superblock magics; the readers must refuse the images.
    for name in [
        "ext4-badsb.img",
        "ext4-badbpg.img",
        "fat32-badsb.img",
        "ntfs-badsb.img",
    ] {
        let Some(p) = fixture(name) else { continue };
        let d = dev(&p);
        let pr = fs::probe(&*d).unwrap();
        let kind = if name.starts_with("ext4") {
            FsKind::Ext4
        } else if name.starts_with("fat") {
            FsKind::Fat32
        } else {
            FsKind::Ntfs
        };
        assert!(
            fs::open(d, &probe_of(kind)).is_err(),
            "{name} (probed as {pr:?}) must not open"
        );
    }
    for len in [0usize, 1, 511, 1024, 2047, 4096, 40960] {
        let d = imgport_disk::MemSource::new(vec![0u8; len]);
        assert_eq!(fs::probe(&d).unwrap().kind, FsKind::Unknown);
    }
}

// ---------------------------------------------------------------- comparing with src/

/// The contract's error kinds on the src/ tree.
fn check_errors(fs: &dyn FileSystem, has_links: bool) {
    assert!(matches!(fs.metadata("/nope"), Err(Error::NotFound(_))));
    assert!(matches!(fs.metadata("/etc/nope"), Err(Error::NotFound(_))));
    assert!(matches!(
        fs.read_dir("/empty"),
        Err(Error::NotADirectory(_))
    ));
    assert!(matches!(
        fs.metadata("/empty/x"),
        Err(Error::NotADirectory(_))
    ));
    assert!(matches!(fs.read_file("/etc", 100), Err(Error::NotAFile(_))));
    assert!(matches!(
        fs.read_file("/big.bin", 1000),
        Err(Error::Limit { .. })
    ));
    assert_eq!(fs.metadata("/").unwrap().file_type, FileType::Dir);
    assert_eq!(fs.metadata("//etc/./hostname").unwrap().size, 8);
    if has_links {
        // A symlink in an intermediate component is not followed.
        assert!(matches!(
            fs.metadata("/dirlink/c"),
            Err(Error::NotADirectory(_))
        ));
        assert!(matches!(
            fs.read_dir("/dirlink"),
            Err(Error::NotADirectory(_))
        ));
        assert!(matches!(
            fs.open_file("/link-rel").err(),
            Some(Error::NotAFile(_))
        ));
        // lstat: the final symlink is not followed.
        assert_eq!(
            fs.metadata("/link-rel").unwrap().file_type,
            FileType::Symlink
        );
    }
    // Streaming: read in small pieces.
    let mut r = fs.open_file("/big.bin").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 999];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, std::fs::read(fixtures().join("src/big.bin")).unwrap());
}

// ---------------------------------------------------------------- ext2/3/4

fn ext_matches_source(name: &str) {
    let Some(img) = fixture(name) else { return };
    let fs = open(&img);
    let n = compare_tree(&*fs, "/", &fixtures().join("src"), &["lost+found"]);
    assert!(n > 2200, "{n} entries");
    check_errors(&*fs, true);
}

#[test]
fn ext2_matches_source() {
    ext_matches_source("ext2.img");
}

#[test]
fn ext3_matches_source() {
    ext_matches_source("ext3.img");
}

#[test]
fn ext4_matches_source() {
    ext_matches_source("ext4.img");
}

/// Concurrent callers get more ext workers (each its own `ext4-view` handle; files
/// stay in the worker that opened them): every one still sees the whole tree and
/// streams files whole while the others read.
#[test]
fn ext4_serves_concurrent_readers() {
    let Some(img) = fixture("ext4.img") else {
        return;
    };
    let fs = open(&img);
    let big = std::fs::read(fixtures().join("src/big.bin")).unwrap();
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                let mut r = fs.open_file("/big.bin").unwrap();
                let n = compare_tree(&*fs, "/", &fixtures().join("src"), &["lost+found"]);
                assert!(n > 2200, "{n} entries");
                let mut got = Vec::new();
                r.read_to_end(&mut got).unwrap();
                assert!(got == big, "/big.bin read while others read differs");
            });
        }
    });
}

#[test]
fn ext4_1k_blocks_matches_source() {
    ext_matches_source("ext4-1k.img");
}

/// `mmp`, `large_dir` and `ea_inode` (ext4-view refuses them) do not change how a
/// file's bytes are found: with them masked from its view of the superblock (whose
/// metadata_csum is recomputed) the tree reads as the source.
#[test]
fn ext4_mmp_large_dir_ea_inode_match_source() {
    ext_matches_source("ext4-mmp.img");
}

#[test]
fn ext4_inline_data_and_casefold_are_unsupported_not_a_panic() {
    for name in ["ext4-inline.img", "ext4-casefold.img"] {
        let Some(img) = fixture(name) else {
            return;
        };
        let d = dev(&img);
        let p = fs::probe(&*d).unwrap();
        assert_eq!(p.kind, FsKind::Ext4);
        assert!(
            matches!(fs::open(d, &p), Err(Error::Unsupported(_))),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- FAT

fn fat_matches_source(name: &str, kind: FsKind) {
    let Some(img) = fixture(name) else { return };
    let fs = open(&img);
    assert_eq!(fs.probe().kind, kind);
    let n = compare_tree(&*fs, "/", &fixtures().join("src-nolinks"), &[]);
    assert!(n > 2200, "{n} entries");
    check_errors(&*fs, false);
    // Case-insensitive lookups, by long and by 8.3 name.
    assert_eq!(fs.metadata("/ETC/HOSTNAME").unwrap().size, 8);
    assert_eq!(
        fs.read_file("/mixedcase.txt", 100).unwrap(),
        b"mixed case name\n"
    );
    assert_eq!(fs.metadata("/MIXEDC~1.TXT").unwrap().size, 16);
}

#[test]
fn fat12_matches_source() {
    fat_matches_source("fat12.img", FsKind::Fat12);
}

#[test]
fn fat16_matches_source() {
    fat_matches_source("fat16.img", FsKind::Fat16);
}

#[test]
fn fat32_matches_source() {
    fat_matches_source("fat32.img", FsKind::Fat32);
}

// ---------------------------------------------------------------- NTFS

/// Extra entries the script put at the NTFS root (Windows links and the hive).
const NTFS_EXTRA: &[&str] = &[
    "Windows",
    "junction",
    "junction-target",
    "winlink-rel",
    "winlink-abs",
];

#[test]
fn ntfs_matches_source() {
    let Some(img) = fixture("ntfs.img") else {
        return;
    };
    let fs = open(&img);
    let n = compare_tree(&*fs, "/", &fixtures().join("src"), NTFS_EXTRA);
    assert!(n > 2200, "{n} entries");
    check_errors(&*fs, true);
    // Windows semantics: case-insensitive.
    assert_eq!(fs.metadata("/ETC/HOSTNAME").unwrap().size, 8);
    assert_eq!(
        fs.read_file("/mixedcase.txt", 100).unwrap(),
        b"mixed case name\n"
    );
    assert_eq!(
        fs.metadata("/windows/system32/CONFIG/software")
            .unwrap()
            .file_type,
        FileType::File
    );
}

#[test]
fn ntfs_windows_links() {
    let Some(img) = fixture("ntfs.img") else {
        return;
    };
    let fs = open(&img);
    let listing: BTreeMap<String, FileType> = fs
        .read_dir("/")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.file_type))
        .collect();
    for l in ["winlink-rel", "winlink-abs", "junction"] {
        assert_eq!(listing.get(l), Some(&FileType::Symlink), "listing of {l}");
        assert_eq!(
            fs.metadata(&format!("/{l}")).unwrap().file_type,
            FileType::Symlink
        );
    }
    assert_eq!(listing.get("junction-target"), Some(&FileType::Dir));
    assert_eq!(fs.read_link("/winlink-rel").unwrap(), "etc/os-release");
    assert!(matches!(
        fs.read_link("/winlink-abs"),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        fs.read_link("/junction"),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        fs.read_dir("/junction"),
        Err(Error::NotADirectory(_))
    ));
    assert!(matches!(
        fs.metadata("/junction/x"),
        Err(Error::NotADirectory(_))
    ));
    assert!(matches!(
        fs.open_file("/winlink-rel").err(),
        Some(Error::NotAFile(_))
    ));
}

/// "Quickly" as a count, not a wall-clock bound: the 24 MiB file is read in a bounded
/// number of device reads of about its own size (no re-reading of runs or MFT records).
#[test]
fn ntfs_reads_a_registry_hive_sized_file_quickly() {
    let Some(img) = fixture("ntfs.img") else {
        return;
    };
    let base = dev(&img);
    let counted = Arc::new(Damaged::new(base.clone(), base.size(), vec![]));
    let d: Arc<dyn ReadAt> = counted.clone();
    let p = fs::probe(&*d).unwrap();
    let fs = fs::open(d, &p).unwrap().expect("a reader for NTFS");
    let want = std::fs::read(fixtures().join("SOFTWARE.expected")).unwrap();
    counted.reads.lock().unwrap().clear();
    let got = fs
        .read_file("/Windows/System32/config/SOFTWARE", 80 << 20)
        .unwrap();
    assert!(got == want, "{} vs {} bytes", got.len(), want.len());
    let reads = counted.reads.lock().unwrap();
    let bytes: usize = reads.iter().map(|r| r.1).sum();
    eprintln!(
        "24 MiB hive read with {} device reads, {bytes} bytes",
        reads.len()
    );
    // Measured: 38 reads, 26 MiB (the file and its MFT record, index and runs).
    assert!(bytes <= 2 * want.len(), "{bytes} bytes read");
    assert!(reads.len() <= 1024, "{} device reads", reads.len());
}

#[test]
fn ntfs_flat_fallback_reads_root_files() {
    let Some(p) = fixture("ntfs-flat.img") else {
        return;
    };
    let fs = open(&p);
    for f in [
        "hostname",
        "os-release",
        "big.bin",
        "sparse.bin",
        "small.txt",
    ] {
        let want = std::fs::read(fixtures().join("src").join(
            if f == "hostname" || f == "os-release" {
                format!("etc/{f}")
            } else {
                f.to_string()
            },
        ))
        .unwrap();
        assert_eq!(
            fs.read_file(&format!("/{f}"), 1 << 30).unwrap(),
            want,
            "{f}"
        );
    }
}

// ---------------------------------------------------------------- hostile input

/// Corrupt the metadata a clean walk read, many times over, and truncate the
/// image at several points: every probe/open/walk must end without a panic.
fn hostile(path: &Path, kind: FsKind, rounds: usize) {
    let base = dev(path);
    let opener = |d: Arc<dyn ReadAt>| {
        let _ = fs::probe(&*d);
        fs::open(d, &probe_of(kind)).ok().flatten()
    };
    let size = base.size();
    let cuts = [0, 512, 4096, 65536, 1 << 20, 8 << 20, size / 2, size - 4096];
    corrupt_and_walk(
        base,
        &opener,
        &Attack {
            rounds,
            walk: 300,
            seed: 0x1234_5678_9abc_def1 ^ kind as u64,
            cuts: &cuts,
        },
    );
}

#[test]
fn ext4_hostile_metadata() {
    if let Some(p) = fixture("ext4-1k.img") {
        hostile(&p, FsKind::Ext4, 120);
    }
}

#[test]
fn ext2_hostile_metadata() {
    if let Some(p) = fixture("ext2.img") {
        hostile(&p, FsKind::Ext2, 60);
    }
}

#[test]
fn fat_hostile_metadata() {
    if let Some(p) = fixture("fat16.img") {
        hostile(&p, FsKind::Fat16, 100);
    }
    if let Some(p) = fixture("fat32.img") {
        hostile(&p, FsKind::Fat32, 60);
    }
}

#[test]
fn ntfs_hostile_metadata() {
    if let Some(p) = fixture("ntfs.img") {
        hostile(&p, FsKind::Ntfs, 120);
    }
}

// ---------------------------------------------------------------- fuzz seeds

/// With `IMGPORT_FUZZ_SEEDS=DIR`, write seeds for the `fs_ext`/`fs_fat`/`fs_ntfs`
/// (and `fs_probe`) fuzz targets: the 4 KiB blocks a short walk of each image
/// reads, as the targets' sparse-device records (`u32` LE block index + 4096 bytes).
#[test]
fn write_fuzz_seeds() {
    let Some(out) = std::env::var_os("IMGPORT_FUZZ_SEEDS").map(PathBuf::from) else {
        return;
    };
    for (img, kind, target) in [
        ("ext2.img", FsKind::Ext2, "fs_ext"),
        ("ext4.img", FsKind::Ext4, "fs_ext"),
        ("ext4-1k.img", FsKind::Ext4, "fs_ext"),
        ("fat12.img", FsKind::Fat12, "fs_fat"),
        ("fat16.img", FsKind::Fat16, "fs_fat"),
        ("fat32.img", FsKind::Fat32, "fs_fat"),
        ("ntfs.img", FsKind::Ntfs, "fs_ntfs"),
    ] {
        let Some(path) = fixture(img) else { continue };
        let base = dev(&path);
        let d = Arc::new(Damaged::new(base.clone(), base.size(), vec![]));
        let fs = fs::open(d.clone(), &probe_of(kind)).unwrap().unwrap();
        bounded_walk(&*fs, 40);
        drop(fs);
        let mut blocks: Vec<u64> = Vec::new();
        for &(off, len) in d.reads.lock().unwrap().iter().filter(|r| r.1 <= 65536) {
            blocks.extend(off / 4096..(off + len as u64).div_ceil(4096));
        }
        blocks.sort_unstable();
        blocks.dedup();
        blocks.retain(|&b| b < (1 << 18));
        blocks.truncate(200);
        let mut seed = Vec::new();
        for b in blocks {
            let mut buf = vec![0u8; 4096];
            base.read_exact_at(&mut buf, b * 4096).unwrap();
            seed.extend_from_slice(&(b as u32).to_le_bytes());
            seed.extend_from_slice(&buf);
        }
        for t in [target, "fs_probe"] {
            let dir = out.join(t);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(img), &seed).unwrap();
        }
    }
}
