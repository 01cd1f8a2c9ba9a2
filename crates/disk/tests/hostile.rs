//! Hostile images (issue 18 items 8 and 9, R-FMT): real files from qemu-img, qemu-io,
//! create_compressed_fs and bximage, patched where the attack needs it. Each must be
//! refused at open with InvalidFormatSize and a message that says why, reading
//! metadata only; `qemu-img check` is the oracle for qcow2 corruption.

#[path = "support/hostile_images.rs"]
mod hostile_images;

use hostile_images::*;
use imgport_disk::{detect, open_path, ErrorCode, FileSource, ReadAt};

/// Open `p`, expecting a refusal; its message.
fn refused(p: &std::path::Path) -> String {
    let src = std::sync::Arc::new(FileSource::open(p).unwrap());
    let e = match imgport_disk::open(src.clone()) {
        Ok(d) => panic!(
            "{} opened as {} of {} bytes",
            p.display(),
            d.info().format,
            d.size()
        ),
        Err(e) => e,
    };
    assert_eq!(e.code(), ErrorCode::InvalidFormatSize, "{e}");
    // Metadata only: a few tables, never the (repeated) data.
    assert!(
        src.bytes_read() < 2 << 20,
        "{}: read {} bytes to refuse it",
        p.display(),
        src.bytes_read()
    );
    e.to_string()
}

#[test]
fn qcow2_l1_entries_sharing_one_l2_table_are_refused() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut q = Qcow2::create(dir.path(), "shared-l2.qcow2", "40G", false);
    assert!(open_path(&q.path).is_ok(), "the unpatched image opens");
    assert_eq!(qemu_check(&q.path).0, 0);
    // The attack: 80 L1 entries → one L2 table → one data cluster: 40 GiB of "data"
    // from a file of a few hundred KiB.
    q.share_l2_table();
    q.share_first_cluster(!0);
    let p = q.save();
    let (status, out) = qemu_check(p);
    assert_eq!(status, 2, "qemu-img check calls it corrupt: {out}");
    let msg = refused(p);
    assert!(
        msg.contains(&format!(
            "the L2 table at offset {:#x} is referenced by 80 L1 entries; its refcount says 1",
            q.l2_offset
        )),
        "{msg}"
    );
}

#[test]
fn qcow2_l2_entries_sharing_one_data_cluster_are_refused() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut q = Qcow2::create(dir.path(), "shared-data.qcow2", "40G", false);
    q.share_first_cluster(!0);
    let p = q.save();
    let (status, out) = qemu_check(p);
    assert_eq!(status, 2, "qemu-img check calls it corrupt: {out}");
    let msg = refused(p);
    assert!(
        msg.contains(&format!(
            "the host cluster at offset {:#x} is referenced 255 or more times",
            q.first_data_cluster()
        )) && msg.contains("its refcount says 1"),
        "{msg}"
    );
}

#[test]
fn qcow2_sharing_hidden_by_a_forged_refcount_is_bounded_by_the_file_size() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut q = Qcow2::create(dir.path(), "forged-refcount.qcow2", "40G", false);
    // 8192 references, the refcount says 8192, no COPIED flags: consistent for
    // `qemu-img check`, but 512 MiB of data from a file of a few hundred KiB.
    q.share_first_cluster(!(1 << 63));
    let data = q.first_data_cluster();
    q.set_refcount(data, 8192);
    let p = q.save();
    let (status, out) = qemu_check(p);
    assert_eq!(status, 0, "consistent refcounts for qemu-img check: {out}");
    let msg = refused(p);
    assert!(
        msg.contains("map 536870912 bytes of uncompressed data, more than the"),
        "{msg}"
    );
}

#[test]
fn qcow2_compressed_clusters_sharing_one_stream_are_refused() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut q = Qcow2::create(dir.path(), "shared-compressed.qcow2", "40G", true);
    assert!(open_path(&q.path).is_ok(), "the unpatched image opens");
    q.share_first_cluster(!0);
    let p = q.save();
    let (status, out) = qemu_check(p);
    assert_eq!(status, 2, "qemu-img check calls it corrupt: {out}");
    let msg = refused(p);
    assert!(
        msg.contains("255 or more times") && msg.contains("its refcount says 1"),
        "{msg}"
    );
}

#[test]
fn qcow2_internal_snapshots_share_clusters_legitimately() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let q = Qcow2::create(dir.path(), "snapshots.qcow2", "1G", false);
    let p = q.path.to_str().unwrap();
    run("qemu-img", &["snapshot", "-c", "one", p]);
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -P 0x42 64k 64k", p],
    );
    run("qemu-img", &["snapshot", "-c", "two", p]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0x43 0 4k", p]);
    assert_eq!(qemu_check(&q.path).0, 0);
    let d = open_path(&q.path).expect("snapshots share clusters with refcount > 1");
    let mut b = vec![0u8; 8192];
    d.read_exact_at(&mut b, 0).unwrap();
    assert!(b[..4096].iter().all(|&x| x == 0x43) && b[4096..].iter().all(|&x| x == 0x41));
}

#[test]
fn vhd_bat_entries_sharing_one_block_are_refused() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    // qemu-img check does not check VHD ("vpc"): no oracle but the format itself.
    let dir = tempfile::tempdir().unwrap();
    let p = vhd_sharing_one_block(dir.path());
    let msg = refused(&p);
    assert!(
        msg.contains("BAT entries 0 and 1 both name the block at"),
        "{msg}"
    );
}

#[test]
fn vmdk_grain_tables_and_grains_shared_or_over_metadata_are_refused() {
    if !have("qemu-img") || !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let v = Vmdk::create(dir.path(), "base.vmdk");
    assert!(open_path(&v.path).is_ok(), "the unpatched image opens");

    let mut t = Vmdk::create(dir.path(), "shared-gt.vmdk");
    t.share_grain_table();
    let msg = refused(t.save());
    assert!(
        msg.contains("two grain directory entries name the grain table at sector"),
        "{msg}"
    );

    let mut g = Vmdk::create(dir.path(), "shared-grain.vmdk");
    g.share_first_grain(2);
    let msg = refused(g.save());
    assert!(
        msg.contains("two grain table entries name the grain at sector"),
        "{msg}"
    );
    // A whole table of one grain: more grains than the file can hold.
    g.share_first_grain(512);
    let msg = refused(g.save());
    assert!(
        msg.contains("grains of 65536 bytes are mapped from a"),
        "{msg}"
    );

    let mut o = Vmdk::create(dir.path(), "grain-over-gd.vmdk");
    o.grain_over_directory();
    let msg = refused(o.save());
    assert!(msg.contains("overlaps the grain directory"), "{msg}");
}

#[test]
fn cloop_and_bochs_files_are_named_and_refused() {
    if !have("qemu-img") || !have("create_compressed_fs") || !have("bximage") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (p, name) in [(cloop(dir.path()), "cloop"), (bochs(dir.path()), "bochs")] {
        assert_eq!(qemu_format(&p), name, "qemu-img info names it");
        let src = FileSource::open(&p).unwrap();
        let e = detect(&src).unwrap_err();
        assert_eq!(e.detected_format().as_deref(), Some(name), "{e}");
        let msg = refused(&p);
        assert!(
            msg.starts_with(&format!("{name} is not an importable image format")),
            "{msg}"
        );
    }
}
