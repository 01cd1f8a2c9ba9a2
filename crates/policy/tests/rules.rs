//! Every rule: a passing case, a failing case (code + rule id) and the forced case.

use imgport_policy::rules::{self, GIB, MAX_ACTUAL_BYTES, MAX_VIRTUAL_BYTES};
use imgport_policy::*;

// ---------------------------------------------------------------------------------------
// Baselines: a clean CentOS 7 and a clean Windows Server 2012 R2 image.
// ---------------------------------------------------------------------------------------

fn fmt() -> FormatFacts {
    FormatFacts {
        file_size: Some(3 * GIB),
        ..FormatFacts::readable("qcow2", 20 * GIB, 3 * GIB)
    }
}

fn linux() -> GuestFacts {
    GuestFacts {
        partition_table: Some(PartitionScheme::Mbr),
        partition_count: Some(2),
        filesystems: vec!["xfs".into(), "xfs".into()],
        classification: Some(DiskRole::Os),
        os: Some(OsFacts {
            os_type: Some(rules::OsType::Linux),
            distro: Some("centos".into()),
            id_like: vec!["rhel".into(), "fedora".into()],
            version: Some("7".into()),
            product_name: Some("CentOS Linux 7 (Core)".into()),
            arch: Some("x86_64".into()),
        }),
        root_fs: Some("xfs".into()),
        virtio: Some(true),
        virtio_evidence: vec!["/boot/config-3.10.0: CONFIG_VIRTIO_BLK=m".into()],
        cloud_init: Some(true),
        cloud_init_evidence: vec!["rpm: cloud-init".into()],
        nics: vec![NicFacts {
            name: "eth0".into(),
            static_ip: false,
            source: Some("/etc/sysconfig/network-scripts/ifcfg-eth0".into()),
        }],
        ..GuestFacts::default()
    }
}

fn windows() -> GuestFacts {
    GuestFacts {
        partition_table: Some(PartitionScheme::Mbr),
        filesystems: vec!["ntfs".into(), "ntfs".into()],
        classification: Some(DiskRole::Os),
        os: Some(OsFacts {
            os_type: Some(rules::OsType::Windows),
            product_name: Some("Windows Server 2012 R2 Datacenter".into()),
            version: Some("6.3".into()),
            arch: Some("x86_64".into()),
            ..OsFacts::default()
        }),
        root_fs: Some("ntfs".into()),
        virtio: Some(true),
        cloud_init: Some(true),
        ..GuestFacts::default()
    }
}

fn form() -> ImportForm {
    ImportForm {
        os_type: Some("CentOS".into()),
        os_version: Some("7".into()),
        architecture: Some("x86_64".into()),
        ..ImportForm::default()
    }
}

fn win_form() -> ImportForm {
    ImportForm {
        os_type: Some("Windows Server 2012".into()),
        os_version: Some("-".into()),
        architecture: Some("x86_64".into()),
        ..ImportForm::default()
    }
}

fn forced(mut f: ImportForm) -> ImportForm {
    f.force = true;
    f
}

/// The verdict fails with `code` and has an error finding for `rule` with that code.
#[track_caller]
fn assert_fails(v: &Verdict, code: Code, rule: &str) {
    assert!(!v.importable, "{v:#?}");
    assert!(v.codes.contains(&code), "{code} not in {:?}", v.codes);
    assert!(
        v.errors().any(|f| f.rule == rule && f.code == Some(code)),
        "no {rule}/{code} error in {v:#?}"
    );
    for f in v.errors() {
        assert!(!f.message.is_empty() && !f.fix.is_empty(), "{f:#?}");
    }
}

/// Force does not waive this rule: still an error.
#[track_caller]
fn assert_not_waived(v: &Verdict, code: Code, rule: &str) {
    assert_fails(v, code, rule);
    assert!(v.findings.iter().all(|f| !f.waived), "{v:#?}");
}

/// No error, and no warning for `rule`.
#[track_caller]
fn assert_clean(v: &Verdict, rule: &str) {
    assert!(v.importable, "{v:#?}");
    assert!(v.codes.is_empty());
    assert!(
        v.for_rule(rule).all(|f| f.severity == Severity::Info),
        "{rule}: {v:#?}"
    );
    assert!(
        v.passed.iter().any(|p| p == rule),
        "{rule} not passed: {v:?}"
    );
}

#[test]
fn clean_images_pass_every_rule() {
    let v = decide(&fmt(), Some(&linux()), &form());
    assert!(v.importable, "{v:#?}");
    assert!(v.findings.is_empty(), "{v:#?}");
    assert_eq!(v.first_code(), None);
    for r in [
        "R-FMT",
        "R-SIZE-ACTUAL",
        "R-SIZE-VIRTUAL",
        "R-PART",
        "R-ERR",
        "R-OS",
        "R-ARCH",
        "R-VIRTIO",
        "R-CLOUDINIT",
        "R-KERNEL",
        "R-NET",
    ] {
        assert!(v.passed.iter().any(|p| p == r), "{r}: {:?}", v.passed);
    }

    let v = decide(&fmt(), Some(&windows()), &win_form());
    assert!(v.importable, "{v:#?}");
    // Windows: only the activation notice.
    assert_eq!(v.findings.len(), 1, "{v:#?}");
    assert_eq!(v.findings[0].rule, "R-ACTIVATION");
    assert_eq!(v.findings[0].severity, Severity::Info);
}

// ---------------------------------------------------------------------------------------
// R-REGION
// ---------------------------------------------------------------------------------------

#[test]
fn region() {
    let mut f = form();
    f.region = Some("ap-shanghai-fsi".into());
    f.source_region = Some("ap-shanghai-fsi".into());
    assert_clean(&decide(&fmt(), Some(&linux()), &f), "R-REGION");

    f.source_region = Some("ap-guangzhou".into());
    let v = decide(&fmt(), Some(&linux()), &f);
    assert_fails(&v, Code::InvalidUrl, "R-REGION");
    let e = v.errors().next().unwrap();
    assert!(
        e.message.contains("finance region ap-shanghai-fsi"),
        "{}",
        e.message
    );
    assert!(e.evidence.iter().any(|x| x.contains("ap-guangzhou")));
    assert_eq!(v.first_code(), Some(Code::InvalidUrl));
    assert_not_waived(
        &decide(&fmt(), Some(&linux()), &forced(f.clone())),
        Code::InvalidUrl,
        "R-REGION",
    );

    // The service's synchronous check sees it too.
    assert!(check_form(&f)
        .iter()
        .any(|e| e.code == Some(Code::InvalidUrl) && e.rule == "R-REGION"));

    // Any other cross-region URL is invalid too (the service reads its own region only).
    f.region = Some("ap-beijing".into());
    let v = decide(&fmt(), Some(&linux()), &f);
    assert_fails(&v, Code::InvalidUrl, "R-REGION");
    assert!(v.errors().next().unwrap().message.contains("own region"));

    // Unknown source region: not checked.
    f.source_region = None;
    let v = decide(&fmt(), Some(&linux()), &f);
    assert!(v.importable);
    assert!(!v.passed.iter().any(|p| p == "R-REGION"));
}

// ---------------------------------------------------------------------------------------
// R-FMT
// ---------------------------------------------------------------------------------------

#[test]
fn format() {
    for ok in ["raw", "qcow2", "vmdk", "vpc", "vhd"] {
        let f = FormatFacts::readable(ok, 10 * GIB, GIB);
        assert_clean(&decide(&f, Some(&linux()), &form()), "R-FMT");
    }
    for bad in ["vhdx", "vdi", "iso", "qed"] {
        let f = FormatFacts::readable(bad, 10 * GIB, GIB);
        let v = decide(&f, Some(&linux()), &form());
        assert_fails(&v, Code::InvalidFormatSize, "R-FMT");
        assert!(v.errors().next().unwrap().fix[0].contains("qemu-img convert -p -O qcow2"));
        assert_not_waived(
            &decide(&f, Some(&linux()), &forced(form())),
            Code::InvalidFormatSize,
            "R-FMT",
        );
    }
    // Refused by the disk core (corrupt / unsafe).
    let f = FormatFacts::refused(
        Some("qcow2"),
        "qcow2: L1 table at offset 0x30000 beyond end of file",
    );
    let v = decide(&f, None, &form());
    assert_fails(&v, Code::InvalidFormatSize, "R-FMT");
    let e = v.errors().next().unwrap();
    assert!(e.evidence.iter().any(|x| x.contains("L1 table")));
    assert!(e.fix.iter().any(|x| x.contains("qemu-img check")));
    assert_not_waived(
        &decide(&f, None, &forced(form())),
        Code::InvalidFormatSize,
        "R-FMT",
    );
    // Readable-looking format, but the disk core cannot read this variant.
    let mut f = fmt();
    f.supported = false;
    assert_fails(
        &decide(&f, Some(&linux()), &form()),
        Code::InvalidFormatSize,
        "R-FMT",
    );
    // Unknown: warning only.
    let v = decide(&FormatFacts::default(), Some(&linux()), &form());
    assert!(v.importable, "{v:#?}");
    assert!(v.for_rule("R-FMT").all(|f| f.severity == Severity::Warning));
}

// ---------------------------------------------------------------------------------------
// R-SIZE-ACTUAL / R-SIZE-VIRTUAL
// ---------------------------------------------------------------------------------------

#[test]
fn actual_size() {
    let at_limit = FormatFacts::readable("raw", 100 * GIB, MAX_ACTUAL_BYTES);
    assert_clean(&decide(&at_limit, Some(&linux()), &form()), "R-SIZE-ACTUAL");

    let over = FormatFacts::readable("raw", 100 * GIB, MAX_ACTUAL_BYTES + 1);
    let v = decide(&over, Some(&linux()), &form());
    assert_fails(&v, Code::InvalidFormatSize, "R-SIZE-ACTUAL");
    let e = v.errors().next().unwrap();
    assert!(e.fix.iter().any(|x| x.contains("virt-sparsify --in-place")));
    assert!(e.fix.iter().any(|x| x.contains("offline")));
    assert!(e.message.contains("50.0 GiB"), "{}", e.message);
    assert_not_waived(
        &decide(&over, Some(&linux()), &forced(form())),
        Code::InvalidFormatSize,
        "R-SIZE-ACTUAL",
    );

    // Over the limit only as an upper bound (a raw image read over HTTP, holes
    // unknown): a warning that says so, not an error.
    let mut bound = over.clone();
    bound.qcow2_required_counts_zeros = true;
    let v = decide(&bound, Some(&linux()), &form());
    assert!(v.importable, "{v:#?}");
    let w = v.for_rule("R-SIZE-ACTUAL").next().unwrap();
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.message.contains("at most"), "{}", w.message);
    // The message names the kind of image whose holes were not seen.
    let named = |format: &str| {
        let mut b = bound.clone();
        b.detected_format = Some(format.into());
        let v = decide(&b, Some(&linux()), &form());
        let message = v.for_rule("R-SIZE-ACTUAL").next().unwrap().message.clone();
        message
    };
    assert!(named("raw").contains("this raw image"));
    assert!(named("vpc").contains("this vhd image"), "{}", named("vpc"));
    assert!(named("qcow2").contains("this metadata-preallocated qcow2 image"));
    // Within the limit the bound settles it.
    let mut small = at_limit.clone();
    small.qcow2_required_counts_zeros = true;
    assert_clean(&decide(&small, Some(&linux()), &form()), "R-SIZE-ACTUAL");

    // Not measured: a qcow2 file's own size stands in for it …
    let mut q = fmt();
    q.qcow2_required = None;
    q.file_size = Some(60 * GIB);
    assert_fails(
        &decide(&q, Some(&linux()), &form()),
        Code::InvalidFormatSize,
        "R-SIZE-ACTUAL",
    );
    // … but a raw file's size says nothing: warning.
    let mut r = FormatFacts::readable("raw", 100 * GIB, 0);
    r.qcow2_required = None;
    r.file_size = Some(100 * GIB);
    let v = decide(&r, Some(&linux()), &form());
    assert!(v.importable, "{v:#?}");
    assert!(v
        .for_rule("R-SIZE-ACTUAL")
        .all(|f| f.severity == Severity::Warning));
}

#[test]
fn virtual_size() {
    let at_limit = FormatFacts::readable("qcow2", MAX_VIRTUAL_BYTES, GIB);
    assert_clean(
        &decide(&at_limit, Some(&linux()), &form()),
        "R-SIZE-VIRTUAL",
    );

    let over = FormatFacts::readable("qcow2", MAX_VIRTUAL_BYTES + 512, GIB);
    let v = decide(&over, Some(&linux()), &form());
    assert_fails(&v, Code::InvalidFormatSize, "R-SIZE-VIRTUAL");
    assert_not_waived(
        &decide(&over, Some(&linux()), &forced(form())),
        Code::InvalidFormatSize,
        "R-SIZE-VIRTUAL",
    );

    let mut unknown = fmt();
    unknown.virtual_size = None;
    let v = decide(&unknown, Some(&linux()), &form());
    assert!(v.importable);
    assert_eq!(v.for_rule("R-SIZE-VIRTUAL").count(), 1);
}

// ---------------------------------------------------------------------------------------
// R-PART
// ---------------------------------------------------------------------------------------

#[test]
fn partitions() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-PART");

    // GPT.
    let mut g = linux();
    g.partition_table = Some(PartitionScheme::Gpt);
    g.partition_count = Some(3);
    let v = decide(&fmt(), Some(&g), &form());
    assert_fails(&v, Code::PartitionNotPresent, "R-PART");
    let e = v.errors().next().unwrap();
    assert!(e.message.contains("GPT is not supported"));
    assert!(e.fix.iter().any(|x| x.contains("sgdisk -m")));
    assert!(e.fix.iter().any(|x| x.contains("gdisk")));
    assert!(e.fix.iter().any(|x| x.contains("UEFI")));
    assert_not_waived(
        &decide(&fmt(), Some(&g), &forced(form())),
        Code::PartitionNotPresent,
        "R-PART",
    );
    // Too many partitions to convert.
    g.partition_count = Some(6);
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v
        .errors()
        .next()
        .unwrap()
        .fix
        .iter()
        .any(|x| x.contains("more than 4")));
    // Hybrid GPT.
    g.hybrid_gpt = true;
    let v = decide(&fmt(), Some(&g), &form());
    assert_fails(&v, Code::PartitionNotPresent, "R-PART");
    assert!(v.errors().next().unwrap().fix[0].contains("hybrid MBR"));

    // No partition table, no filesystem.
    let g = GuestFacts {
        partition_table: Some(PartitionScheme::None),
        ..GuestFacts::default()
    };
    let v = decide(&fmt(), Some(&g), &form());
    assert_fails(&v, Code::PartitionNotPresent, "R-PART");
    assert_eq!(
        v.codes,
        vec![Code::PartitionNotPresent],
        "no duplicate root error"
    );

    // A file that is no disk (an archive, an installer ISO, an encrypted container):
    // what it is, not a missing partition table, is the finding.
    for class in ["archive", "install-iso", "encrypted"] {
        let g = GuestFacts {
            partition_table: Some(PartitionScheme::None),
            classification: Some(class.parse().unwrap()),
            classification_evidence: vec!["the file is tar content".into()],
            ..GuestFacts::default()
        };
        let v = decide(&fmt(), Some(&g), &forced(form()));
        assert_eq!(
            v.codes,
            vec![Code::RootPartitionNotFound],
            "{class}: {v:#?}"
        );
        assert_eq!(v.for_rule("R-PART").count(), 0, "{class}");
    }

    // All-zero disk.
    let g = GuestFacts {
        all_zero: true,
        ..GuestFacts::default()
    };
    let v = decide(&fmt(), Some(&g), &forced(form()));
    assert_not_waived(&v, Code::PartitionNotPresent, "R-PART");
    assert_eq!(v.codes, vec![Code::PartitionNotPresent]);

    // A truncated image (partitions past its end): incomplete, forced or not.
    let g = GuestFacts {
        partition_table: Some(PartitionScheme::Mbr),
        partition_count: Some(1),
        classification: Some(DiskRole::Truncated),
        classification_evidence: vec![
            "partition 1 spans bytes 1048576..42991616 but the disk has 1000448 bytes".into(),
        ],
        ..GuestFacts::default()
    };
    let v = decide(&fmt(), Some(&g), &forced(form()));
    assert_not_waived(&v, Code::PartitionNotPresent, "R-PART");
    assert_eq!(v.codes, vec![Code::PartitionNotPresent]);
    assert!(v.errors().next().unwrap().message.contains("incomplete"));

    // A system in a whole-disk filesystem: a partition image, not a disk (incomplete),
    // forced or not.
    let mut g = linux();
    g.partition_table = Some(PartitionScheme::None);
    g.partition_count = Some(0);
    let v = decide(&fmt(), Some(&g), &forced(form()));
    assert_not_waived(&v, Code::PartitionNotPresent, "R-PART");
    assert_eq!(v.codes, vec![Code::PartitionNotPresent], "{v:#?}");
    assert!(v.errors().next().unwrap().message.contains("one partition"));
    // A whole-disk filesystem without a system: the root check names it; R-PART warns.
    g.classification = Some(DiskRole::DataDisk);
    g.os = None;
    let v = decide(&fmt(), Some(&g), &form());
    assert_eq!(v.codes, vec![Code::RootPartitionNotFound], "{v:#?}");
    assert!(v
        .for_rule("R-PART")
        .all(|f| f.severity == Severity::Warning));
    assert_eq!(v.for_rule("R-PART").count(), 1);

    // Unknown: warning.
    let mut g = linux();
    g.partition_table = None;
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable);
    assert!(v
        .for_rule("R-PART")
        .all(|f| f.severity == Severity::Warning));

    // Linux LVM is fine.
    let mut g = linux();
    g.lvm_present = true;
    assert_clean(&decide(&fmt(), Some(&g), &form()), "R-PART");
}

#[test]
fn windows_partitioning() {
    // Dynamic disk.
    let g = GuestFacts {
        partition_table: Some(PartitionScheme::Mbr),
        dynamic_disk: true,
        filesystems: vec!["ldm".into()],
        ..GuestFacts::default()
    };
    let v = decide(&fmt(), Some(&g), &win_form());
    assert_fails(&v, Code::RootPartitionNotFound, "R-PART");
    assert_not_waived(
        &decide(&fmt(), Some(&g), &forced(win_form())),
        Code::RootPartitionNotFound,
        "R-PART",
    );
    // Windows on a non-NTFS root.
    let mut g = windows();
    g.root_fs = Some("vfat".into());
    let v = decide(&fmt(), Some(&g), &win_form());
    assert_fails(&v, Code::RootPartitionNotFound, "R-PART");
    assert!(v.errors().next().unwrap().message.contains("NTFS"));
    assert_not_waived(
        &decide(&fmt(), Some(&g), &forced(win_form())),
        Code::RootPartitionNotFound,
        "R-PART",
    );
    // Windows whose system volume sits in a container (issue 17: a Windows Server C:
    // in an LVM LV on an MBR 0x8e partition was importable): LVM, md software RAID,
    // Storage Spaces, a dynamic-disk volume — RootPartitionNotFound under R-PART, with
    // the evidence inspection gave and a fix naming the container; Force does not
    // waive it. Linux in LVM or md RAID is fine.
    for (kind, word, fix) in [
        ("lvm", "LVM logical volume", "LVM"),
        ("md-raid", "software RAID", "mirror"),
        ("storage-spaces", "Storage Spaces", "pool"),
        ("dynamic-disk", "dynamic disk", "basic disk"),
    ] {
        let mut g = windows();
        g.root_container = Some(kind.parse().unwrap());
        g.root_container_evidence = vec![format!("the root is in a {kind} on partition 2")];
        let v = decide(&fmt(), Some(&g), &win_form());
        assert_fails(&v, Code::RootPartitionNotFound, "R-PART");
        assert_eq!(v.codes, [Code::RootPartitionNotFound], "{kind}: {v:#?}");
        let e = v.errors().next().unwrap();
        assert!(e.message.contains(word), "{kind}: {}", e.message);
        assert_eq!(e.evidence, g.root_container_evidence, "{kind}");
        assert!(e.fix.iter().any(|f| f.contains(fix)), "{kind}: {:?}", e.fix);
        assert!(!v.passed.iter().any(|r| r == "R-PART"), "{kind}");
        assert_not_waived(
            &decide(&fmt(), Some(&g), &forced(win_form())),
            Code::RootPartitionNotFound,
            "R-PART",
        );
        let mut l = linux();
        l.root_container = Some(kind.parse().unwrap());
        if kind != "dynamic-disk" && kind != "storage-spaces" {
            assert_clean(&decide(&fmt(), Some(&l), &form()), "R-PART");
        }
    }
    // A dynamic disk already reported as such is not reported twice.
    let mut g = windows();
    g.dynamic_disk = true;
    g.root_container = Some(RootContainer::DynamicDisk);
    let v = decide(&fmt(), Some(&g), &win_form());
    assert_eq!(v.errors().count(), 1, "{v:#?}");
    // Windows on GPT.
    let mut g = windows();
    g.partition_table = Some(PartitionScheme::Gpt);
    let v = decide(&fmt(), Some(&g), &win_form());
    assert_fails(&v, Code::PartitionNotPresent, "R-PART");
    assert!(v
        .errors()
        .next()
        .unwrap()
        .fix
        .iter()
        .any(|x| x.contains("bcdboot")));
}

// ---------------------------------------------------------------------------------------
// R-ERR: RootPartitionNotFound
// ---------------------------------------------------------------------------------------

#[test]
fn root_partition() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-ERR");
    for (class, word) in [
        ("install-iso", "installation"),
        ("archive", "installation"),
        ("data-disk", "data disk"),
        ("boot-only", "boot partition"),
        ("swap-only", "swap"),
        ("encrypted", "encrypted"),
        ("storage-spaces", "Storage Spaces"),
        ("software-raid", "software RAID"),
        ("empty", "partitions"),
        ("wrong-file", "system disk"),
    ] {
        let g = GuestFacts {
            partition_table: Some(PartitionScheme::Mbr),
            filesystems: vec!["ext4".into()],
            classification: Some(class.parse().unwrap()),
            classification_evidence: vec!["partition 1: ext4 without /etc, /usr".into()],
            ..GuestFacts::default()
        };
        let v = decide(&fmt(), Some(&g), &form());
        assert_fails(&v, Code::RootPartitionNotFound, "R-ERR");
        let e = v.errors().next().unwrap();
        assert!(e.message.contains(word), "{class}: {}", e.message);
        assert_eq!(e.evidence, g.classification_evidence);
        assert_not_waived(
            &decide(&fmt(), Some(&g), &forced(form())),
            Code::RootPartitionNotFound,
            "R-ERR",
        );
        // No OS: no virtio/cloud-init noise.
        assert_eq!(v.for_rule("R-VIRTIO").count(), 0);
        assert_eq!(v.for_rule("R-CLOUDINIT").count(), 0);
    }
    // Unknown: no OS and no classification, or an unreadable filesystem → warning.
    for class in [None, Some("unreadable")] {
        let g = GuestFacts {
            partition_table: Some(PartitionScheme::Mbr),
            filesystems: vec!["btrfs".into()],
            classification: class.map(|c| c.parse().unwrap()),
            ..GuestFacts::default()
        };
        let v = decide(&fmt(), Some(&g), &form());
        assert!(v.importable, "{v:#?}");
        assert_eq!(v.for_rule("R-ERR").count(), 1);
        assert_eq!(
            v.for_rule("R-ERR").next().unwrap().severity,
            Severity::Warning
        );
    }
}

// ---------------------------------------------------------------------------------------
// R-OS
// ---------------------------------------------------------------------------------------

#[test]
fn os_declared() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-OS");
    // Case-insensitive, major version, R2 alias.
    let mut f = form();
    f.os_type = Some("centos".into());
    f.os_version = Some("7.9".into());
    assert_clean(&decide(&fmt(), Some(&linux()), &f), "R-OS");
    let mut f = win_form();
    f.os_type = Some("Windows Server 2012 R2".into());
    assert!(decide(&fmt(), Some(&windows()), &f).importable);

    let mut f = form();
    f.os_type = Some("Arch Linux".into());
    let v = decide(&fmt(), Some(&linux()), &f);
    assert_fails(&v, Code::InvalidImageOsTypeUnsupported, "R-OS");
    assert!(v.errors().next().unwrap().fix[0].contains("CentOS"));
    assert_not_waived(
        &decide(&fmt(), Some(&linux()), &forced(f)),
        Code::InvalidImageOsTypeUnsupported,
        "R-OS",
    );

    let mut f = form();
    f.os_version = Some("4".into());
    let v = decide(&fmt(), Some(&linux()), &f);
    assert_fails(&v, Code::InvalidImageOsVersionUnsupported, "R-OS");
    assert!(v.errors().next().unwrap().fix[0].contains("5, 6, 7, 8, 9, 10"));
    assert_not_waived(
        &decide(&fmt(), Some(&linux()), &forced(f.clone())),
        Code::InvalidImageOsVersionUnsupported,
        "R-OS",
    );
    // check_form alone gives the same (the service's synchronous check).
    let errs = check_form(&f);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].code, Some(Code::InvalidImageOsVersionUnsupported));
    assert!(check_form(&form()).is_empty());
    // Current releases are listed (the seed sets no version limit), by major number.
    for (os, version) in [
        ("Debian", "12"),
        ("Debian", "13"),
        ("Ubuntu", "24.04"),
        ("Ubuntu", "22.04"),
        ("CentOS", "9"),
        ("SUSE", "15"),
        ("OpenSUSE", "15.6"),
    ] {
        let mut f = form();
        f.os_type = Some(os.into());
        f.os_version = Some(version.into());
        assert!(check_form(&f).is_empty(), "{os} {version}");
    }
    // An empty OsVersion is "not declared" (the CLI's form), not an unsupported version.
    let mut f = form();
    f.os_version = Some(" ".into());
    assert!(check_form(&f).is_empty());
}

#[test]
fn os_detected() {
    // Based on a supported family: Rocky → CentOS, Mint → Ubuntu.
    let mut g = linux();
    g.os.as_mut().unwrap().distro = Some("rocky".into());
    g.os.as_mut().unwrap().version = Some("7.9".into());
    assert!(decide(&fmt(), Some(&g), &form()).importable);

    // Not based on a supported family.
    let mut g = linux();
    let os = g.os.as_mut().unwrap();
    os.distro = Some("arch".into());
    os.id_like = vec![];
    os.product_name = Some("Arch Linux".into());
    let v = decide(&fmt(), Some(&g), &ImportForm::default());
    assert_fails(&v, Code::InvalidImageOsTypeUnsupported, "R-OS");
    assert!(v.errors().next().unwrap().message.contains("Arch Linux"));
    assert_not_waived(
        &decide(&fmt(), Some(&g), &forced(ImportForm::default())),
        Code::InvalidImageOsTypeUnsupported,
        "R-OS",
    );
    // Windows Server 2019.
    let mut g = windows();
    g.os.as_mut().unwrap().product_name = Some("Windows Server 2019 Standard".into());
    assert_fails(
        &decide(&fmt(), Some(&g), &ImportForm::default()),
        Code::InvalidImageOsTypeUnsupported,
        "R-OS",
    );

    // A version outside the list is a warning (the seed names families only).
    let mut g = linux();
    let os = g.os.as_mut().unwrap();
    os.distro = Some("ubuntu".into());
    os.id_like = vec!["debian".into()];
    os.version = Some("9.10".into());
    let v = decide(&fmt(), Some(&g), &ImportForm::default());
    assert!(v.importable, "{v:#?}");
    let w = v.for_rule("R-OS").next().unwrap();
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.message.contains("9.10"));
    // A current release is listed: nothing to say.
    g.os.as_mut().unwrap().version = Some("24.04".into());
    assert_clean(&decide(&fmt(), Some(&g), &ImportForm::default()), "R-OS");

    // Unknown distribution: warning.
    let mut g = linux();
    let os = g.os.as_mut().unwrap();
    os.distro = None;
    os.id_like = vec![];
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable);
    assert_eq!(v.for_rule("R-OS").count(), 1);
}

#[test]
fn os_declared_vs_detected() {
    // Declared CentOS, image is Debian: warning with both values.
    let mut g = linux();
    let os = g.os.as_mut().unwrap();
    os.distro = Some("debian".into());
    os.id_like = vec![];
    os.version = Some("9".into());
    os.product_name = Some("Debian GNU/Linux 9 (stretch)".into());
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable);
    let w = v.for_rule("R-OS").next().unwrap();
    assert_eq!(w.severity, Severity::Warning);
    assert!(
        w.message.contains("CentOS") && w.message.contains("Debian"),
        "{}",
        w.message
    );
    // Cloud-init fix follows the detected family.
    g.cloud_init = Some(false);
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.errors().next().unwrap().fix[0].contains("apt-get"));

    // Declared Windows, image is Linux.
    let v = decide(&fmt(), Some(&linux()), &win_form());
    assert!(v
        .for_rule("R-OS")
        .any(|f| f.severity == Severity::Warning && f.message.contains("Windows Server 2012")));

    // Declared version differs.
    let mut f = form();
    f.os_version = Some("6".into());
    let v = decide(&fmt(), Some(&linux()), &f);
    assert!(v
        .for_rule("R-OS")
        .any(|f| f.severity == Severity::Warning && f.message.contains("OsVersion '6'")));
}

// ---------------------------------------------------------------------------------------
// R-ARCH
// ---------------------------------------------------------------------------------------

#[test]
fn architecture() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-ARCH");
    let mut g = linux();
    g.os.as_mut().unwrap().arch = Some("i686".into());
    let mut f = form();
    f.architecture = Some("i386".into());
    assert_clean(&decide(&fmt(), Some(&g), &f), "R-ARCH");

    // Detected non-x86.
    let mut g = linux();
    g.os.as_mut().unwrap().arch = Some("aarch64".into());
    let v = decide(&fmt(), Some(&g), &ImportForm::default());
    assert_fails(&v, Code::InvalidImageArchitectureUnsupported, "R-ARCH");
    assert_not_waived(
        &decide(&fmt(), Some(&g), &forced(ImportForm::default())),
        Code::InvalidImageArchitectureUnsupported,
        "R-ARCH",
    );
    // Declared non-x86.
    let mut f = form();
    f.architecture = Some("arm64".into());
    assert_fails(
        &decide(&fmt(), Some(&linux()), &f),
        Code::InvalidImageArchitectureUnsupported,
        "R-ARCH",
    );
    // Declared i386, detected x86_64: warning with both.
    let mut f = form();
    f.architecture = Some("i386".into());
    let v = decide(&fmt(), Some(&linux()), &f);
    assert!(v.importable);
    let w = v.for_rule("R-ARCH").next().unwrap();
    assert!(w.message.contains("i386") && w.message.contains("x86_64"));
    // Unknown: warning.
    let mut g = linux();
    g.os.as_mut().unwrap().arch = None;
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable);
    assert_eq!(v.for_rule("R-ARCH").count(), 1);
}

// ---------------------------------------------------------------------------------------
// R-VIRTIO (waived by Force)
// ---------------------------------------------------------------------------------------

#[test]
fn virtio_linux() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-VIRTIO");

    let mut g = linux();
    g.virtio = Some(false);
    g.virtio_missing = vec!["virtio_blk".into(), "virtio_pci".into()];
    g.virtio_evidence = vec!["/boot/initramfs-3.10.0.img: no virtio_blk.ko".into()];
    let v = decide(&fmt(), Some(&g), &form());
    assert_fails(&v, Code::VirtioNotInstall, "R-VIRTIO");
    let e = v.errors().next().unwrap();
    assert_eq!(e.evidence, g.virtio_evidence);
    assert!(
        e.fix
            .iter()
            .any(|x| x.contains("dracut -f --add-drivers \"virtio_blk virtio_pci\"")),
        "{:#?}",
        e.fix
    );

    let v = decide(&fmt(), Some(&g), &forced(form()));
    assert!(v.importable, "{v:#?}");
    let w = v.for_rule("R-VIRTIO").next().unwrap();
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.waived);
    assert_eq!(w.code, Some(Code::VirtioNotInstall));
    assert!(v.codes.is_empty());

    // Per-family fixes.
    let mut d = g.clone();
    let os = d.os.as_mut().unwrap();
    os.distro = Some("ubuntu".into());
    os.version = Some("16.04".into());
    let v = decide(&fmt(), Some(&d), &ImportForm::default());
    let fix = &v.errors().next().unwrap().fix;
    assert!(fix.iter().any(|x| x.contains("update-initramfs -u")));
    assert!(fix
        .iter()
        .any(|x| x.contains("/etc/initramfs-tools/modules")));
    let mut s = g.clone();
    s.os.as_mut().unwrap().distro = Some("sles".into());
    s.os.as_mut().unwrap().version = Some("12.5".into());
    let v = decide(&fmt(), Some(&s), &ImportForm::default());
    assert!(v
        .errors()
        .next()
        .unwrap()
        .fix
        .iter()
        .any(|x| x.contains("mkinitrd")));
    let mut c5 = g.clone();
    c5.os.as_mut().unwrap().version = Some("5.11".into());
    let v = decide(&fmt(), Some(&c5), &ImportForm::default());
    assert!(v
        .errors()
        .next()
        .unwrap()
        .fix
        .iter()
        .any(|x| x.contains("mkinitrd -f --with=virtio_blk")));

    // The fix follows the initramfs generator the guest has: a Debian guest with dracut
    // gets dracut's commands for Debian's image name, never update-initramfs.
    let mut dd = d.clone();
    dd.os.as_mut().unwrap().distro = Some("debian".into());
    dd.os.as_mut().unwrap().version = Some("9".into());
    dd.initramfs_tool = Some("dracut".into());
    let v = decide(&fmt(), Some(&dd), &ImportForm::default());
    let fix = &v.errors().next().unwrap().fix;
    assert!(
        fix.iter().any(|x| x.contains(
            "dracut -f --add-drivers \"virtio_blk virtio_pci\" /boot/initrd.img-$(uname -r)"
        )),
        "{fix:#?}"
    );
    assert!(
        !fix.iter().any(|x| x.contains("update-initramfs")),
        "{fix:#?}"
    );
    dd.initramfs_tool = Some("initramfs-tools".into());
    let v = decide(&fmt(), Some(&dd), &ImportForm::default());
    assert!(v
        .errors()
        .next()
        .unwrap()
        .fix
        .iter()
        .any(|x| x.contains("update-initramfs -u")));
    // An unidentified distribution with dracut: dracut's commands only.
    let mut ud = dd.clone();
    ud.os.as_mut().unwrap().distro = Some("mylinux".into());
    ud.os.as_mut().unwrap().id_like = vec![];
    ud.initramfs_tool = Some("dracut".into());
    let v = decide(&fmt(), Some(&ud), &ImportForm::default());
    let e = v
        .findings
        .iter()
        .find(|f| f.code == Some(Code::VirtioNotInstall))
        .unwrap();
    assert!(
        e.fix.iter().any(|x| x.contains("dracut -f")),
        "{:#?}",
        e.fix
    );
    assert!(
        !e.fix.iter().any(|x| x.contains("update-initramfs")),
        "{:#?}",
        e.fix
    );

    // Unknown (kernel not readable): warning, not VirtioNotInstall.
    let mut g = linux();
    g.virtio = None;
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable);
    assert!(v.codes.is_empty());
    assert_eq!(
        v.for_rule("R-VIRTIO").next().unwrap().severity,
        Severity::Warning
    );
}

#[test]
fn device_names_under_virtio() {
    let mut g = linux();
    g.device_name_mounts = vec![
        "/etc/fstab:1: / on /dev/sda5".into(),
        "/etc/fstab:4: swap on /dev/sda7".into(),
    ];
    for f in [form(), forced(form())] {
        let v = decide(&fmt(), Some(&g), &f);
        assert!(v.importable, "a warning only: {v:#?}");
        let w: Vec<_> = v.for_rule("R-VIRTIO").collect();
        assert_eq!(w.len(), 1, "{w:#?}");
        assert_eq!(w[0].severity, Severity::Warning);
        assert!(w[0].message.contains("/dev/vda"), "{w:#?}");
        assert_eq!(w[0].evidence, g.device_name_mounts);
        assert!(w[0].fix[0].contains("UUID"));
        assert!(!v.passed.iter().any(|r| r == "R-VIRTIO"));
    }
    // Windows has no fstab: nothing, even if the field were set.
    let mut w = windows();
    w.device_name_mounts = g.device_name_mounts.clone();
    assert_clean(&decide(&fmt(), Some(&w), &win_form()), "R-VIRTIO");
}

#[test]
fn virtio_windows() {
    assert_clean(&decide(&fmt(), Some(&windows()), &win_form()), "R-VIRTIO");
    let mut g = windows();
    g.virtio = Some(false);
    g.virtio_missing = vec!["viostor".into(), "netkvm".into()];
    let v = decide(&fmt(), Some(&g), &win_form());
    assert_fails(&v, Code::VirtioNotInstall, "R-VIRTIO");
    let e = v.errors().next().unwrap();
    assert!(e.message.contains("viostor"));
    assert!(e.fix.iter().any(|x| x.contains("virtio_64_1.0.9.exe")));
    assert!(e.fix.iter().any(|x| x.contains("mirrors.tencentyun.com")));
    let v = decide(&fmt(), Some(&g), &forced(win_form()));
    assert!(v.importable);
    assert!(v.for_rule("R-VIRTIO").all(|f| f.waived));
}

// ---------------------------------------------------------------------------------------
// R-CLOUDINIT (waived by Force)
// ---------------------------------------------------------------------------------------

#[test]
fn cloud_init() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-CLOUDINIT");
    let mut g = linux();
    g.cloud_init = Some(false);
    g.cloud_init_evidence = vec!["rpmdb: no cloud-init".into()];
    let v = decide(&fmt(), Some(&g), &form());
    assert_fails(&v, Code::CloudInitNotInstalled, "R-CLOUDINIT");
    let fix = &v.errors().next().unwrap().fix;
    assert!(fix[0].contains("yum install -y cloud-init"));
    assert!(fix.iter().any(|x| x.contains("datasource")));
    assert!(fix.iter().any(|x| x.contains("Force")));

    let v = decide(&fmt(), Some(&g), &forced(form()));
    assert!(v.importable);
    let w = v.for_rule("R-CLOUDINIT").next().unwrap();
    assert!(w.waived && w.severity == Severity::Warning);

    // SUSE → zypper.
    let mut s = g.clone();
    s.os.as_mut().unwrap().distro = Some("opensuse-leap".into());
    let v = decide(&fmt(), Some(&s), &ImportForm::default());
    assert!(v
        .errors()
        .any(|e| e.fix[0].contains("zypper install -y cloud-init")));

    // Windows → cloudbase-init.
    let mut w = windows();
    w.cloud_init = Some(false);
    let v = decide(&fmt(), Some(&w), &win_form());
    assert_fails(&v, Code::CloudInitNotInstalled, "R-CLOUDINIT");
    let e = v.errors().next().unwrap();
    assert!(e.message.contains("cloudbase-init"));
    assert!(e.fix[0].contains("cloudbase-init"));
    assert!(decide(&fmt(), Some(&w), &forced(win_form())).importable);

    // Unknown: warning.
    let mut g = linux();
    g.cloud_init = None;
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable);
    assert_eq!(v.for_rule("R-CLOUDINIT").count(), 1);
}

// ---------------------------------------------------------------------------------------
// R-KERNEL, R-NET, R-ACTIVATION (warnings / information)
// ---------------------------------------------------------------------------------------

#[test]
fn kernel() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-KERNEL");
    let mut g = linux();
    g.kernel_hints = vec!["/boot/vmlinuz-5.10.0-custom: not owned by any package".into()];
    for f in [form(), forced(form())] {
        let v = decide(&fmt(), Some(&g), &f);
        assert!(v.importable);
        let w = v.for_rule("R-KERNEL").next().unwrap();
        assert_eq!(w.severity, Severity::Warning);
        assert_eq!(w.evidence, g.kernel_hints);
        assert!(w.fix[0].contains("yum install -y kernel"));
    }
    // No kernel at all (a container or chroot tree imaged): nothing can boot, and the
    // virtio drivers ship with the kernel — VirtioNotInstall under R-KERNEL, which Force
    // does not waive (R-VIRTIO's missing drivers it does), with the architecture's
    // kernel package and a boot loader in the fix; `None` (not told) says nothing.
    let mut g = linux();
    g.kernel_count = Some(0);
    g.virtio = None;
    g.virtio_evidence = vec!["no kernel found in /boot or /lib/modules".into()];
    let os = g.os.as_mut().unwrap();
    os.distro = Some("debian".into());
    os.id_like = vec![];
    os.version = Some("9".into());
    os.arch = Some("i386".into());
    for force in [false, true] {
        let f = ImportForm {
            force,
            ..ImportForm::default()
        };
        let v = decide(&fmt(), Some(&g), &f);
        assert!(!v.importable, "force {force}: {v:#?}");
        assert_eq!(v.codes, [Code::VirtioNotInstall], "force {force}: {v:#?}");
        let e = v.for_rule("R-KERNEL").next().expect("no-kernel error");
        assert_eq!(e.severity, Severity::Error);
        assert_eq!(e.code, Some(Code::VirtioNotInstall));
        assert!(!e.waived);
        assert!(e.message.contains("no Linux kernel"), "{e:#?}");
        assert!(e.evidence[0].contains("kernels found: none"), "{e:#?}");
        assert!(e.fix[0].contains("linux-image-686-pae"), "{e:#?}");
        assert!(e.fix.iter().any(|f| f.contains("update-grub")), "{e:#?}");
        assert!(!v.passed.iter().any(|r| r == "R-KERNEL"));
        // R-VIRTIO has nothing to judge without a kernel: no second finding.
        assert_eq!(v.for_rule("R-VIRTIO").count(), 0, "{v:#?}");
    }
    // The data says so: R-KERNEL may yield VirtioNotInstall and is never waived.
    let k = rules::rule("R-KERNEL").unwrap();
    assert!(k.codes.contains(&Code::VirtioNotInstall));
    assert!(!k.force_waives && !rules::force_waives(rules::RuleId::Kernel));
    assert!(rules::force_waives(rules::RuleId::Virtio));
    g.kernel_count = None;
    assert_clean(
        &decide(&fmt(), Some(&g), &ImportForm::default()),
        "R-KERNEL",
    );
    g.kernel_count = Some(1);
    assert_clean(
        &decide(&fmt(), Some(&g), &ImportForm::default()),
        "R-KERNEL",
    );
}

#[test]
fn network() {
    assert_clean(&decide(&fmt(), Some(&linux()), &form()), "R-NET");
    let mut g = linux();
    g.nics = vec![
        NicFacts {
            name: "lo".into(),
            ..NicFacts::default()
        },
        NicFacts {
            name: "ens3".into(),
            static_ip: true,
            source: Some("/etc/sysconfig/network-scripts/ifcfg-ens3".into()),
        },
        NicFacts {
            name: "eth1".into(),
            ..NicFacts::default()
        },
    ];
    for f in [form(), forced(form())] {
        let v = decide(&fmt(), Some(&g), &f);
        assert!(v.importable);
        let net: Vec<_> = v.for_rule("R-NET").collect();
        assert_eq!(net.len(), 3, "{net:#?}");
        assert!(net.iter().all(|f| f.severity == Severity::Warning));
        assert!(net[0].message.starts_with("2 network interfaces"));
        assert!(net[1].evidence[0].contains("ifcfg-ens3"));
        assert!(net[2].evidence.iter().any(|e| e.contains("eth1")));
        assert!(net[0].fix.iter().any(|x| x.contains("net.ifnames=0")));
    }
    // Windows: connection names are not eth0, that is fine.
    let mut w = windows();
    w.nics = vec![NicFacts {
        name: "Ethernet".into(),
        ..NicFacts::default()
    }];
    assert_clean(&decide(&fmt(), Some(&w), &win_form()), "R-NET");
    // A persistent-net rule pinning eth0 to the old machine's MAC (inspection found it,
    // policy used to ignore it): the instance's NIC would come up as eth1. A warning.
    let mut g = linux();
    g.nic_renames = vec![
        "/etc/udev/rules.d/70-persistent-net.rules: eth0 bound to MAC 52:54:00:12:34:56".into(),
    ];
    let v = decide(&fmt(), Some(&g), &form());
    assert!(v.importable, "{v:#?}");
    let net: Vec<_> = v.for_rule("R-NET").collect();
    assert_eq!(net.len(), 1, "{net:#?}");
    assert_eq!(net[0].severity, Severity::Warning);
    assert!(net[0].message.contains("MAC address"), "{net:#?}");
    assert_eq!(net[0].evidence, g.nic_renames);
    assert!(net[0].fix[0].contains("70-persistent-net.rules"));
    assert!(!v.passed.iter().any(|r| r == "R-NET"));
}

#[test]
fn activation() {
    let v = decide(&fmt(), Some(&windows()), &win_form());
    let i: Vec<_> = v.for_rule("R-ACTIVATION").collect();
    assert_eq!(i.len(), 1);
    assert_eq!(i[0].severity, Severity::Info);
    assert!(v.importable);
    assert_eq!(
        decide(&fmt(), Some(&linux()), &form())
            .for_rule("R-ACTIVATION")
            .count(),
        0
    );
    // Declared Windows, no guest facts about the OS yet.
    let g = GuestFacts {
        classification: Some(DiskRole::Encrypted),
        partition_table: Some(PartitionScheme::Mbr),
        ..GuestFacts::default()
    };
    assert_eq!(
        decide(&fmt(), Some(&g), &win_form())
            .for_rule("R-ACTIVATION")
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------
// Ordering, force scope, unknown facts, DescribeImportImageOs.
// ---------------------------------------------------------------------------------------

#[test]
fn codes_follow_the_pipeline() {
    let mut f = form();
    f.region = Some("ap-shenzhen-fsi".into());
    f.source_region = Some("ap-guangzhou".into());
    f.os_version = Some("99".into());
    let mut g = linux();
    g.partition_table = Some(PartitionScheme::Gpt);
    g.virtio = Some(false);
    g.cloud_init = Some(false);
    let big = FormatFacts::readable("vmdk", 600 * GIB, 60 * GIB);
    let v = decide(&big, Some(&g), &f);
    assert_eq!(
        v.codes,
        vec![
            Code::InvalidUrl,
            Code::InvalidFormatSize,
            Code::PartitionNotPresent,
            Code::InvalidImageOsVersionUnsupported,
            Code::VirtioNotInstall,
            Code::CloudInitNotInstalled,
        ]
    );
    assert_eq!(v.first_code(), Some(Code::InvalidUrl));
    // Errors come first, in code order; both size errors are reported.
    let errs: Vec<_> = v.errors().collect();
    assert_eq!(errs.len(), 7, "{errs:#?}");
    assert!(v.findings[..7]
        .iter()
        .all(|f| f.severity == Severity::Error));
    assert_eq!(v.for_rule("R-SIZE-ACTUAL").count(), 1);
    assert_eq!(v.for_rule("R-SIZE-VIRTUAL").count(), 1);

    // Force leaves every code but the two waived ones.
    let v = decide(&big, Some(&g), &forced(f));
    assert_eq!(
        v.codes,
        vec![
            Code::InvalidUrl,
            Code::InvalidFormatSize,
            Code::PartitionNotPresent,
            Code::InvalidImageOsVersionUnsupported,
        ]
    );
    assert_eq!(v.findings.iter().filter(|f| f.waived).count(), 2);

    // Serialised codes are the API's spelling.
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["codes"][3], "InvalidImageOsVersion.Unsupported");
    assert_eq!(json["findings"][0]["severity"], "error");
    assert_eq!(json["findings"][0]["rule"], "R-REGION");
}

#[test]
fn force_waives_only_virtio_and_cloudinit() {
    let waived: Vec<&str> = RULES
        .iter()
        .filter(|r| r.force_waives)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(waived, ["R-VIRTIO", "R-CLOUDINIT"]);
    for r in RULES {
        assert_eq!(
            r.force_waives,
            ["R-VIRTIO", "R-CLOUDINIT"].contains(&r.id.as_str()),
            "{}",
            r.id
        );
    }
}

#[test]
fn no_guest_facts() {
    let v = decide(&fmt(), None, &form());
    assert!(v.importable);
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].severity, Severity::Warning);
    // A refused image: the skipped checks are only information.
    let v = decide(
        &FormatFacts::refused(Some("vhdx"), "VHDX is not supported"),
        None,
        &form(),
    );
    assert_eq!(v.codes, vec![Code::InvalidFormatSize]);
    assert_eq!(
        v.findings
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .count(),
        1
    );
    // Guest facts all unknown: warnings only, never a code.
    let v = decide(
        &FormatFacts::default(),
        Some(&GuestFacts::default()),
        &ImportForm::default(),
    );
    assert!(v.importable, "{v:#?}");
    assert!(v.codes.is_empty());
}

#[test]
fn rule_table_covers_every_finding_rule() {
    let ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
    for id in [
        "R-REGION",
        "R-FMT",
        "R-SIZE-ACTUAL",
        "R-SIZE-VIRTUAL",
        "R-PART",
        "R-ERR",
        "R-OS",
        "R-ARCH",
        "R-VIRTIO",
        "R-CLOUDINIT",
        "R-KERNEL",
        "R-NET",
        "R-ACTIVATION",
    ] {
        assert!(ids.iter().any(|i| *i == id), "{id}");
    }
    assert_eq!(MAX_ACTUAL_BYTES, 50 * 1024 * 1024 * 1024);
    assert_eq!(MAX_VIRTUAL_BYTES, 500 * 1024 * 1024 * 1024);
}

#[test]
fn describe_import_image_os_shape() {
    let d = describe_import_image_os();
    let json = serde_json::to_value(&d).unwrap();
    let obj = json.as_object().unwrap();
    assert_eq!(
        obj.keys().collect::<Vec<_>>(),
        ["ImportImageOsListSupported", "ImportImageOsVersionSet"]
    );
    assert_eq!(
        json["ImportImageOsListSupported"]["Linux"],
        serde_json::json!(["CentOS", "CoreOS", "Debian", "OpenSUSE", "SUSE", "Ubuntu"])
    );
    assert_eq!(
        json["ImportImageOsListSupported"]["Windows"],
        serde_json::json!([
            "Windows Server 2008",
            "Windows Server 2012",
            "Windows Server 2016"
        ])
    );
    let set = json["ImportImageOsVersionSet"].as_array().unwrap();
    assert_eq!(set.len(), 9);
    for e in set {
        let keys: Vec<_> = e.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["Architecture", "OsName", "OsVersions"]);
        assert_eq!(e["Architecture"], serde_json::json!(["x86_64", "i386"]));
    }
    let centos = set.iter().find(|e| e["OsName"] == "CentOS").unwrap();
    assert_eq!(
        centos["OsVersions"],
        serde_json::json!(["5", "6", "7", "8", "9", "10"])
    );
    let w = set
        .iter()
        .find(|e| e["OsName"] == "Windows Server 2016")
        .unwrap();
    assert_eq!(w["OsVersions"], serde_json::json!(["-"]));
    // Round trip.
    let back: ImportImageOs = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
    // Every listed (name, version) passes the form check.
    for e in &d.import_image_os_version_set {
        for ver in &e.os_versions {
            let f = ImportForm {
                os_type: Some(e.os_name.clone()),
                os_version: Some(ver.clone()),
                architecture: Some("i386".into()),
                ..ImportForm::default()
            };
            assert!(check_form(&f).is_empty(), "{f:?}");
        }
    }
}

/// `decide` is total: no panic over combinations of facts, including hostile strings.
#[test]
fn decide_never_panics() {
    let long = "é".repeat(3_000);
    let strs: [Option<String>; 6] = [
        None,
        Some(String::new()),
        Some("gpt".into()),
        Some(long.clone()),
        Some("\u{0}\u{feff}mbr".into()),
        Some("centos\n\u{1b}[2Jevil".into()),
    ];
    let sizes = [None, Some(0), Some(u64::MAX), Some(MAX_ACTUAL_BYTES + 1)];
    let oses = [
        None,
        Some(OsFacts::default()),
        Some(OsFacts {
            os_type: None,
            distro: Some(long.clone()),
            id_like: vec![long.clone(); 100],
            version: Some(long.clone()),
            product_name: Some(long.clone()),
            arch: Some(long.clone()),
        }),
        linux().os,
        windows().os,
    ];
    let mut n = 0;
    for s in &strs {
        for sz in sizes {
            for os in &oses {
                for tri in [None, Some(true), Some(false)] {
                    for b in [false, true] {
                        let fmt = FormatFacts {
                            detected_format: s.clone(),
                            supported: b,
                            refusal: if b { None } else { s.clone() },
                            virtual_size: sz,
                            qcow2_required: sz,
                            qcow2_required_counts_zeros: b,
                            file_size: sz,
                        };
                        let g = GuestFacts {
                            partition_table: s.as_deref().and_then(|s| s.parse().ok()),
                            partition_count: sz.map(|x| x as u32),
                            hybrid_gpt: b,
                            lvm_present: b,
                            dynamic_disk: !b && tri == Some(true),
                            filesystems: if b { vec![long.clone(); 50] } else { vec![] },
                            all_zero: !b && tri == Some(false),
                            classification: s.as_deref().and_then(|s| s.parse().ok()),
                            classification_evidence: vec![long.clone(); 100],
                            os: os.clone(),
                            root_fs: s.clone(),
                            root_container: s.as_deref().and_then(|s| s.parse().ok()),
                            root_container_evidence: vec![long.clone(); 40],
                            virtio: tri,
                            virtio_missing: vec![long.clone(); 3],
                            virtio_evidence: vec![],
                            cloud_init: tri,
                            cloud_init_evidence: vec![],
                            kernel_hints: if b { vec![long.clone()] } else { vec![] },
                            kernel_count: sz.map(|x| (x % 3) as u32),
                            initramfs_tool: s.clone(),
                            device_name_mounts: vec![long.clone(); 40],
                            nics: vec![
                                NicFacts {
                                    name: long.clone(),
                                    static_ip: b,
                                    source: s.clone(),
                                };
                                3
                            ],
                            nic_renames: vec![long.clone(); 40],
                            boot: b.then(|| imgport_policy::BootFacts {
                                outcome: imgport_policy::BootOutcome::Failed,
                                failure: Some(imgport_policy::BootFailure::RootNotFound),
                                reason: long.clone(),
                                serial_tail: vec![long.clone(); 80],
                                ..Default::default()
                            }),
                        };
                        let form = ImportForm {
                            os_type: s.clone(),
                            os_version: s.clone(),
                            architecture: s.clone(),
                            force: b,
                            region: s.clone(),
                            source_region: Some("ap-guangzhou".into()),
                        };
                        for guest in [None, Some(&g)] {
                            let v = decide(&fmt, guest, &form);
                            n += 1;
                            assert_eq!(v.importable, v.codes.is_empty());
                            for f in &v.findings {
                                assert!(f.evidence.len() <= 33);
                                assert!(f.evidence.iter().all(|e| !e.contains('\n')));
                                assert!(!f.fix.is_empty(), "{f:#?}");
                                assert!(!f.message.contains('\n'));
                                assert!(f.message.len() < 1024, "{}", f.message);
                                assert!(f.evidence.iter().all(|e| e.len() < 600));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(n > 1000);
}
