//! Hostile images made from real ones (issue 18 items 8 and 9): `qemu-img` and
//! `qemu-io` create a valid file, then a few of its table entries are patched so that
//! they share clusters, blocks or grains. Shared by the disk crate's and the CLI's
//! hostile-input suites (`#[path]`-included).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `tool` is installed; when it is not, the test is skipped loudly, or fails
/// under `IMGPORT_TEST_REQUIRE_TOOLS=1` (CI) — the test-support switch.
pub fn have(tool: &str) -> bool {
    imgport_test_support::require_tool(tool, "scripts/apt-packages.txt")
}

/// Run `cmd args…`, panicking with its stderr on failure (test-support).
pub use imgport_test_support::run;

/// `qemu-img check`'s exit status (0 clean, 2 corruptions, 3 leaks only) and output.
pub fn qemu_check(p: &Path) -> (i32, String) {
    let out = Command::new("qemu-img")
        .arg("check")
        .arg(p)
        .output()
        .expect("qemu-img check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

pub fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes(b[o..o + 4].try_into().unwrap())
}
pub fn be64(b: &[u8], o: usize) -> u64 {
    u64::from_be_bytes(b[o..o + 8].try_into().unwrap())
}
pub fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
pub fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
pub fn put_be64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_be_bytes());
}
pub fn put_be32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_be_bytes());
}
pub fn put_le32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

const L2_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;

/// A qcow2 made by qemu-img: `size` of virtual disk (`40G`), one 64 KiB cluster written
/// at guest offset 0 by qemu-io (compressed when `compressed`).
pub struct Qcow2 {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub l1_offset: usize,
    pub l1_size: usize,
    pub l2_offset: usize,
    pub cluster: usize,
}

impl Qcow2 {
    pub fn create(dir: &Path, name: &str, size: &str, compressed: bool) -> Qcow2 {
        let path = dir.join(name);
        let p = path.to_str().unwrap();
        run("qemu-img", &["create", "-q", "-f", "qcow2", p, size]);
        let write = if compressed {
            "write -c -P 0x41 0 64k"
        } else {
            "write -P 0x41 0 64k"
        };
        run("qemu-io", &["-f", "qcow2", "-c", write, p]);
        let bytes = std::fs::read(&path).unwrap();
        let l1_offset = be64(&bytes, 40) as usize;
        let l1_size = be32(&bytes, 36) as usize;
        let l2_offset = (be64(&bytes, l1_offset) & L2_OFFSET_MASK) as usize;
        Qcow2 {
            path,
            cluster: 1 << be32(&bytes, 20),
            bytes,
            l1_offset,
            l1_size,
            l2_offset,
        }
    }

    /// L1 entries covering `virtual` bytes of guest.
    pub fn l1_used(&self) -> usize {
        let per_l1 = self.cluster as u64 * (self.cluster as u64 / 8);
        (be64(&self.bytes, 24).div_ceil(per_l1) as usize).min(self.l1_size)
    }

    /// Every L1 entry that maps the guest names the first L2 table.
    pub fn share_l2_table(&mut self) {
        let first = be64(&self.bytes, self.l1_offset);
        for i in 1..self.l1_used() {
            put_be64(&mut self.bytes, self.l1_offset + 8 * i, first);
        }
    }

    /// Every entry of the first L2 table names the first one's cluster (`and_mask`
    /// applied, e.g. to clear the COPIED flag).
    pub fn share_first_cluster(&mut self, and_mask: u64) {
        let first = be64(&self.bytes, self.l2_offset) & and_mask;
        for j in 0..self.cluster / 8 {
            put_be64(&mut self.bytes, self.l2_offset + 8 * j, first);
        }
    }

    /// The host offset of the data cluster L2 entry 0 names (uncompressed).
    pub fn first_data_cluster(&self) -> u64 {
        be64(&self.bytes, self.l2_offset) & L2_OFFSET_MASK
    }

    /// Set the 16-bit refcount of the host cluster at `host`.
    pub fn set_refcount(&mut self, host: u64, refcount: u16) {
        assert_eq!(be32(&self.bytes, 96), 4, "16-bit refcounts");
        let table = be64(&self.bytes, 48) as usize;
        let index = host as usize / self.cluster;
        let per_block = self.cluster / 2;
        let block = (be64(&self.bytes, table + 8 * (index / per_block)) & !0x1ff) as usize;
        let at = block + 2 * (index % per_block);
        self.bytes[at..at + 2].copy_from_slice(&refcount.to_be_bytes());
    }

    pub fn save(&self) -> &Path {
        std::fs::write(&self.path, &self.bytes).unwrap();
        &self.path
    }
}

/// A dynamic VHD of `size` with the first 2 MiB block written; every BAT entry that
/// maps the guest then names that block.
pub fn vhd_sharing_one_block(dir: &Path) -> PathBuf {
    let path = dir.join("shared-blocks.vhd");
    let p = path.to_str().unwrap();
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "vpc",
            "-o",
            "subformat=dynamic",
            p,
            "8G",
        ],
    );
    run("qemu-io", &["-f", "vpc", "-c", "write -P 0x41 0 2M", p]);
    let mut b = std::fs::read(&path).unwrap();
    let dyn_at = be64(&b, 16) as usize;
    let bat = be64(&b, dyn_at + 16) as usize;
    let entries = be32(&b, dyn_at + 28) as usize;
    let first = be32(&b, bat);
    assert_ne!(first, u32::MAX, "block 0 was written");
    for i in 1..entries {
        put_be32(&mut b, bat + 4 * i, first);
    }
    std::fs::write(&path, &b).unwrap();
    path
}

/// A monolithicSparse VMDK by qemu-img, 64 KiB written at 0.
pub struct Vmdk {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub gd: usize,
    pub gd_entries: usize,
    pub gt: usize,
}

impl Vmdk {
    pub fn create(dir: &Path, name: &str) -> Vmdk {
        let path = dir.join(name);
        let p = path.to_str().unwrap();
        run("qemu-img", &["create", "-q", "-f", "vmdk", p, "8G"]);
        run("qemu-io", &["-f", "vmdk", "-c", "write -P 0x41 0 64k", p]);
        let bytes = std::fs::read(&path).unwrap();
        let capacity = le64(&bytes, 12);
        let grain = le64(&bytes, 20);
        let per_gt = u64::from(le32(&bytes, 44));
        let gd = le64(&bytes, 56) as usize * 512;
        let gt = le32(&bytes, gd) as usize * 512;
        Vmdk {
            path,
            gd,
            gd_entries: capacity.div_ceil(grain * per_gt) as usize,
            gt,
            bytes,
        }
    }

    /// Every grain directory entry names the first grain table.
    pub fn share_grain_table(&mut self) {
        let first = le32(&self.bytes, self.gd);
        for i in 1..self.gd_entries {
            put_le32(&mut self.bytes, self.gd + 4 * i, first);
        }
    }

    /// The first `n` entries of the first grain table name the first grain.
    pub fn share_first_grain(&mut self, n: usize) {
        let first = le32(&self.bytes, self.gt);
        for j in 1..n {
            put_le32(&mut self.bytes, self.gt + 4 * j, first);
        }
    }

    /// Grain table entry 1 names the grain directory's sector.
    pub fn grain_over_directory(&mut self) {
        let gd_sector = (self.gd / 512) as u32;
        put_le32(&mut self.bytes, self.gt + 4, gd_sector);
    }

    pub fn save(&self) -> &Path {
        std::fs::write(&self.path, &self.bytes).unwrap();
        &self.path
    }
}

/// A cloop file made by `create_compressed_fs` (cloop-utils) from 1 MiB of data.
pub fn cloop(dir: &Path) -> PathBuf {
    let raw = dir.join("cloop-src.img");
    std::fs::write(&raw, vec![0x5au8; 1 << 20]).unwrap();
    let out = dir.join("disk.cloop");
    run(
        "create_compressed_fs",
        &["-q", raw.to_str().unwrap(), out.to_str().unwrap()],
    );
    out
}

/// A growing Bochs disk made by `bximage`.
pub fn bochs(dir: &Path) -> PathBuf {
    let out = dir.join("disk.bochs");
    run(
        "bximage",
        &[
            "-func=create",
            "-hd=10M",
            "-imgmode=growing",
            "-q",
            out.to_str().unwrap(),
        ],
    );
    out
}

/// `qemu-img info`'s name for the format of `p`.
pub fn qemu_format(p: &Path) -> String {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(p)
        .output()
        .expect("qemu-img info");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("qemu-img info json");
    v["format"].as_str().unwrap_or_default().to_string()
}
