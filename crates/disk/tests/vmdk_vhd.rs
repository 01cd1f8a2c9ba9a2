//! VMDK and VHD readers against qemu-img as the oracle (R-FMT, R-SIZE-VIRTUAL,
//! R-SIZE-ACTUAL): images are built at test time from a small raw disk with
//! `qemu-img convert`, then format, virtual size, guest bytes (SHA-256 of
//! `qemu-img convert -O raw`) and `measure` (`qemu-img measure -O qcow2`) must agree.
//! Damaged and malicious images must give the right error, never a panic.

use imgport_disk::{open_as, open_path, Error, ErrorCode, Format, MemSource, ReadAt, VirtualDisk};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use imgport_test_support::{have_qemu_img, noise, qemu_img, qemu_json};

const MIB: u64 = 1 << 20;
/// 64 MiB plus a tail that is not a multiple of a grain, a block or even a sector.
const RAW_SIZE: u64 = 64 * MIB + 12345;

/// A sparse raw disk with data in a few places: at 0, across a 64 KiB grain and a
/// 2 MiB block boundary, a compressible run, and in the unaligned tail.
fn make_raw(dir: &Path) -> PathBuf {
    let p = dir.join("base.raw");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(RAW_SIZE).unwrap();
    use std::os::unix::fs::FileExt;
    for (i, &(off, len)) in [
        (0u64, 70_000usize),
        (2 * MIB - 5000, 300_000),
        (33 * MIB + 512, 4096),
        (RAW_SIZE - 9000, 9000),
    ]
    .iter()
    .enumerate()
    {
        f.write_all_at(&noise(i as u64 + 7, len), off).unwrap();
    }
    f.write_all_at(&vec![0x5a; 200_000], 40 * MIB).unwrap();
    p
}

fn sha_file(p: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(p).unwrap()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha_disk(d: &dyn VirtualDisk) -> String {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 4 * MIB as usize + 4096];
    let mut off = 0;
    // Odd-sized chunks cross grain and block boundaries mid-way.
    while off < d.size() {
        let n = (d.size() - off).min(buf.len() as u64) as usize;
        d.read_exact_at(&mut buf[..n], off).unwrap();
        h.update(&buf[..n]);
        off += n as u64;
    }
    hex(&h.finalize())
}

/// Check one image against qemu-img: format, subformat, size, bytes, measure.
fn check_against_qemu(
    img: &Path,
    qfmt: &str,
    format: Format,
    subformat: &str,
    cluster: Option<u64>,
) {
    let name = img.display().to_string();
    let disk = open_path(img).unwrap_or_else(|e| panic!("{name}: {e}"));
    let info = disk.info();
    assert_eq!(info.format, format, "{name}");
    assert_eq!(info.subformat, subformat, "{name}");
    assert_eq!(info.cluster_size, cluster, "{name}");
    let qinfo = qemu_json(&["info", "-f", qfmt, "--output=json", &name]);
    assert_eq!(
        Some(info.virtual_size),
        qinfo["virtual-size"].as_u64(),
        "{name}: virtual size"
    );
    assert_eq!(disk.size(), info.virtual_size);

    let raw = img.with_extension("out.raw");
    qemu_img(&[
        "convert",
        "-f",
        qfmt,
        "-O",
        "raw",
        &name,
        raw.to_str().unwrap(),
    ]);
    assert_eq!(sha_disk(&*disk), sha_file(&raw), "{name}: guest bytes");

    // Unaligned reads crossing grains/blocks, compared with the raw bytes.
    let want = std::fs::read(&raw).unwrap();
    for (off, len) in [
        (1u64, 1usize),
        (65_535, 3),
        (2 * MIB - 700, 70_000),
        (info.virtual_size - 5000, 5000),
    ] {
        let mut got = vec![0u8; len];
        disk.read_exact_at(&mut got, off).unwrap();
        assert_eq!(
            got,
            want[off as usize..off as usize + len],
            "{name}: read at {off}"
        );
    }
    let mut past = [0u8; 2];
    assert!(disk
        .read_exact_at(&mut past, info.virtual_size - 1)
        .is_err());

    let m = imgport_disk::measure(&*disk, 65536).unwrap();
    let q = qemu_json(&["measure", "-f", qfmt, "-O", "qcow2", "--output=json", &name]);
    assert_eq!(
        Some(m.required),
        q["required"].as_u64(),
        "{name}: measure required"
    );
    assert_eq!(
        Some(m.fully_allocated),
        q["fully-allocated"].as_u64(),
        "{name}: fully allocated"
    );

    // The extent map covers the disk without gaps.
    let ex = disk.extents(0, u64::MAX).unwrap();
    let mut pos = 0;
    for e in &ex {
        assert_eq!(e.offset, pos, "{name}: extents contiguous");
        pos += e.length;
    }
    assert_eq!(pos, info.virtual_size);
}

/// Output name, `qemu-img convert` options, qemu format name, our format,
/// subformat, cluster size.
type Case<'a> = (
    &'a str,
    &'a [&'a str],
    &'a str,
    Format,
    &'a str,
    Option<u64>,
);

#[test]
fn qemu_made_images_match_qemu() {
    if !have_qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = make_raw(dir.path());
    let r = raw.to_str().unwrap();
    let cases: &[Case] = &[
        (
            "sparse.vmdk",
            &["-O", "vmdk"],
            "vmdk",
            Format::Vmdk,
            "monolithicSparse",
            Some(65536),
        ),
        (
            "stream.vmdk",
            &["-O", "vmdk", "-o", "subformat=streamOptimized"],
            "vmdk",
            Format::Vmdk,
            "streamOptimized",
            Some(65536),
        ),
        (
            "zg.vmdk",
            &["-O", "vmdk", "-o", "zeroed_grain=on"],
            "vmdk",
            Format::Vmdk,
            "monolithicSparse",
            Some(65536),
        ),
        (
            "dyn.vhd",
            &["-O", "vpc", "-o", "subformat=dynamic"],
            "vpc",
            Format::Vhd,
            "dynamic",
            Some(2 * MIB),
        ),
        (
            "fixed.vhd",
            &["-O", "vpc", "-o", "subformat=fixed"],
            "vpc",
            Format::Vhd,
            "fixed",
            None,
        ),
        (
            "dynfs.vhd",
            &["-O", "vpc", "-o", "subformat=dynamic,force_size=on"],
            "vpc",
            Format::Vhd,
            "dynamic",
            Some(2 * MIB),
        ),
        (
            "fixedfs.vhd",
            &["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
            "vpc",
            Format::Vhd,
            "fixed",
            None,
        ),
    ];
    for (name, opts, qfmt, format, sub, cluster) in cases {
        let out = dir.path().join(name);
        let mut args = vec!["convert", "-f", "raw"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[r, out.to_str().unwrap()]);
        qemu_img(&args);
        check_against_qemu(&out, qfmt, *format, sub, *cluster);
    }
}

#[test]
fn zeroed_grains_are_zero_extents() {
    if !have_qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("zg.vmdk");
    let p = img.to_str().unwrap();
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "vmdk",
        "-o",
        "zeroed_grain=on",
        p,
        "8M",
    ]);
    let w = |cmd: &str| {
        let out = Command::new("qemu-io")
            .args(["-f", "vmdk", "-c", cmd, p])
            .output();
        out.is_ok_and(|o| o.status.success())
    };
    assert!(
        w("write -P 0x11 0 1M") && w("write -z 256k 128k"),
        "qemu-io"
    );
    let disk = open_path(&img).unwrap();
    let ex = disk.extents(0, disk.size()).unwrap();
    let zero: u64 = ex
        .iter()
        .filter(|e| e.kind == imgport_disk::ExtentKind::Zero)
        .map(|e| e.length)
        .sum();
    assert_eq!(zero, 128 * 1024, "{ex:?}");
    let mut b = vec![1u8; 4096];
    disk.read_exact_at(&mut b, 300 * 1024).unwrap();
    assert!(b.iter().all(|&x| x == 0));
    check_against_qemu(&img, "vmdk", Format::Vmdk, "monolithicSparse", Some(65536));
}

// ---- A VMware-style stream-optimized file (GD at the end, footer, markers) ----

const DESC: &str = "# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n# Extent description\nRW {SECTORS} SPARSE \"vmware.vmdk\"\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"lsilogic\"\nddb.virtualHWVersion = \"14\"\n";

fn sparse_header(capacity: u64, gd_offset: u64, grain_offset: u64) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[0..4].copy_from_slice(b"KDMV");
    h[4..8].copy_from_slice(&3u32.to_le_bytes());
    h[8..12].copy_from_slice(&0x3_0001u32.to_le_bytes());
    h[12..20].copy_from_slice(&capacity.to_le_bytes());
    h[20..28].copy_from_slice(&128u64.to_le_bytes());
    h[28..36].copy_from_slice(&1u64.to_le_bytes());
    h[36..44].copy_from_slice(&20u64.to_le_bytes());
    h[44..48].copy_from_slice(&512u32.to_le_bytes());
    h[56..64].copy_from_slice(&gd_offset.to_le_bytes());
    h[64..72].copy_from_slice(&grain_offset.to_le_bytes());
    h[73..77].copy_from_slice(b"\n \r\n");
    h[77..79].copy_from_slice(&1u16.to_le_bytes());
    h
}

fn marker(val: u64, ty: u32) -> Vec<u8> {
    let mut m = vec![0u8; 512];
    m[0..8].copy_from_slice(&val.to_le_bytes());
    m[12..16].copy_from_slice(&ty.to_le_bytes());
    m
}

fn pad(v: &mut Vec<u8>) {
    v.resize(v.len().div_ceil(512) * 512, 0);
}

/// Build a stream-optimized VMDK as VMware writes it: header with `GD_AT_END`,
/// compressed grains behind grain markers, grain tables and the directory behind
/// metadata markers, then footer marker, footer header and end-of-stream marker.
fn vmware_stream(raw: &[u8]) -> Vec<u8> {
    let capacity = (raw.len() as u64).div_ceil(512);
    let grain = 65536usize;
    let mut f = sparse_header(capacity, u64::MAX, 128);
    let desc = DESC.replace("{SECTORS}", &capacity.to_string());
    f.extend_from_slice(desc.as_bytes());
    f.resize(128 * 512, 0);
    let grains = raw.len().div_ceil(grain);
    let mut gtes = vec![0u32; grains.div_ceil(512) * 512];
    for (g, gte) in gtes.iter_mut().enumerate().take(grains) {
        let chunk = &raw[g * grain..((g + 1) * grain).min(raw.len())];
        if chunk.iter().all(|&b| b == 0) {
            continue;
        }
        *gte = (f.len() / 512) as u32;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(chunk).unwrap();
        let z = z.finish().unwrap();
        f.extend_from_slice(&((g * 128) as u64).to_le_bytes());
        f.extend_from_slice(&(z.len() as u32).to_le_bytes());
        f.extend_from_slice(&z);
        pad(&mut f);
    }
    let mut gd = Vec::new();
    for t in gtes.chunks(512) {
        f.extend_from_slice(&marker(4, 1));
        gd.push((f.len() / 512) as u32);
        for e in t {
            f.extend_from_slice(&e.to_le_bytes());
        }
    }
    f.extend_from_slice(&marker(gd.len().div_ceil(128) as u64, 2));
    let gd_sector = (f.len() / 512) as u64;
    for e in &gd {
        f.extend_from_slice(&e.to_le_bytes());
    }
    pad(&mut f);
    f.extend_from_slice(&marker(1, 3));
    f.extend_from_slice(&sparse_header(capacity, gd_sector, 128));
    f.extend_from_slice(&marker(0, 0));
    f
}

#[test]
fn vmware_stream_optimized_with_footer_matches_qemu() {
    if !have_qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut raw = std::fs::read(make_raw(dir.path())).unwrap();
    raw.truncate(8 * MIB as usize + 4096);
    let img = dir.path().join("vmware.vmdk");
    std::fs::write(&img, vmware_stream(&raw)).unwrap();
    check_against_qemu(&img, "vmdk", Format::Vmdk, "streamOptimized", Some(65536));
    let disk = open_path(&img).unwrap();
    assert_eq!(disk.info().details["gd_at_end"], true);
    assert_eq!(disk.info().details["adapter_type"], "lsilogic");
    // Truncating the stream loses the footer.
    let bytes = std::fs::read(&img).unwrap();
    let cut = &bytes[..bytes.len() - 700];
    assert_corrupt(&open_mem(cut, Format::Vmdk), "stream footer");
}

// ---- damaged and malicious images ----

fn open_mem(b: &[u8], f: Format) -> imgport_disk::Result<Box<dyn VirtualDisk>> {
    open_as(Arc::new(MemSource::new(b.to_vec())), f)
}

/// Open, then read everything and walk the extents: the first error is returned.
fn open_and_read(b: &[u8], f: Format) -> imgport_disk::Result<()> {
    let d = open_mem(b, f)?;
    d.extents(0, d.size())?;
    let mut buf = vec![0u8; MIB as usize];
    let mut off = 0;
    while off < d.size() {
        let n = (d.size() - off).min(MIB) as usize;
        d.read_exact_at(&mut buf[..n], off)?;
        off += n as u64;
    }
    Ok(())
}

fn assert_corrupt<T>(r: &imgport_disk::Result<T>, structure: &str) {
    match r {
        Err(e @ Error::Corrupt { structure: s, .. }) => {
            assert!(
                s.contains(structure),
                "wanted a corrupt {structure}, got: {e}"
            );
            assert_eq!(e.code(), ErrorCode::InvalidFormatSize);
        }
        Err(e) => panic!("wanted Corrupt {structure}, got: {e}"),
        Ok(_) => panic!("wanted Corrupt {structure}, got success"),
    }
}

fn assert_unsafe<T>(r: imgport_disk::Result<T>, what: &str) {
    match r {
        Err(e @ Error::Unsafe { .. }) => {
            assert!(e.to_string().contains(what), "{e} should mention {what}");
            assert_eq!(e.code(), ErrorCode::InvalidFormatSize);
        }
        Err(e) => panic!("wanted Unsafe ({what}), got: {e}"),
        Ok(_) => panic!("wanted Unsafe ({what}), got success"),
    }
}

struct Images {
    _dir: tempfile::TempDir,
    sparse: Vec<u8>,
    stream: Vec<u8>,
    dynamic: Vec<u8>,
    fixed: Vec<u8>,
}

fn images() -> Option<Images> {
    if !have_qemu_img() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = make_raw(dir.path());
    let r = raw.to_str().unwrap();
    let mk = |name: &str, opts: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["convert", "-f", "raw"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[r, out.to_str().unwrap()]);
        qemu_img(&args);
        std::fs::read(out).unwrap()
    };
    Some(Images {
        sparse: mk("s.vmdk", &["-O", "vmdk"]),
        stream: mk(
            "so.vmdk",
            &["-O", "vmdk", "-o", "subformat=streamOptimized"],
        ),
        dynamic: mk("d.vhd", &["-O", "vpc"]),
        fixed: mk("f.vhd", &["-O", "vpc", "-o", "subformat=fixed"]),
        _dir: dir,
    })
}

#[test]
fn truncated_images_are_corrupt() {
    let Some(im) = images() else { return };
    for (name, b) in [("sparse", &im.sparse), ("stream", &im.stream)] {
        let len = b.len();
        for (cut, structure) in [
            // Before the first grain: qemu's "File truncated" check on the header.
            (600, "header"),
            (12_000, "header"),
            (len / 2, "grain"),
            (len - 70_000, "grain"),
        ] {
            let r = open_and_read(&b[..cut], Format::Vmdk);
            assert_corrupt(&r, structure);
            eprintln!("{name} cut at {cut}: {}", r.unwrap_err());
        }
        // Detection still says VMDK, and the reader refuses it.
        assert!(matches!(
            open_and_read(&b[..len / 2], Format::Vmdk),
            Err(Error::Corrupt { .. })
        ));
    }
    let len = im.dynamic.len();
    for (cut, structure) in [
        (600, "dynamic disk header"),
        (1200, "dynamic disk header"),
        (2000, "BAT"),
        (len / 2, "BAT entry"),
        (len - 513, "BAT entry"),
    ] {
        assert_corrupt(&open_and_read(&im.dynamic[..cut], Format::Vhd), structure);
    }
    // Only the trailing footer copy lost: the data is complete (qemu opens it); noted.
    let d = open_mem(&im.dynamic[..len - 512], Format::Vhd).unwrap();
    assert!(
        d.info().findings.iter().any(|f| f.contains("footer copy")),
        "{:?}",
        d.info().findings
    );
    // A cut fixed disk has lost its footer.
    let len = im.fixed.len();
    for cut in [len - 1, len / 2, 600] {
        assert_corrupt(&open_and_read(&im.fixed[..cut], Format::Vhd), "footer");
    }
    assert_corrupt(&open_mem(&im.fixed[..100], Format::Vhd), "footer");
    assert_corrupt(&open_mem(&im.sparse[..100], Format::Vmdk), "header");
}

#[test]
fn descriptor_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("evil.vmdk");
    let text = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n# Extent description\nRW 2048 FLAT \"/etc/passwd\" 0\n";
    std::fs::write(&p, text).unwrap();
    assert_unsafe(open_path(&p), "/etc/passwd");
    // qemu's probe also takes a bare `version=1` first line.
    std::fs::write(&p, "version=1\ncreateType=\"twoGbMaxExtentSparse\"\nRW 4192256 SPARSE \"disk-s001.vmdk\"\nRW 4192256 SPARSE \"disk-s002.vmdk\"\n").unwrap();
    assert_unsafe(open_path(&p), "disk-s002.vmdk");
    std::fs::write(
        &p,
        "# comment\n  \nversion=2\ncreateType=\"vmfs\"\nRW 100 VMFS \"/dev/sda\"\n",
    )
    .unwrap();
    assert_unsafe(open_path(&p), "/dev/sda");
    // Forced as VMDK, text that is not a descriptor is corrupt, not raw.
    assert_corrupt(&open_mem(b"hello world", Format::Vmdk), "descriptor");
    // Over 1 MiB is not read.
    let mut big = text.as_bytes().to_vec();
    big.resize(2 * MIB as usize, b' ');
    assert!(matches!(
        open_mem(&big, Format::Vmdk),
        Err(Error::Limit { .. })
    ));
    // ESX COWD sparse extents are not supported.
    let mut cowd = vec![0u8; 4096];
    cowd[..4].copy_from_slice(b"COWD");
    assert!(matches!(
        open_mem(&cowd, Format::Vmdk),
        Err(Error::Unsupported { .. })
    ));
}

/// Replace `from` by `to` inside the embedded descriptor (sectors 1..21), keeping
/// the rest of the file in place.
fn patch_descriptor(img: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut v = img.to_vec();
    let region = &img[512..512 * 21];
    let end = region.iter().position(|&b| b == 0).unwrap();
    let text = std::str::from_utf8(&region[..end]).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    let new = text.replace(from, to);
    assert!(new.len() < 20 * 512);
    v[512..512 * 21].fill(0);
    v[512..512 + new.len()].copy_from_slice(new.as_bytes());
    v
}

#[test]
fn sparse_vmdk_naming_other_files_is_refused() {
    let Some(im) = images() else { return };
    let line = "RW 131097 SPARSE \"s.vmdk\"";
    for (to, what) in [
        ("RW 131097 FLAT \"/etc/passwd\" 0", "/etc/passwd"),
        ("RW 131097 SPARSE \"../../etc/shadow\"", "shadow"),
        (
            "RW 131097 SPARSE \"s.vmdk\"\nRW 2048 FLAT \"other.vmdk\" 0",
            "other.vmdk",
        ),
    ] {
        assert_unsafe(
            open_mem(&patch_descriptor(&im.sparse, line, to), Format::Vmdk),
            what,
        );
    }
    // Delta disks: a parent CID or a parent file name.
    let child = patch_descriptor(&im.sparse, "parentCID=ffffffff", "parentCID=0badcafe");
    assert_unsafe(open_mem(&child, Format::Vmdk), "parent");
    let hint = patch_descriptor(
        &im.sparse,
        "# The Disk Data Base",
        "parentFileNameHint=\"base.vmdk\"",
    );
    assert_unsafe(open_mem(&hint, Format::Vmdk), "base.vmdk");
    let split = patch_descriptor(&im.sparse, "monolithicSparse", "twoGbMaxExtentSparse");
    assert_unsafe(open_mem(&split, Format::Vmdk), "twoGbMaxExtentSparse");
    // A renamed file (extent name differs from the file name) is still itself.
    let renamed = patch_descriptor(&im.sparse, "\"s.vmdk\"", "\"renamed copy.vmdk\"");
    open_and_read(&renamed, Format::Vmdk).unwrap();
    // capacity 0 plus a descriptor: qemu treats the descriptor as a descriptor file.
    let mut zero_cap = patch_descriptor(&im.sparse, line, "RW 2048 FLAT \"/etc/passwd\" 0");
    zero_cap[12..20].fill(0);
    assert_unsafe(open_mem(&zero_cap, Format::Vmdk), "/etc/passwd");
}

fn set_vhd_footer(img: &mut [u8], at: usize, f: impl Fn(&mut [u8])) {
    let footer = &mut img[at..at + 512];
    f(footer);
    footer[64..68].fill(0);
    let sum = !footer
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
    footer[64..68].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn differencing_and_damaged_vhd_are_refused() {
    let Some(im) = images() else { return };
    let len = im.dynamic.len();
    let mut diff = im.dynamic.clone();
    for at in [0, len - 512] {
        set_vhd_footer(&mut diff, at, |f| {
            f[60..64].copy_from_slice(&4u32.to_be_bytes())
        });
    }
    assert_unsafe(open_mem(&diff, Format::Vhd), "differencing");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("diff.vhd");
    std::fs::write(&p, &diff).unwrap();
    assert_unsafe(open_path(&p), "differencing");
    let mut fixed_diff = im.fixed.clone();
    let flen = fixed_diff.len();
    set_vhd_footer(&mut fixed_diff, flen - 512, |f| {
        f[60..64].copy_from_slice(&4u32.to_be_bytes())
    });
    assert_unsafe(open_mem(&fixed_diff, Format::Vhd), "differencing");

    // A bad footer checksum (qemu: "Incorrect header checksum").
    let mut bad = im.dynamic.clone();
    bad[0x41] ^= 1;
    assert_corrupt(&open_mem(&bad, Format::Vhd), "footer");
    // Unknown disk type.
    let mut t9 = im.dynamic.clone();
    set_vhd_footer(&mut t9, 0, |f| {
        f[60..64].copy_from_slice(&9u32.to_be_bytes())
    });
    assert!(matches!(
        open_mem(&t9, Format::Vhd),
        Err(Error::Unsupported { .. })
    ));
    // Over qemu's 2040 GiB limit.
    let mut huge = im.fixed.clone();
    set_vhd_footer(&mut huge, flen - 512, |f| {
        f[28..32].copy_from_slice(b"win ");
        f[48..56].copy_from_slice(&(1u64 << 50).to_be_bytes());
    });
    assert!(matches!(
        open_mem(&huge, Format::Vhd),
        Err(Error::Limit { .. })
    ));
    // A fixed disk whose footer claims more data than the file holds.
    let mut big = im.fixed.clone();
    set_vhd_footer(&mut big, flen - 512, |f| {
        f[28..32].copy_from_slice(b"win ");
        f[48..56].copy_from_slice(&(1u64 << 36).to_be_bytes());
    });
    assert_corrupt(&open_mem(&big, Format::Vhd), "footer");
    // The creator table decides the size as in qemu 10: CHS for `qemu`, current_size otherwise.
    let mut win = im.dynamic.clone();
    for at in [0, len - 512] {
        set_vhd_footer(&mut win, at, |f| {
            f[28..32].copy_from_slice(b"win ");
            f[48..56].copy_from_slice(&(60 * MIB).to_be_bytes());
        });
    }
    let d = open_mem(&win, Format::Vhd).unwrap();
    assert_eq!(d.size(), 60 * MIB);
    if have_qemu_img() {
        let p = dir.path().join("win.vhd");
        std::fs::write(&p, &win).unwrap();
        let q = qemu_json(&["info", "-f", "vpc", "--output=json", p.to_str().unwrap()]);
        assert_eq!(q["virtual-size"].as_u64(), Some(60 * MIB));
    }
}

#[test]
fn huge_tables_are_refused_before_allocating() {
    let Some(im) = images() else { return };
    // VMDK capacity whose grain directory would be 2^29 entries.
    let mut v = im.sparse.clone();
    v[12..20].copy_from_slice(&(1u64 << 45).to_le_bytes());
    assert!(
        matches!(open_mem(&v, Format::Vmdk), Err(Error::Limit { .. })),
        "{:?}",
        open_mem(&v, Format::Vmdk).err()
    );
    // A directory of 2^20 entries (4 MiB) past the end of a 1.7 MB file.
    v[12..20].copy_from_slice(&(1u64 << 36).to_le_bytes());
    assert_corrupt(&open_mem(&v, Format::Vmdk), "grain directory");
    // Capacity overflowing bytes.
    v[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_corrupt(&open_mem(&v, Format::Vmdk), "header");
    // Grain size 0 and absurd grain sizes.
    let mut g = im.sparse.clone();
    g[20..28].copy_from_slice(&0u64.to_le_bytes());
    assert_corrupt(&open_mem(&g, Format::Vmdk), "header");
    g[20..28].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert_corrupt(&open_mem(&g, Format::Vmdk), "header");

    // VHD: max_table_entries far beyond the file.
    let dh = 512;
    for entries in [0x7fff_ffffu32, 0x0100_0000, 0x10] {
        let mut d = im.dynamic.clone();
        d[dh + 28..dh + 32].copy_from_slice(&entries.to_be_bytes());
        let r = open_mem(&d, Format::Vhd);
        assert!(
            matches!(r, Err(Error::Corrupt { .. })),
            "{entries}: {:?}",
            r.err()
        );
    }
    // A BAT entry pointing far past the end.
    let mut d = im.dynamic.clone();
    d[1536..1540].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    assert_corrupt(&open_mem(&d, Format::Vhd), "BAT entry");
    // A block size that is not a power of two.
    let mut d = im.dynamic.clone();
    d[dh + 32..dh + 36].copy_from_slice(&3000u32.to_be_bytes());
    assert_corrupt(&open_mem(&d, Format::Vhd), "dynamic disk header");
}

#[test]
fn corrupt_grains_are_reported() {
    let Some(im) = images() else { return };
    // First GT of the stream image: find it through the header's GD offset.
    let gd = u64::from_le_bytes(im.stream[56..64].try_into().unwrap()) as usize * 512;
    let gt = u32::from_le_bytes(im.stream[gd..gd + 4].try_into().unwrap()) as usize * 512;
    let grain = u32::from_le_bytes(im.stream[gt..gt + 4].try_into().unwrap()) as usize * 512;
    // A damaged zlib stream.
    let mut z = im.stream.clone();
    z[grain + 12 + 4..grain + 12 + 40].fill(0xee);
    assert_corrupt(&open_and_read(&z, Format::Vmdk), "compressed grain");
    // A marker size over two grains.
    let mut m = im.stream.clone();
    m[grain + 8..grain + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_corrupt(&open_and_read(&m, Format::Vmdk), "grain marker");
    // A grain table entry past the end of the file.
    let mut p = im.sparse.clone();
    let gd = u64::from_le_bytes(p[56..64].try_into().unwrap()) as usize * 512;
    let gt = u32::from_le_bytes(p[gd..gd + 4].try_into().unwrap()) as usize * 512;
    p[gt..gt + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    assert_corrupt(&open_and_read(&p, Format::Vmdk), "grain table entry");
}
