//! Fix texts: the concrete steps for each finding, per distribution family.

use crate::facts::{DiskRole, RootContainer};
use crate::rules::{MAX_ACTUAL_BYTES, MAX_VIRTUAL_BYTES, MBR_MAX_DISK_BYTES, MBR_MAX_PRIMARY};

/// How fixes differ between guests: package manager and initramfs tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Debian, Ubuntu (apt, initramfs-tools).
    Debian,
    /// CentOS / RHEL and rebuilds (yum, dracut; mkinitrd on 5).
    Rhel,
    /// SUSE, openSUSE (zypper, dracut or mkinitrd).
    Suse,
    /// CoreOS / Flatcar (immutable; Ignition/coreos-cloudinit).
    CoreOs,
    Windows,
    /// Not known: give every family's commands.
    Unknown,
}

impl Family {
    /// The family of a supported OS name (`SupportedOs::name`).
    pub fn of_os_name(name: &str) -> Family {
        match name {
            "Ubuntu" | "Debian" => Family::Debian,
            "CentOS" => Family::Rhel,
            "SUSE" | "OpenSUSE" => Family::Suse,
            "CoreOS" => Family::CoreOs,
            n if n.starts_with("Windows") => Family::Windows,
            _ => Family::Unknown,
        }
    }
}

const VIRTIO_MODULES: &str = "virtio_blk virtio_pci virtio_net virtio_scsi";

/// How to see whether a Linux kernel has the virtio drivers.
pub const VIRTIO_CHECK: &str = "Check the kernel in the guest (or a chroot): \
     `grep -E 'CONFIG_VIRTIO_(BLK|NET|PCI)=' /boot/config-$(uname -r)` (=y built in, =m \
     module); if they are not set, install the distribution's stock kernel, then rebuild \
     the initramfs";

/// The seed's Windows virtio driver package (public and internal mirrors).
pub const WINDOWS_VIRTIO_URLS: &[&str] = &[
    "http://mirrors.tencent.com/install/windows/virtio_64_1.0.9.exe",
    "http://mirrors.tencentyun.com/install/windows/virtio_64_1.0.9.exe",
];

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// R-VIRTIO: make the virtio drivers available at boot. `tool` is the initramfs
/// generator the guest has (`dracut`, `initramfs-tools`, `mkinitrd`) when known: a
/// Debian or Ubuntu guest may use dracut, whose commands differ from initramfs-tools'.
pub fn virtio(
    family: Family,
    missing: &[String],
    major: Option<&str>,
    tool: Option<&str>,
) -> Vec<String> {
    let mods = if missing.is_empty() || missing.iter().any(|m| !m.starts_with("virtio")) {
        VIRTIO_MODULES.to_string()
    } else {
        missing.join(" ")
    };
    let check = VIRTIO_CHECK.to_string();
    let debian = vec![
        check.clone(),
        format!(
            "Debian/Ubuntu: `for m in {mods}; do echo $m >> /etc/initramfs-tools/modules; done`"
        ),
        "Debian/Ubuntu: `update-initramfs -u -k all`, then verify with \
         `lsinitramfs /boot/initrd.img-$(uname -r) | grep virtio`"
            .to_string(),
    ];
    let rhel = if major == Some("5") {
        vec![
            check.clone(),
            "CentOS 5: `mkinitrd -f --with=virtio_blk --with=virtio_pci --with=virtio_net \
             /boot/initrd-$(uname -r).img $(uname -r)`"
                .to_string(),
        ]
    } else {
        vec![
            check.clone(),
            format!(
                "CentOS/RHEL: `dracut -f --add-drivers \"{mods}\" \
                 /boot/initramfs-$(uname -r).img $(uname -r)`"
            ),
            format!(
                "CentOS/RHEL: keep it for future kernels: `echo 'add_drivers+=\" {mods} \"' > \
                 /etc/dracut.conf.d/virtio.conf`; verify with \
                 `lsinitrd /boot/initramfs-$(uname -r).img | grep virtio`"
            ),
        ]
    };
    let suse = vec![
        check.clone(),
        format!(
            "SUSE/openSUSE (dracut, SLES 12+): `dracut -f --add-drivers \"{mods}\"`; older \
             releases: add them to INITRD_MODULES in /etc/sysconfig/kernel and run `mkinitrd`"
        ),
    ];
    // dracut on Debian/Ubuntu names the image /boot/initrd.img-V, as initramfs-tools does.
    let debian_dracut = vec![
        check.clone(),
        format!(
            "Debian/Ubuntu with dracut: `dracut -f --add-drivers \"{mods}\" \
             /boot/initrd.img-$(uname -r) $(uname -r)`"
        ),
        format!(
            "Debian/Ubuntu with dracut: keep it for future kernels: `echo 'add_drivers+=\" \
             {mods} \"' > /etc/dracut.conf.d/virtio.conf`; verify with `lsinitrd \
             /boot/initrd.img-$(uname -r) | grep virtio`"
        ),
    ];
    match (family, tool) {
        (Family::Debian, Some("dracut")) => return debian_dracut,
        (Family::Unknown, Some("dracut")) => {
            let mut v = rhel;
            v.extend(debian_dracut.into_iter().skip(1));
            return v;
        }
        (Family::Unknown, Some("initramfs-tools")) => return debian,
        _ => {}
    }
    match family {
        Family::Debian => debian,
        Family::Rhel => rhel,
        Family::Suse => suse,
        Family::CoreOs => s(&[
            "CoreOS ships virtio in its kernel; a missing driver means a modified image: \
             rebuild it from an official CoreOS/Flatcar image",
        ]),
        Family::Windows => {
            let mut v = vec![format!(
                "Install the KVM virtio drivers in the running Windows before exporting it: \
                 download {} (internal network: {}) and run it",
                WINDOWS_VIRTIO_URLS[0], WINDOWS_VIRTIO_URLS[1]
            )];
            v.push(
                "Check that the services viostor (disk) and netkvm (network) exist under \
                 HKLM\\SYSTEM\\CurrentControlSet\\Services with Start=0 for viostor, then \
                 export the system disk again"
                    .to_string(),
            );
            v.push("Or import with Force and fix the instance yourself".to_string());
            v
        }
        Family::Unknown => {
            let mut v = debian;
            v.extend(rhel.into_iter().skip(1));
            v.extend(suse.into_iter().skip(1));
            v
        }
    }
}

/// R-CLOUDINIT: install the first-boot agent and point it at the cloud's data source.
pub fn cloud_init(family: Family) -> Vec<String> {
    let datasource = "Point its data source at the cloud's metadata service: set \
                      `datasource_list` in /etc/cloud/cloud.cfg.d/ as the cloud's cloud-init \
                      guide describes, so the instance reads its configuration at first boot";
    let force = "If cloud-init cannot be installed, import with Force and configure the \
                 instance (network, password, hostname) yourself";
    let mut v = match family {
        Family::Debian => s(&["Debian/Ubuntu: `apt-get update && apt-get install -y cloud-init`"]),
        Family::Rhel => s(&[
            "CentOS/RHEL: `yum install -y cloud-init` (CentOS 6: enable EPEL first: \
             `yum install -y epel-release`)",
        ]),
        Family::Suse => s(&["SUSE/openSUSE: `zypper install -y cloud-init`, then \
             `systemctl enable cloud-init-local cloud-init cloud-config cloud-final`"]),
        Family::CoreOs => s(&[
            "CoreOS: use the image's own first-boot agent (coreos-cloudinit / Ignition) \
             configured for the cloud's data source, or import with Force",
        ]),
        Family::Windows => {
            return s(&[
                "Install cloudbase-init (the MSI from https://cloudbase.it/cloudbase-init/) in \
                 the running Windows before exporting it",
                "Point it at the cloud's data source: set `metadata_services` in \
                 C:\\Program Files\\Cloudbase Solutions\\Cloudbase-Init\\conf\\cloudbase-init.conf \
                 as the cloud's cloudbase-init guide describes",
                "Or import with Force and configure the instance yourself",
            ])
        }
        Family::Unknown => s(&[
            "Install cloud-init with the distribution's package manager: \
             `apt-get install -y cloud-init` / `yum install -y cloud-init` / \
             `zypper install -y cloud-init`",
        ]),
    };
    v.push(datasource.to_string());
    v.push(force.to_string());
    v
}

/// R-FMT: convert to an accepted format.
pub fn format() -> Vec<String> {
    s(&[
        "Convert the image: `qemu-img convert -p -O qcow2 SRC image.qcow2` (qcow2, raw, vhd \
         and vmdk are accepted)",
        "Check the result: `qemu-img info image.qcow2 | grep 'file format'`",
    ])
}

/// R-FMT for a file that is not a disk image at all but what users upload by mistake:
/// an installation ISO, or an archive (OVA, tar, compressed file). `None` for others.
pub fn not_a_disk(detected: &str) -> Option<Vec<String>> {
    match detected {
        "iso9660" | "iso" => Some(s(&[
            "This is an installation or live medium (ISO 9660), not a system disk: install \
             the OS into a virtual machine, then export that machine's system disk \
             (`qemu-img convert -O qcow2 …`)",
        ])),
        "ova" => Some(s(&[
            "This is an OVA appliance (a tar of an OVF descriptor and disks): extract it \
             (`tar xf FILE.ova`) and import the system disk's .vmdk",
        ])),
        "tar" | "gzip" | "xz" | "zstd" | "bzip2" | "zip" | "7z" => Some(s(&[
            "This is an archive, not a disk image: extract it (e.g. `tar xf`, `gunzip`, \
             `unxz`, `unzstd`, `unzip`) and import the disk image inside; an archive of a \
             root filesystem must first be installed onto a partitioned disk",
        ])),
        _ => None,
    }
}

/// R-PART for an image cut short (partitions past its end).
pub fn truncated() -> Vec<String> {
    s(&[
        "The file is shorter than its partition table says: the export, copy or upload was \
         interrupted. Export the disk again and compare sizes (`qemu-img info` on both ends) \
         before uploading",
        "For a raw image, its size must be at least the end of the last partition \
         (`fdisk -l IMAGE`)",
    ])
}

/// R-FMT for an image that is corrupt or unsafe (refused by the disk core).
pub fn refused() -> Vec<String> {
    s(&[
        "Check the file: `qemu-img check SRC` (qcow2/vhd/vmdk) and compare its size and \
         checksum with the original; re-export it from the source machine if it is damaged",
        "Write a fresh, self-contained copy: `qemu-img convert -p -O qcow2 SRC image.qcow2` \
         (this also drops backing files and external extents)",
    ])
}

/// R-SIZE-ACTUAL: shrink what the image stores, or migrate offline.
pub fn actual_size() -> Vec<String> {
    vec![
        format!(
            "Reduce the data to at most {} GiB: delete what the system disk does not need \
             (logs, caches, data that belongs on a data disk)",
            MAX_ACTUAL_BYTES >> 30
        ),
        "Drop free space: `virt-sparsify --in-place image` (or `fstrim -av` in the guest \
         before exporting), then `imgport measure -O qcow2 image` to check again"
            .to_string(),
        format!(
            "Or use offline instance migration, which accepts images up to {} GiB",
            MAX_VIRTUAL_BYTES >> 30
        ),
    ]
}

/// R-SIZE-VIRTUAL: shrink the virtual disk.
pub fn virtual_size() -> Vec<String> {
    vec![
        format!(
            "Shrink the last partition's filesystem and the partition, then the disk to at \
             most {} GiB: `virt-resize --shrink /dev/sdaN SRC DST` onto a smaller disk \
             created with `qemu-img create -f qcow2 DST 100G`",
            MAX_VIRTUAL_BYTES >> 30
        ),
        "Or move data partitions to a separate data disk and export only the system disk"
            .to_string(),
    ]
}

/// R-PART: a GPT disk.
pub fn gpt(hybrid: bool, virtual_size: Option<u64>, partitions: Option<u32>) -> Vec<String> {
    let mut v = Vec::new();
    if hybrid {
        v.push(
            "The disk has a hybrid MBR: remove only the GPT structures and keep the MBR with \
             `sgdisk --zap SRC.raw` (on a raw copy: `qemu-img convert -O raw SRC SRC.raw`), \
             then check with `fdisk -l SRC.raw`"
                .to_string(),
        );
    }
    let too_big = virtual_size.is_some_and(|s| s > MBR_MAX_DISK_BYTES);
    let too_many = partitions.is_some_and(|n| n > MBR_MAX_PRIMARY);
    if too_big || too_many {
        v.push(format!(
            "This disk cannot be converted to MBR in place ({}): reinstall or copy the system \
             onto a new MBR-partitioned disk",
            if too_big {
                "larger than 2 TiB"
            } else {
                "more than 4 partitions"
            }
        ));
    } else {
        v.push(
            "Convert GPT to MBR on a raw copy (`qemu-img convert -O raw SRC SRC.raw`): \
             `sgdisk -m 1:2:3 SRC.raw` listing up to 4 partitions to keep, or interactively \
             `gdisk SRC.raw` → r (recovery) → g (convert to MBR) → w; possible only for disks \
             up to 2 TiB with at most 4 partitions"
                .to_string(),
        );
    }
    v.push(
        "A UEFI-booted system will not boot from MBR by itself: install a BIOS boot loader \
         afterwards (Linux: `grub-install --target=i386-pc /dev/sdX` and \
         `grub-mkconfig -o /boot/grub/grub.cfg` / `grub2-mkconfig -o /boot/grub2/grub.cfg`; \
         Windows: `bcdboot C:\\Windows /s C: /f BIOS` and mark the partition active)"
            .to_string(),
    );
    v
}

/// PartitionNotPresent: no partition information at all.
pub fn no_partitions() -> Vec<String> {
    s(&[
        "Export the whole system disk (all partitions and the boot sector), not a single \
         partition or filesystem: e.g. `qemu-img convert -O qcow2 /dev/sda image.qcow2` or \
         the hypervisor's disk export",
        "Check the result with `fdisk -l` / `qemu-img info` before uploading",
    ])
}

/// Why no root partition was found, for [`no_root`]'s advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoot {
    /// What inspection says the disk is.
    Disk(DiskRole),
    /// Windows on a filesystem other than NTFS.
    WindowsNotNtfs,
    /// Windows in a volume container, or on a dynamic disk.
    WindowsIn(RootContainer),
    /// Not established.
    Unknown,
}

/// RootPartitionNotFound (R-ERR, R-PART for Windows): what to do about `why`.
pub fn no_root(why: NoRoot) -> Vec<String> {
    use DiskRole::*;
    use NoRoot::{Disk, WindowsIn, WindowsNotNtfs};
    match why {
        Disk(InstallIso) => s(&[
            "This is an installation medium, not a system disk: install the OS into a \
             virtual machine from it, then export that machine's system disk \
             (`qemu-img convert -O qcow2 …`)",
        ]),
        Disk(Archive) => s(&[
            "This is a file archive (an installation package or a backup), not a disk \
             image: if it holds a disk image, extract it (`tar xf`, `unzip`, `7z x`) and \
             import that; an archive of a root filesystem must first be installed onto a \
             partitioned disk in a virtual machine, whose system disk you then export",
        ]),
        Disk(DataDisk) => s(&[
            "This is a data disk: export the system disk (the one holding / or C:\\Windows) \
             instead",
        ]),
        Disk(BootOnly) => s(&[
            "Only a boot partition is present: export the whole system disk including the \
             root filesystem, not the /boot partition alone",
        ]),
        Disk(SwapOnly) => s(&["Only swap is present: export the system disk instead"]),
        Disk(Encrypted) => s(&[
            "The root filesystem is encrypted (LUKS/BitLocker) and cannot be read or \
             started by the import: decrypt it (e.g. `cryptsetup reencrypt --decrypt`, \
             `manage-bde -off C:`) before exporting",
        ]),
        WindowsNotNtfs => s(&[
            "Windows must be installed on an NTFS partition of an MBR disk: reinstall or \
             migrate the system onto NTFS",
        ]),
        Disk(StorageSpaces) => s(&[
            "This disk is a member of a Windows Storage Spaces pool: Windows cannot be \
             imported from a pool. Export the system disk (a basic MBR disk with the NTFS \
             system volume), or copy the data off the pool first",
        ]),
        Disk(SoftwareRaid) => s(&[
            "This disk is a member of a Linux md software RAID array, which the instance's \
             single disk cannot assemble: export the assembled array's contents onto a plain \
             partition (e.g. `qemu-img convert /dev/md0 …` into a disk with an MBR partition \
             table), or break the mirror and export one member with its RAID superblock \
             removed (`mdadm --zero-superblock` on a copy)",
        ]),
        WindowsIn(RootContainer::Lvm) => s(&[
            "Windows must be on an NTFS partition of a basic MBR disk, not in an LVM logical \
             volume: copy the volume onto a partition (e.g. in a Linux helper VM: create an \
             MBR partition of type 7 and `dd`/`ntfsclone` the LV onto it, then `bootrec \
             /rebuildbcd` or `bcdboot C:\\Windows` from the Windows recovery console), and \
             export that disk",
        ]),
        WindowsIn(RootContainer::MdRaid) => s(&[
            "Windows must be on an NTFS partition of a basic MBR disk, not in a software RAID \
             array: break the mirror, copy the system volume onto a plain partition (type 7), \
             make it bootable (`bcdboot C:\\Windows`) and export that disk",
        ]),
        WindowsIn(RootContainer::StorageSpaces) => s(&[
            "Windows cannot start from a Storage Spaces pool: move the system volume to a \
             basic MBR disk with an NTFS partition, then export that disk",
        ]),
        WindowsIn(RootContainer::DynamicDisk) => s(&[
            "Windows must be on a basic disk: convert the dynamic disk to basic (Disk \
             Management cannot do it without deleting volumes; back up and recreate, or use \
             a partition tool that converts in place), then export again",
        ]),
        _ => s(&[
            "Check that the uploaded file is the system disk image (with its partitions and \
             root filesystem), not an installation package, data disk, boot partition or \
             another file",
        ]),
    }
}

/// R-NET: one NIC named eth0, DHCP.
pub fn network(family: Family) -> Vec<String> {
    let mut v = match family {
        Family::Debian => s(&[
            "Debian/Ubuntu (ifupdown): keep only `auto eth0` / `iface eth0 inet dhcp` in \
             /etc/network/interfaces; Ubuntu 17.10+ (netplan): a single `eth0: {dhcp4: true}` \
             in /etc/netplan/*.yaml",
        ]),
        Family::Rhel => s(&[
            "CentOS/RHEL: keep only /etc/sysconfig/network-scripts/ifcfg-eth0 with \
             DEVICE=eth0, BOOTPROTO=dhcp, ONBOOT=yes (remove HWADDR/UUID lines)",
        ]),
        Family::Suse => s(&[
            "SUSE/openSUSE: keep only /etc/sysconfig/network/ifcfg-eth0 with BOOTPROTO='dhcp' \
             and STARTMODE='auto'",
        ]),
        Family::Windows => s(&[
            "Windows: set the network connection to obtain its address automatically (DHCP)",
        ]),
        _ => s(&["Configure a single interface, eth0, by DHCP"]),
    };
    if family != Family::Windows {
        v.push(
            "Use the kernel names the instance gets: add `net.ifnames=0 biosdevname=0` to the \
             kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then regenerate \
             grub.cfg) and remove MAC-bound udev rules \
             (/etc/udev/rules.d/70-persistent-net.rules)"
                .to_string(),
        );
    }
    v
}

/// R-KERNEL: go back to (or install) the distribution's kernel; `arch` is the guest's
/// (`i386` gets Debian's 32-bit kernel package).
pub fn kernel(family: Family, arch: Option<&str>) -> Vec<String> {
    let debian_pkg = match arch {
        Some("i386" | "i486" | "i586" | "i686" | "x86") => "linux-image-686-pae",
        _ => "linux-image-amd64",
    };
    let install = match family {
        Family::Debian => format!(
            "Debian/Ubuntu: `apt-get install -y {debian_pkg}` (Debian) or \
             `linux-image-generic` (Ubuntu)"
        ),
        Family::Rhel => "CentOS/RHEL: `yum install -y kernel`".to_string(),
        Family::Suse => "SUSE/openSUSE: `zypper install -y kernel-default`".to_string(),
        _ => "Install the distribution's stock kernel package".to_string(),
    };
    vec![
        install,
        "Make it the default boot entry (`grub2-set-default` / GRUB_DEFAULT) and check that \
         its initramfs contains the virtio drivers"
            .to_string(),
    ]
}

/// R-KERNEL, no kernel at all: install the distribution's kernel package (which brings
/// the virtio drivers and builds an initramfs with them) and a boot loader.
pub fn no_kernel(family: Family, arch: Option<&str>) -> Vec<String> {
    let mut out = kernel(family, arch);
    out.truncate(1);
    out.push(
        "Install a boot loader on the disk and generate its configuration, e.g. in a chroot of \
         the image: `grub-install /dev/sdX && update-grub` (Debian/Ubuntu) or \
         `grub2-install /dev/sdX && grub2-mkconfig -o /boot/grub2/grub.cfg` (CentOS/SUSE)"
            .to_string(),
    );
    out.push(
        "Check that the new initramfs holds the virtio drivers (`lsinitramfs` / `lsinitrd | \
         grep virtio`), then image the whole system disk again — a container or chroot tree \
         is not a bootable system disk; Force cannot waive a missing kernel"
            .to_string(),
    );
    out
}

/// R-REGION: copy the object into the import region.
pub fn region(region: &str) -> Vec<String> {
    vec![
        format!("Upload the image to a bucket in {region} and import from that object's URL"),
        "Or copy the object across regions with the object storage's copy/replication tool, \
         then use the new URL"
            .to_string(),
    ]
}
