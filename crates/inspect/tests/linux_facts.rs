//! Linux facts on guests built in memory ([`MemFs`]), with initramfs images made
//! at test time by the real tools (`cpio -o -H newc`, gzip, xz, zstd, `lz4 -l`,
//! bzip2, lzma) and `cpio -it` as the oracle for what an archive holds.

use imgport_inspect::fs::memfs::MemFs;
use imgport_inspect::fs::{FileSystem, FileType, FsKind, FsProbe};
use imgport_inspect::guest::{Guest, Volume};
use imgport_inspect::linux::elf::{elf_arch, Arch};
use imgport_inspect::linux::initramfs::{scan_initramfs, scan_initramfs_reader};
use imgport_inspect::linux::{
    find_linux_root, inspect_linux, AddrMode, BootloaderKind, LinuxFacts, Tristate,
};
use imgport_inspect::Error;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

// ---------------------------------------------------------------- tools

/// Return unless every tool is installed (a failure under IMGPORT_TEST_REQUIRE_TOOLS=1).
macro_rules! require {
    ($($tool:expr),+) => {
        imgport_test_support::require_tools!(
            "apt-get install cpio gzip xz-utils zstd lz4 bzip2";
            $($tool),+
        )
    };
}

/// Run `cmd` with `input` on stdin; its stdout.
fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A newc archive of `files` made by `cpio -o -H newc` from a temporary tree.
fn cpio_newc(files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (path, data) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    let out = Command::new("sh")
        .args(["-c", "find . | LC_ALL=C sort | cpio -o -H newc --quiet"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cpio: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Entry count of an uncompressed archive as `cpio -it` lists it (the oracle).
fn cpio_count(archive: &[u8]) -> u64 {
    let out = pipe("cpio", &["-it", "--quiet"], archive);
    String::from_utf8_lossy(&out).lines().count() as u64
}

fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    match tool {
        "gzip" => pipe("gzip", &["-c", "-9"], data),
        "xz" => pipe("xz", &["-c", "--check=crc32"], data),
        "zstd" => pipe("zstd", &["-c", "-q", "-19"], data),
        "lz4" => pipe("lz4", &["-l", "-c", "-q"], data),
        "bzip2" => pipe("bzip2", &["-c"], data),
        "lzma" => pipe("lzma", &["-c"], data),
        t => panic!("no compressor {t}"),
    }
}

/// An early-microcode archive, as dracut/initramfs-tools put first.
fn early_cpio() -> Vec<u8> {
    cpio_newc(&[
        ("early_cpio", b"1\n"),
        ("kernel/x86/microcode/GenuineIntel.bin", &[0x01; 3000]),
    ])
}

/// A main initramfs archive with these modules for kernel `v`.
fn main_cpio(v: &str, modules: &[&str]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("init".into(), b"#!/bin/sh\n".to_vec()),
        ("usr/bin/busybox".into(), vec![0x7f; 5000]),
        (format!("usr/lib/modules/{v}/modules.dep"), b"".to_vec()),
        (
            format!("usr/lib/modules/{v}/kernel/drivers/ata/ahci.ko"),
            vec![1; 100],
        ),
    ];
    for m in modules {
        let sub = match *m {
            "virtio_blk" => "block",
            "virtio_net" => "net",
            "virtio_scsi" => "scsi",
            _ => "virtio",
        };
        files.push((
            format!("usr/lib/modules/{v}/kernel/drivers/{sub}/{m}.ko"),
            vec![2; 1234],
        ));
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    cpio_newc(&refs)
}

// ---------------------------------------------------------------- guest builders

/// The host's `/bin/sh` ELF header (x86_64 on CI) — a real binary's header.
fn host_sh_header() -> Vec<u8> {
    let mut h = std::fs::read("/bin/sh").expect("host /bin/sh");
    h.truncate(4096);
    h
}

/// A crafted ELF header prefix: class, data, e_machine.
fn crafted_elf(class: u8, data: u8, machine: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = data;
    h[6] = 1;
    let m = if data == 2 {
        machine.to_be_bytes()
    } else {
        machine.to_le_bytes()
    };
    h[18..20].copy_from_slice(&m);
    h
}

fn probe(uuid: Option<&str>, label: Option<&str>) -> FsProbe {
    FsProbe {
        kind: FsKind::Ext4,
        uuid: uuid.map(str::to_string),
        label: label.map(str::to_string),
    }
}

/// usr-merged base layout with a shell.
fn base(fs: &mut MemFs) {
    fs.add_symlink("/bin", "usr/bin")
        .add_symlink("/sbin", "usr/sbin")
        .add_symlink("/lib", "usr/lib")
        .add_symlink("/lib64", "usr/lib64")
        .add_file("/usr/bin/dash", host_sh_header())
        .add_symlink("/usr/bin/sh", "dash")
        .add_symlink("/usr/sbin/init", "../lib/systemd/systemd")
        .add_file("/usr/lib/systemd/systemd", host_sh_header())
        .add_dir("/etc")
        .add_dir("/var/lib");
}

/// Kernel config text with the virtio symbols set to `v` ('y' or 'm').
fn kconfig(v: char) -> String {
    format!(
        "#\n# Automatically generated file; DO NOT EDIT.\nCONFIG_64BIT=y\nCONFIG_VIRTIO={v}\nCONFIG_VIRTIO_PCI={v}\nCONFIG_VIRTIO_BLK={v}\nCONFIG_SCSI_VIRTIO={v}\nCONFIG_VIRTIO_NET={v}\nCONFIG_VIRTIO_CONSOLE={v}\n"
    )
}

fn add_modules(fs: &mut MemFs, v: &str, modules: &[&str], builtin: &str) {
    let md = format!("/usr/lib/modules/{v}");
    fs.add_file(&format!("{md}/modules.builtin"), builtin);
    fs.add_file(&format!("{md}/kernel/drivers/ata/ahci.ko.xz"), "x");
    for m in modules {
        let sub = match *m {
            "virtio_blk" => "block",
            "virtio_net" => "net",
            "virtio_scsi" => "scsi",
            "virtio_console" => "char",
            _ => "virtio",
        };
        fs.add_file(&format!("{md}/kernel/drivers/{sub}/{m}.ko.xz"), "x");
    }
}

const ALL_VIRTIO: &[&str] = &[
    "virtio",
    "virtio_ring",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
];

fn guest_of(fs: MemFs) -> Guest {
    Guest::new(Arc::new(fs))
}

fn kernel<'a>(f: &'a LinuxFacts, v: &str) -> &'a imgport_inspect::linux::Kernel {
    f.kernels
        .iter()
        .find(|k| k.version == v)
        .unwrap_or_else(|| panic!("kernel {v} not in {:#?}", f.kernels))
}

fn debian12(initrd: Vec<u8>) -> MemFs {
    let v = "6.1.0-18-amd64";
    let mut fs = MemFs::new();
    base(&mut fs);
    fs.add_file(
        "/usr/lib/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n",
    )
    .add_symlink("/etc/os-release", "../usr/lib/os-release")
    .add_file("/etc/debian_version", "12.5\n")
    .add_file("/etc/fstab", "UUID=6e1c5d0e-55aa-4c2b-9f1e-00000000c10d / ext4 errors=remount-ro 0 1\n")
    .add_file(&format!("/boot/vmlinuz-{v}"), vec![0x4d, 0x5a, 0, 0])
    .add_file(&format!("/boot/config-{v}"), kconfig('m'))
    .add_file(&format!("/boot/initrd.img-{v}"), initrd)
    .add_symlink("/vmlinuz", &format!("boot/vmlinuz-{v}"))
    .add_file(
        "/boot/grub/grub.cfg",
        format!("set default=\"0\"\nmenuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-6e1c' {{\n\tinsmod ext2\n\tlinux\t/boot/vmlinuz-{v} root=UUID=6e1c5d0e-55aa-4c2b-9f1e-00000000c10d ro quiet\n\tinitrd\t/boot/initrd.img-{v}\n}}\n"),
    )
    .add_file(
        "/var/lib/dpkg/status",
        format!("Package: base-files\nStatus: install ok installed\nVersion: 12.4\n\nPackage: cloud-init\nStatus: install ok installed\nPriority: optional\nVersion: 22.4.2-1\nDescription: initialization\n multi-line\n\nPackage: linux-image-{v}\nStatus: install ok installed\nVersion: 6.1.76-1\n\nPackage: removed-thing\nStatus: deinstall ok config-files\nVersion: 1\n"),
    )
    .add_file("/usr/bin/cloud-init", "#!/usr/bin/python3\n")
    .add_file("/etc/cloud/cloud.cfg", "users:\n  - default\ndatasource_list: [ NoCloud, ConfigDrive, OpenStack, None ]\n")
    .add_file("/etc/cloud/cloud.cfg.d/90_dpkg.cfg", "# to update this file, run dpkg-reconfigure cloud-init\ndatasource_list: [ NoCloud, ConfigDrive, None ]\n")
    .add_symlink("/etc/systemd/system/cloud-init.target.wants/cloud-init.service", "/lib/systemd/system/cloud-init.service")
    .add_file("/etc/network/interfaces", "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n")
    .add_file("/etc/network/interfaces.d/50-cloud-init", "auto eth0\niface eth0 inet dhcp\n");
    add_modules(&mut fs, v, ALL_VIRTIO, "kernel/drivers/ata/libata.ko\n");
    fs
}

// ---------------------------------------------------------------- distributions

#[test]
fn debian12_zstd_initramfs_and_everything_else() {
    require!("cpio", "zstd");
    let v = "6.1.0-18-amd64";
    let main = main_cpio(
        v,
        &[
            "virtio",
            "virtio_ring",
            "virtio_pci",
            "virtio_blk",
            "virtio_net",
        ],
    );
    let expected_entries = cpio_count(&main);
    let initrd = compress("zstd", &main);
    let f = inspect_linux(&guest_of(debian12(initrd)));
    assert_eq!(f.distro.as_deref(), Some("debian"));
    assert_eq!(f.version.as_deref(), Some("12"));
    assert_eq!(
        f.product_name.as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );
    assert_eq!(f.arch, Some(Arch::X86_64), "host /bin/sh is x86_64 on CI");
    assert_eq!(f.arch_bits, Some(64));
    assert_eq!(f.default_kernel.as_deref(), Some(v));
    assert_eq!(f.bootloader.as_ref().unwrap().kind, BootloaderKind::Grub2);
    assert_eq!(f.package_db.as_deref(), Some("dpkg"));
    let k = kernel(&f, v);
    assert!(k.is_default);
    assert_eq!(k.image.as_deref(), Some("/boot/vmlinuz-6.1.0-18-amd64"));
    let ird = k.initramfs.as_ref().unwrap();
    assert_eq!(ird.layers, ["zstd@0"]);
    assert_eq!(
        ird.entries, expected_entries,
        "entries as `cpio -it` lists them"
    );
    assert_eq!(ird.error, None);
    assert_eq!(ird.module_versions, [v]);
    assert_eq!(k.virtio_boot, Some(true), "{}", k.virtio_boot_reason);
    assert!(
        k.virtio_boot_reason.contains("virtio_blk in the initramfs"),
        "{}",
        k.virtio_boot_reason
    );
    let blk = k.virtio.iter().find(|m| m.name == "virtio_blk").unwrap();
    assert_eq!(
        (blk.config, blk.builtin, blk.on_disk, blk.in_initramfs),
        (Some(Tristate::M), false, true, Some(true))
    );
    assert_eq!(k.virtio_net, Some(true));
    assert_eq!(k.modified_hint, None, "stock kernel with its dpkg package");
    assert!(f.cloud_init.installed);
    assert_eq!(
        f.cloud_init.package.as_deref(),
        Some("dpkg cloud-init 22.4.2-1")
    );
    assert_eq!(
        f.cloud_init.datasource_list.as_deref().unwrap(),
        ["NoCloud", "ConfigDrive", "None"]
    );
    assert_eq!(
        f.cloud_init.enabled_units,
        ["cloud-init.target.wants/cloud-init.service"]
    );
    assert_eq!(f.network.interfaces.len(), 1);
    assert_eq!(
        (
            f.network.interfaces[0].name.as_str(),
            f.network.interfaces[0].mode
        ),
        ("eth0", AddrMode::Dhcp)
    );
    assert!(f.network.warnings.is_empty(), "{:?}", f.network.warnings);
    // Evidence names what was looked at, and the whole thing serialises.
    assert!(f
        .evidence
        .iter()
        .any(|e| e.path == "/etc/os-release" && e.what.contains("ID=debian")));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.path == "/bin/sh -> /usr/bin/dash"),
        "{:#?}",
        f.evidence
    );
    let json = serde_json::to_string(&f).unwrap();
    assert!(json.contains("\"arch\":\"x86_64\""));
}

#[test]
fn debian12_initramfs_without_virtio_and_a_custom_kernel() {
    require!("cpio", "gzip");
    let v = "6.1.0-18-amd64";
    let mut fs = debian12(compress("gzip", &main_cpio(v, &["virtio_net"])));
    // A self-built kernel: no package, not grub's default, virtio built in.
    let c = "6.6.6-custom";
    fs.add_file(&format!("/boot/vmlinuz-{c}"), "x")
        .add_file(&format!("/boot/config-{c}"), kconfig('y'));
    add_modules(&mut fs, c, &[], "");
    let f = inspect_linux(&guest_of(fs));
    let k = kernel(&f, v);
    assert_eq!(
        k.virtio_boot,
        Some(false),
        "modules on disk but not in the initramfs: {}",
        k.virtio_boot_reason
    );
    assert!(
        k.virtio_boot_reason.contains("virtio_blk missing at boot"),
        "{}",
        k.virtio_boot_reason
    );
    assert_eq!(k.virtio_net, Some(true));
    let custom = kernel(&f, c);
    assert_eq!(
        custom.virtio_boot,
        Some(true),
        "{}",
        custom.virtio_boot_reason
    );
    assert!(
        custom.virtio_boot_reason.contains("config =y"),
        "{}",
        custom.virtio_boot_reason
    );
    let hint = custom.modified_hint.as_deref().unwrap();
    assert!(
        hint.contains("does not look like a stock debian-family kernel"),
        "{hint}"
    );
    assert!(
        hint.contains("no installed dpkg package linux-image-6.6.6-custom"),
        "{hint}"
    );
    assert!(!custom.is_default && k.is_default);
    assert!(f.evidence.iter().any(|e| e.what.contains("R-KERNEL hint")));
}

#[test]
fn debian12_novirtio_says_no_with_reasons() {
    require!("cpio", "gzip");
    let v = "6.1.0-18-amd64";
    let mut fs = MemFs::new();
    base(&mut fs);
    fs.add_file("/etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
        .add_file(&format!("/boot/vmlinuz-{v}"), "x")
        .add_file(
            &format!("/boot/config-{v}"),
            "CONFIG_64BIT=y\n# CONFIG_VIRTIO_BLK is not set\n# CONFIG_VIRTIO_PCI is not set\n# CONFIG_VIRTIO_NET is not set\n",
        )
        .add_file(&format!("/boot/initrd.img-{v}"), compress("gzip", &main_cpio(v, &[])));
    add_modules(&mut fs, v, &[], "");
    let f = inspect_linux(&guest_of(fs));
    let k = kernel(&f, v);
    assert_eq!(k.virtio_boot, Some(false), "{}", k.virtio_boot_reason);
    assert!(
        k.virtio_boot_reason.contains("virtio_blk missing at boot"),
        "{}",
        k.virtio_boot_reason
    );
    assert_eq!(k.virtio_net, Some(false));
    assert!(!f.cloud_init.installed);
    assert!(f
        .network
        .warnings
        .iter()
        .any(|w| w.contains("no interface configuration")));
}

#[test]
fn ubuntu2204_early_microcode_then_lz4_legacy() {
    require!("cpio", "lz4");
    let v = "5.15.0-91-generic";
    let early = early_cpio();
    let main = main_cpio(v, &["virtio_scsi", "virtio_net"]);
    let mut initrd = early.clone();
    initrd.extend(compress("lz4", &main));
    let mut fs = MemFs::new();
    base(&mut fs);
    fs.add_file(
        "/etc/os-release",
        "PRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n",
    )
    .add_file(&format!("/boot/vmlinuz-{v}"), "x")
    .add_file(&format!("/boot/initrd.img-{v}"), initrd)
    .add_file(&format!("/boot/config-{v}"), "CONFIG_VIRTIO=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_SCSI_VIRTIO=m\nCONFIG_VIRTIO_NET=m\n")
    .add_file("/var/lib/dpkg/status", format!("Package: linux-image-{v}\nStatus: install ok installed\nVersion: 5.15.0-91.101\n"))
    .add_file(
        "/etc/netplan/50-cloud-init.yaml",
        "# generated by cloud-init\nnetwork:\n    ethernets:\n        eth0:\n            dhcp4: true\n            match:\n                macaddress: fa:16:3e:11:22:33\n            set-name: eth0\n    version: 2\n",
    )
    .add_file(
        "/etc/netplan/01-static.yaml",
        "network:\n  ethernets:\n    ens4:\n      addresses:\n        - 192.168.1.10/24\n",
    );
    add_modules(&mut fs, v, &["virtio_scsi", "virtio_net"], "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\n");
    let f = inspect_linux(&guest_of(fs));
    assert_eq!(
        (f.distro.as_deref(), f.version.as_deref()),
        (Some("ubuntu"), Some("22.04"))
    );
    assert_eq!(f.id_like, ["debian"]);
    let k = kernel(&f, v);
    let ird = k.initramfs.as_ref().unwrap();
    assert_eq!(
        ird.layers,
        ["cpio@0".to_string(), format!("lz4-legacy@{}", early.len())]
    );
    assert_eq!(ird.entries, cpio_count(&early) + cpio_count(&main));
    assert_eq!(k.virtio_boot, Some(true));
    assert!(
        k.virtio_boot_reason
            .contains("virtio_blk built in (modules.builtin)"),
        "{}",
        k.virtio_boot_reason
    );
    assert_eq!(k.modified_hint, None);
    let names: Vec<&str> = f
        .network
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["ens4", "eth0"]);
    assert!(f
        .network
        .warnings
        .iter()
        .any(|w| w.contains("ens4 has a static address")));
    assert!(f
        .network
        .warnings
        .iter()
        .any(|w| w.contains("2 interfaces")));
    assert!(f
        .network
        .warnings
        .iter()
        .any(|w| w.contains("interface ens4 is configured")));
    assert!(!f.cloud_init.installed);
}

#[test]
fn centos7_release_file_only_dracut_gzip_and_rpmdb() {
    require!("cpio", "gzip");
    let v = "3.10.0-1160.el7.x86_64";
    let early = early_cpio();
    let main = main_cpio(v, &["virtio", "virtio_ring", "virtio_pci", "virtio_blk"]);
    let mut initrd = early.clone();
    initrd.extend(compress("gzip", &main));
    let mut fs = MemFs::new();
    // CentOS 7: /bin -> usr/bin, no os-release here (only the release file).
    base(&mut fs);
    fs.add_file("/etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n")
        .add_symlink("/etc/redhat-release", "centos-release")
        .add_file(&format!("/boot/vmlinuz-{v}"), "x")
        .add_file(&format!("/boot/initramfs-{v}.img"), initrd)
        .add_file("/boot/vmlinuz-0-rescue-4f2b8d6e", "x")
        .add_file(&format!("/boot/config-{v}"), kconfig('m'))
        .add_file(
            "/boot/grub2/grub.cfg",
            format!("set default=\"${{saved_entry}}\"\nmenuentry 'CentOS Linux ({v}) 7 (Core)' --class centos {{\n\tlinux16 /vmlinuz-{v} root=/dev/mapper/centos-root ro net.ifnames=0\n\tinitrd16 /initramfs-{v}.img\n}}\nmenuentry 'CentOS rescue' {{\n\tlinux16 /vmlinuz-0-rescue-4f2b8d6e ro\n}}\n"),
        )
        .add_file("/boot/grub2/grubenv", format!("# GRUB Environment Block\nsaved_entry=CentOS Linux ({v}) 7 (Core)\n{}", "#".repeat(900)))
        .add_file("/var/lib/rpm/Packages", {
            let mut db = vec![0u8; 70_000];
            db.extend_from_slice(b"\0\0\0\x08C\0cloud-init\x0019.4\0");
            db.extend(vec![0u8; 2 << 20]);
            db.extend_from_slice(format!("/lib/modules/{v}/\0").as_bytes());
            db
        })
        .add_file("/usr/bin/cloud-init", "x")
        .add_file("/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=\"eth0\"\nBOOTPROTO=\"dhcp\"\nONBOOT=\"yes\"\nTYPE=\"Ethernet\"\n")
        .add_file("/etc/sysconfig/network-scripts/ifcfg-lo", "DEVICE=lo\nIPADDR=127.0.0.1\n")
        .add_file(
            "/etc/udev/rules.d/70-persistent-net.rules",
            "# generated\nSUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"52:54:00:12:34:56\", ATTR{type}==\"1\", KERNEL==\"eth*\", NAME=\"eth0\"\n",
        );
    add_modules(&mut fs, v, ALL_VIRTIO, "");
    let f = inspect_linux(&guest_of(fs));
    assert_eq!(
        (f.distro.as_deref(), f.version.as_deref()),
        (Some("centos"), Some("7"))
    );
    assert_eq!(
        f.product_name.as_deref(),
        Some("CentOS Linux release 7.9.2009 (Core)")
    );
    assert_eq!(f.package_db.as_deref(), Some("rpm"));
    assert_eq!(
        f.kernels.len(),
        1,
        "the rescue copy is not a kernel: {:?}",
        f.kernels
    );
    assert_eq!(
        f.default_kernel.as_deref(),
        Some(v),
        "grubenv saved_entry names the default"
    );
    let k = kernel(&f, v);
    assert_eq!(
        k.initramfs.as_ref().unwrap().layers,
        ["cpio@0".to_string(), format!("gzip@{}", early.len())]
    );
    assert_eq!(
        k.initramfs.as_ref().unwrap().entries,
        cpio_count(&early) + cpio_count(&main)
    );
    assert_eq!(k.virtio_boot, Some(true));
    assert_eq!(
        k.modified_hint, None,
        "the rpm database mentions the kernel"
    );
    assert_eq!(k.virtio_net, Some(true), "module on disk");
    assert!(f.cloud_init.installed);
    assert_eq!(
        f.cloud_init.package.as_deref(),
        Some("rpm database mentions cloud-init")
    );
    assert_eq!(f.network.interfaces.len(), 1);
    assert!(
        f.network
            .warnings
            .iter()
            .any(|w| w.contains("pins eth0 to MAC 52:54:00:12:34:56")),
        "{:?}",
        f.network.warnings
    );
}

#[test]
fn opensuse_leap155_xz_initramfs() {
    require!("cpio", "xz");
    let v = "5.14.21-150500.55.39-default";
    let main = main_cpio(v, &["virtio_blk", "virtio_pci", "virtio_net"]);
    let mut fs = MemFs::new();
    base(&mut fs);
    fs.add_file(
        "/usr/lib/os-release",
        "NAME=\"openSUSE Leap\"\nVERSION=\"15.5\"\nID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n",
    )
    .add_symlink("/etc/os-release", "../usr/lib/os-release")
    .add_file(&format!("/boot/vmlinuz-{v}"), "x")
    .add_symlink("/boot/initrd", &format!("initrd-{v}"))
    .add_file(&format!("/boot/initrd-{v}"), compress("xz", &main))
    .add_file("/etc/sysconfig/network/ifcfg-eth0", "BOOTPROTO='dhcp'\nSTARTMODE='auto'\n")
    .add_file("/usr/lib/sysimage/rpm/Packages.db", format!("xx\0kernel-default\0{v}\0cloud-init\0yy"));
    add_modules(&mut fs, v, ALL_VIRTIO, "");
    let f = inspect_linux(&guest_of(fs));
    assert_eq!(
        (f.distro.as_deref(), f.version.as_deref()),
        (Some("opensuse-leap"), Some("15.5"))
    );
    let k = kernel(&f, v);
    assert_eq!(k.initramfs.as_ref().unwrap().layers, ["xz@0"]);
    assert_eq!(k.initramfs.as_ref().unwrap().entries, cpio_count(&main));
    assert_eq!(k.virtio_boot, Some(true), "{}", k.virtio_boot_reason);
    assert_eq!(k.modified_hint, None);
    assert_eq!(
        (
            f.network.interfaces[0].name.as_str(),
            f.network.interfaces[0].mode
        ),
        ("eth0", AddrMode::Dhcp)
    );
}

#[test]
fn sles12_suse_release_bzip2_initramfs() {
    require!("cpio", "bzip2");
    let v = "4.4.73-5-default";
    let main = main_cpio(v, &["virtio_blk", "virtio_pci"]);
    let mut fs = MemFs::new();
    base(&mut fs);
    fs.add_file("/etc/SuSE-release", "SUSE Linux Enterprise Server 12 (x86_64)\nVERSION = 12\nPATCHLEVEL = 3\n# This file is deprecated\n")
        .add_file(&format!("/boot/vmlinuz-{v}"), "x")
        .add_file(&format!("/boot/initrd-{v}"), compress("bzip2", &main))
        .add_file(&format!("/boot/config-{v}"), kconfig('m'))
        .add_file("/boot/grub2/grub.cfg", format!("menuentry 'SLES 12-SP3' {{\n linux /boot/vmlinuz-{v} root=/dev/sda2\n}}\n"));
    add_modules(&mut fs, v, ALL_VIRTIO, "");
    let f = inspect_linux(&guest_of(fs));
    assert_eq!(
        (f.distro.as_deref(), f.version.as_deref()),
        (Some("sles"), Some("12.3"))
    );
    assert_eq!(
        f.default_kernel.as_deref(),
        Some(v),
        "no set default: entry 0"
    );
    let k = kernel(&f, v);
    assert_eq!(k.initramfs.as_ref().unwrap().layers, ["bzip2@0"]);
    assert_eq!(k.virtio_boot, Some(true), "{}", k.virtio_boot_reason);
}

#[test]
fn lzma_initramfs() {
    require!("cpio", "lzma");
    let main = main_cpio("4.19.0", &["virtio_blk", "virtio_pci"]);
    let s = scan_initramfs(&compress("lzma", &main));
    assert_eq!(s.error, None);
    assert_eq!(s.layers, ["lzma@0"]);
    assert_eq!(s.entries, cpio_count(&main));
    assert!(s.modules.contains(&"virtio_blk".to_string()));
}

#[test]
fn every_compressor_concatenated_after_early_cpio() {
    require!("cpio", "gzip", "xz", "zstd", "lz4", "bzip2", "lzma");
    let early = early_cpio();
    let main = main_cpio("6.1.0", &["virtio_blk", "virtio_pci"]);
    let more = cpio_newc(&[("etc/extra.conf", b"x")]);
    for tool in ["gzip", "xz", "zstd", "bzip2", "lzma", "lz4"] {
        // early (plain) + compressed main + plain trailer archive (lz4 has no end
        // marker, so it must come last, as the kernel requires).
        let mut img = early.clone();
        img.extend(compress(tool, &main));
        if tool != "lz4" {
            img.extend(vec![0u8; 3]);
            img.extend(compress("gzip", &more));
        }
        let s = scan_initramfs(&img);
        assert_eq!(s.error, None, "{tool}: {:?}", s.layers);
        let want = cpio_count(&early)
            + cpio_count(&main)
            + if tool == "lz4" { 0 } else { cpio_count(&more) };
        assert_eq!(s.entries, want, "{tool}: {:?}", s.layers);
        assert!(s.modules.contains(&"virtio_pci".to_string()), "{tool}");
        assert_eq!(
            s.layers.len(),
            if tool == "lz4" { 2 } else { 3 },
            "{tool}: {:?}",
            s.layers
        );
    }
}

#[test]
fn damaged_initramfs_reports_without_panicking() {
    require!("cpio", "gzip");
    let main = main_cpio("6.1.0", &["virtio_blk"]);
    let gz = compress("gzip", &main);
    for cut in [1, 10, gz.len() / 2, gz.len() - 3] {
        let s = scan_initramfs(&gz[..cut]);
        assert!(s.error.is_some(), "cut at {cut}");
    }
    let s = scan_initramfs(b"hello world, not an initramfs");
    assert!(
        s.error.as_deref().unwrap().contains("neither cpio"),
        "{:?}",
        s.error
    );
    let mut bad = main.clone();
    bad[60] = b'Z'; // the first header's filesize field is no longer hex
    assert!(scan_initramfs(&bad)
        .error
        .as_deref()
        .unwrap()
        .contains("not hex"));
    let s = scan_initramfs(&[0u8; 100]);
    assert_eq!((s.entries, s.error), (0, None));
}

// ---------------------------------------------------------------- ELF

#[test]
fn elf_headers() {
    assert_eq!(
        elf_arch(&host_sh_header()).unwrap().name(),
        std::env::consts::ARCH
    );
    assert_eq!(elf_arch(&crafted_elf(1, 1, 3)).unwrap(), Arch::I386);
    assert_eq!(elf_arch(&crafted_elf(2, 1, 183)).unwrap(), Arch::Aarch64);
    assert_eq!(elf_arch(&crafted_elf(1, 1, 40)).unwrap(), Arch::Armv7);
    assert_eq!(elf_arch(&crafted_elf(2, 1, 21)).unwrap(), Arch::Ppc64le);
    assert_eq!(elf_arch(&crafted_elf(2, 2, 22)).unwrap(), Arch::S390x);
    assert_eq!(elf_arch(&crafted_elf(2, 1, 243)).unwrap(), Arch::Riscv64);
    assert!(elf_arch(&crafted_elf(3, 1, 62)).is_err());
    assert!(elf_arch(b"\x7fELF\x02").is_err());
    assert!(elf_arch(b"MZ").is_err());
    // A 32-bit guest: i386 userland.
    let mut fs = MemFs::new();
    fs.add_file("/bin/sh", crafted_elf(1, 1, 3))
        .add_dir("/etc")
        .add_dir("/usr");
    let f = inspect_linux(&guest_of(fs));
    assert_eq!((f.arch, f.arch_bits), (Some(Arch::I386), Some(32)));
}

// ---------------------------------------------------------------- guest paths

#[test]
fn symlinks_stay_inside_the_guest() {
    let mut fs = MemFs::new();
    fs.add_file("/etc/passwd", "guest passwd")
        .add_symlink("/escape", "../../../../../../etc/passwd")
        .add_symlink("/abs", "/etc/passwd")
        .add_symlink("/dir/up", "../../..")
        .add_symlink("/loop1", "loop2")
        .add_symlink("/loop2", "/loop1")
        .add_symlink("/self", "self")
        .add_symlink("/dangling", "/nonexistent/file")
        .add_symlink("/etc/alt", "/etc")
        .add_symlink("/empty", "");
    // A chain of 41 symlinks is over the ELOOP limit; 40 is fine.
    for i in 0..41 {
        fs.add_symlink(&format!("/chain/{i}"), &format!("/chain/{}", i + 1));
    }
    fs.add_file("/chain/41", "end");
    let g = guest_of(fs);
    assert_eq!(g.read_file("/escape", 100).unwrap(), b"guest passwd");
    assert_eq!(g.read_file("/abs", 100).unwrap(), b"guest passwd");
    assert_eq!(
        g.read_file("/../../etc/passwd", 100).unwrap(),
        b"guest passwd"
    );
    assert_eq!(g.realpath("/dir/up/etc/alt/passwd").unwrap(), "/etc/passwd");
    assert_eq!(g.realpath("/dir/up").unwrap(), "/");
    assert!(matches!(g.metadata("/loop1"), Err(Error::Limit { .. })));
    assert!(matches!(g.metadata("/self"), Err(Error::Limit { .. })));
    assert!(matches!(g.metadata("/chain/0"), Err(Error::Limit { .. })));
    assert_eq!(g.read_file("/chain/1", 10).unwrap(), b"end", "40 hops");
    assert!(matches!(g.metadata("/dangling"), Err(Error::NotFound(_))));
    assert_eq!(g.lstat("/dangling").unwrap().file_type, FileType::Symlink);
    assert_eq!(g.read_link("/abs").unwrap(), "/etc/passwd");
    assert!(!g.exists("/empty"));
    assert!(matches!(
        g.read_file("/etc/passwd/x", 10),
        Err(Error::NotADirectory(_))
    ));
    assert!(matches!(
        g.read_file(&"/a".repeat(3000), 10),
        Err(Error::Limit { .. })
    ));
    assert_eq!(
        g.glob("/chain", "4", ""),
        ["/chain/4", "/chain/40", "/chain/41"]
    );
}

#[test]
fn mounts_by_longest_prefix_and_symlinks_across_them() {
    let mut root = MemFs::new();
    root.add_dir("/boot")
        .add_dir("/usr")
        .add_file("/etc/x", "root x")
        .add_symlink("/etc/k", "/boot/vmlinuz");
    let mut boot = MemFs::new();
    boot.add_file("/vmlinuz", "kernel")
        .add_symlink("/up", "../etc/x")
        .add_dir("/efi");
    let mut efi = MemFs::new();
    efi.add_file("/EFI/BOOT/BOOTX64.EFI", "efi");
    let mut g = Guest::new(Arc::new(root));
    g.mount("/boot", Arc::new(boot), "partition 1").unwrap();
    g.mount("/boot/efi", Arc::new(efi), "partition 2").unwrap();
    assert_eq!(g.read_file("/etc/k", 10).unwrap(), b"kernel");
    assert_eq!(
        g.read_file("/boot/up", 10).unwrap(),
        b"root x",
        "`..` from a mount root goes to the parent fs"
    );
    assert_eq!(
        g.read_file("/boot/efi/EFI/BOOT/BOOTX64.EFI", 10).unwrap(),
        b"efi"
    );
    assert_eq!(g.read_dir("/boot/efi").unwrap()[0].name, "EFI");
    assert!(g.is_dir("/boot/efi"));
    assert!(matches!(
        g.read_file("/boot/vmlinuz", 3),
        Err(Error::Limit { .. })
    ));
}

// ---------------------------------------------------------------- root discovery

fn vol(name: &str, fs: MemFs) -> Volume {
    Volume {
        name: name.into(),
        offset: 0,
        size: 1 << 30,
        probe: fs.probe().clone(),
        fs: Some(Arc::new(fs)),
    }
}

#[test]
fn root_on_lvm_with_boot_partition_and_var_lv() {
    let v = "3.10.0-1160.el7.x86_64";
    let mut boot = MemFs::with_probe(probe(
        Some("7a3c1f00-0000-4000-8000-00000000b007"),
        Some("boot"),
    ));
    boot.add_file(&format!("/vmlinuz-{v}"), "x")
        .add_file(&format!("/config-{v}"), kconfig('y'));
    let mut root = MemFs::with_probe(probe(Some("11111111-0000-4000-8000-000000000001"), None));
    base(&mut root);
    root.add_dir("/boot")
        .add_dir("/var")
        .add_file("/etc/os-release", "ID=\"centos\"\nVERSION_ID=\"7\"\n")
        .add_file(
            "/etc/fstab",
            "/dev/mapper/centos-root /  xfs defaults 0 0\nUUID=7A3C1F00-0000-4000-8000-00000000B007 /boot xfs defaults 0 0\n/dev/mapper/centos-var /var xfs defaults 0 0\n/dev/mapper/centos-swap swap swap defaults 0 0\n/dev/sdb1 /data ext4 defaults 0 0\nLABEL=scratch /scratch ext4 noauto 0 0\n",
        );
    let mut var = MemFs::with_probe(probe(None, None));
    var.add_file("/lib/rpm/Packages", format!("..cloud-init\0..{v}.."));
    let mut data = MemFs::with_probe(probe(
        Some("22222222-0000-4000-8000-000000000002"),
        Some("data"),
    ));
    data.add_dir("/projects");
    let volumes = vec![
        vol("partition 1", boot),
        vol("lv centos/root", root),
        vol("lv centos/var", var),
        vol("partition 3", data),
    ];
    let (idx, guest, ev) = find_linux_root(&volumes).expect("root found");
    assert_eq!(idx, 1);
    let mps: Vec<&str> = guest
        .mounts()
        .iter()
        .map(|m| m.mountpoint.as_str())
        .collect();
    assert_eq!(mps, ["/boot", "/var"]);
    assert!(
        ev.iter().any(|e| e
            .what
            .contains("root /dev/mapper/centos-root is the chosen root")),
        "{ev:#?}"
    );
    assert!(
        ev.iter()
            .any(|e| e.what.contains("/dev/sdb1 for /data matches no volume")),
        "{ev:#?}"
    );
    let f = inspect_linux(&guest);
    assert_eq!(f.distro.as_deref(), Some("centos"));
    let k = kernel(&f, v);
    assert_eq!(
        k.image.as_deref(),
        Some(format!("/boot/vmlinuz-{v}").as_str())
    );
    assert_eq!(
        k.virtio_boot,
        Some(true),
        "config =y: {}",
        k.virtio_boot_reason
    );
    assert!(f.cloud_init.package.is_some(), "rpmdb on the /var volume");
}

#[test]
fn no_root_among_data_and_boot_only_volumes() {
    let mut data = MemFs::new();
    data.add_file("/projects/a.csv", "1");
    let mut boot = MemFs::new();
    boot.add_file("/vmlinuz-6.1.0-18-amd64", "x")
        .add_dir("/grub");
    let unreadable = Volume {
        name: "partition 3".into(),
        offset: 0,
        size: 1,
        probe: FsProbe {
            kind: FsKind::Swap,
            uuid: None,
            label: None,
        },
        fs: None,
    };
    assert!(find_linux_root(&[
        vol("partition 1", data),
        vol("partition 2", boot),
        unreadable
    ])
    .is_none());
    assert!(find_linux_root(&[]).is_none());
}

#[test]
fn flatcar_usr_partition_by_label_and_fedora_coreos_ostree() {
    let v = "5.15.142-flatcar";
    let mut root = MemFs::with_probe(probe(None, Some("ROOT")));
    root.add_dir("/usr")
        .add_dir("/etc")
        .add_symlink("/etc/os-release", "../usr/lib/os-release")
        .add_dir("/boot");
    let mut usr = MemFs::with_probe(probe(None, Some("USR-A")));
    usr.add_file("/lib/os-release", "NAME=\"Flatcar Container Linux by Kinvolk\"\nID=flatcar\nID_LIKE=coreos\nVERSION_ID=3760.2.0\n")
        .add_file(&format!("/lib/modules/{v}/modules.builtin"), "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/net/virtio_net.ko\n")
        .add_file("/bin/bash", crafted_elf(2, 1, 183));
    let volumes = vec![vol("partition 9", root), vol("partition 3", usr)];
    let (idx, guest, _) = find_linux_root(&volumes).unwrap();
    assert_eq!(idx, 0);
    let f = inspect_linux(&guest);
    assert_eq!(
        (f.distro.as_deref(), f.version.as_deref()),
        (Some("flatcar"), Some("3760.2.0"))
    );
    assert_eq!(f.arch, Some(Arch::Aarch64));
    let k = kernel(&f, v);
    assert_eq!(k.virtio_boot, Some(true), "{}", k.virtio_boot_reason);
    assert_eq!(k.modified_hint, None);

    // Fedora CoreOS: the root is an OSTree deployment directory.
    let fv = "6.5.6-300.fc39.x86_64";
    let d = "/ostree/deploy/fedora-coreos/deploy/3f1c2a.0";
    let mut phys = MemFs::with_probe(probe(None, Some("root")));
    phys.add_file(
        &format!("{d}/usr/lib/os-release"),
        "ID=fedora\nVERSION_ID=39\nVARIANT_ID=coreos\n",
    )
    .add_symlink(&format!("{d}/etc/os-release"), "../usr/lib/os-release")
    .add_file(&format!("{d}/etc/fstab"), "")
    .add_file(&format!("{d}/usr/lib/modules/{fv}/vmlinuz"), "x")
    .add_file(&format!("{d}/usr/lib/modules/{fv}/config"), kconfig('y'))
    .add_dir(&format!("{d}/boot"));
    let mut bootp = MemFs::with_probe(probe(None, Some("boot")));
    bootp.add_file(
        "/grub2/grub.cfg",
        "set default=\"${saved_entry}\"\nblscfg\n",
    );
    bootp.add_file("/loader/entries/ostree-1-fedora-coreos.conf", format!("title Fedora CoreOS\nlinux /ostree/fedora-coreos-ab/vmlinuz-{fv}\noptions root=UUID=x\n"));
    let (_, guest, ev) =
        find_linux_root(&[vol("partition 4", phys), vol("partition 3", bootp)]).unwrap();
    assert!(ev.iter().any(|e| e.what.contains("OSTree deployment")));
    let f = inspect_linux(&guest);
    assert_eq!(
        (f.distro.as_deref(), f.version.as_deref()),
        (Some("fedora-coreos"), Some("39"))
    );
    let k = kernel(&f, fv);
    assert_eq!(
        k.image.as_deref(),
        Some(format!("/usr/lib/modules/{fv}/vmlinuz").as_str())
    );
    assert_eq!(k.virtio_boot, Some(true));
    assert_eq!(
        f.bootloader.as_ref().map(|b| b.kind),
        Some(BootloaderKind::Grub2)
    );
    assert_eq!(
        f.default_kernel.as_deref(),
        Some(fv),
        "BLS entry, newest first"
    );
    assert!(k.is_default);
}

#[test]
fn older_release_files() {
    for (path, text, id, ver) in [
        ("/etc/redhat-release", "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n", "rhel", "7.9"),
        ("/etc/SuSE-release", "openSUSE 13.2 (x86_64)\nVERSION = 13.2\nCODENAME = Harlequin\n", "opensuse", "13.2"),
        ("/etc/debian_version", "8.11\n", "debian", "8"),
        ("/etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=14.04\nDISTRIB_DESCRIPTION=\"Ubuntu 14.04.6 LTS\"\n", "ubuntu", "14.04"),
        ("/usr/share/coreos/release", "COREOS_RELEASE_VERSION=1911.5.0\n", "coreos", "1911.5.0"),
    ] {
        let mut fs = MemFs::new();
        fs.add_file(path, text).add_dir("/usr").add_dir("/etc");
        let f = inspect_linux(&guest_of(fs));
        assert_eq!((f.distro.as_deref(), f.version.as_deref()), (Some(id), Some(ver)), "{path}");
    }
    // Nothing at all: None, with evidence, and no panic.
    let f = inspect_linux(&guest_of(MemFs::new()));
    assert_eq!(f.distro, None);
    assert!(f.kernels.is_empty() && f.arch.is_none() && f.bootloader.is_none());
    assert!(!f.evidence.is_empty());
}

// ---------------------------------------------------------------- streaming

/// Counts the bytes a scan takes from its reader.
struct Counting<'a>(&'a [u8], usize);

impl std::io::Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.0.len() - self.1).min(buf.len()).min(100_000);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

/// Incompressible bytes, so the compressed archive stays big.
fn noise(n: usize) -> Vec<u8> {
    imgport_test_support::pattern(n)
}

#[test]
fn initramfs_is_streamed_and_the_scan_stops_once_the_boot_drivers_are_seen() {
    require!("cpio", "gzip", "xz", "zstd", "lz4", "bzip2");
    // Modules first (sorted: usr/lib < usr/share), then 3 MiB of firmware-like noise.
    let big = noise(3 << 20);
    let ko = [2u8; 1234];
    let main = cpio_newc(&[
        ("init", b"#!/bin/sh\n"),
        (
            "usr/lib/modules/6.1.0/kernel/drivers/block/virtio_blk.ko",
            &ko,
        ),
        (
            "usr/lib/modules/6.1.0/kernel/drivers/virtio/virtio_pci.ko",
            &ko,
        ),
        ("usr/share/firmware/blob.bin", &big),
    ]);
    let enough = |m: &std::collections::BTreeSet<String>| {
        m.contains("virtio_pci") && m.contains("virtio_blk")
    };
    for tool in ["gzip", "zstd", "bzip2", "lz4", "xz", "none"] {
        let mut img = early_cpio();
        img.extend(if tool == "none" {
            main.clone()
        } else {
            compress(tool, &main)
        });
        // Whole: every entry, nothing partial.
        let mut r = Counting(&img, 0);
        let s = scan_initramfs_reader(&mut r, &|_| false);
        assert_eq!(s.error, None, "{tool}");
        assert!(!s.stopped_when_found);
        assert_eq!(
            s.entries,
            cpio_count(&early_cpio()) + cpio_count(&main),
            "{tool}"
        );
        assert_eq!(r.1, img.len(), "{tool}: read to the end");
        // Stopping: the boot drivers are seen, most of the file is never read (xz too:
        // it is decoded streaming; legacy lz4 comes in 8 MiB blocks, so this archive
        // is one block).
        let mut r = Counting(&img, 0);
        let s = scan_initramfs_reader(&mut r, &enough);
        assert_eq!(s.error, None, "{tool}");
        assert!(s.stopped_when_found, "{tool}");
        assert!(s.modules.contains(&"virtio_pci".to_string()), "{tool}");
        if tool != "lz4" {
            assert!(r.1 < img.len() / 2, "{tool}: read {} of {}", r.1, img.len());
        }
    }
}

#[test]
fn odc_and_old_binary_cpio_formats() {
    require!("cpio");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lib/modules/5.4/kernel/drivers/block")).unwrap();
    std::fs::write(
        dir.path()
            .join("lib/modules/5.4/kernel/drivers/block/virtio_blk.ko"),
        [7u8; 333],
    )
    .unwrap();
    std::fs::write(dir.path().join("init"), b"#!/bin/sh\n").unwrap();
    for format in ["odc", "bin", "newc", "crc"] {
        let out = Command::new("sh")
            .args([
                "-c",
                &format!("find . | LC_ALL=C sort | cpio -o -H {format} --quiet"),
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        let s = scan_initramfs(&out.stdout);
        assert_eq!(s.error, None, "{format}");
        assert_eq!(s.entries, cpio_count(&out.stdout), "{format}");
        assert_eq!(s.modules, ["virtio_blk"], "{format}");
        assert_eq!(s.module_versions, ["5.4"], "{format}");
    }
}
