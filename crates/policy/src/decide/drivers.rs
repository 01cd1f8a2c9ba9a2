//! What the guest needs to start on the cloud: R-VIRTIO (and the disk names it
//! implies), R-CLOUDINIT and R-KERNEL.

use super::*;

/// R-VIRTIO.
pub(super) fn check_virtio(
    cx: &mut Cx,
    g: &GuestFacts,
    family: Family,
    windows: bool,
    major: Option<&str>,
) {
    cx.check(RuleId::Virtio);
    match g.virtio {
        Some(true) => {}
        Some(false) => {
            let missing = if g.virtio_missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {})", list(&g.virtio_missing))
            };
            let message = if windows {
                format!(
                    "the KVM virtio drivers are not installed{missing}; Windows does not ship \
                     them"
                )
            } else {
                format!(
                    "the KVM virtio drivers are not available at boot in the kernel or \
                     initramfs{missing}"
                )
            };
            cx.fail(
                Code::VirtioNotInstall,
                RuleId::Virtio,
                message,
                g.virtio_evidence.clone(),
                fixes::virtio(
                    family,
                    &g.virtio_missing,
                    major,
                    g.initramfs_tool.as_deref(),
                ),
            );
        }
        None => cx.warn(
            RuleId::Virtio,
            "whether the virtio drivers are available at boot could not be established".into(),
            g.virtio_evidence.clone(),
            if windows {
                vec![
                    "Check in the running Windows that the viostor and netkvm services exist"
                        .into(),
                ]
            } else {
                vec![fixes::VIRTIO_CHECK.into()]
            },
        ),
    }
}

/// R-VIRTIO, Linux: mounts by a non-virtio disk name (`/dev/sda5`) do not resolve on
/// the instance's virtio disk (`/dev/vda`): boot waits for them, then stops in
/// emergency mode. A warning: the rule is about the drivers.
pub(super) fn check_device_names(cx: &mut Cx, g: &GuestFacts) {
    if g.device_name_mounts.is_empty() {
        return;
    }
    cx.warn(
        RuleId::Virtio,
        "filesystems are mounted by disk device name (/dev/sd*, /dev/hd*, /dev/xvd*, \
         /dev/nvme*); on the instance the disk is a virtio disk, /dev/vda, so those names do \
         not exist and the boot may stop"
            .into(),
        g.device_name_mounts.clone(),
        vec![
            "Mount by UUID or LABEL in /etc/fstab (see `blkid` for the values), e.g. \
             `UUID=… / ext4 defaults 0 1` instead of `/dev/sda1 / ext4 defaults 0 1`"
                .into(),
            "Use root=UUID=… on the kernel command line (GRUB_DISABLE_LINUX_UUID unset, then \
             `update-grub` or `grub2-mkconfig -o /boot/grub2/grub.cfg`)"
                .into(),
        ],
    );
}

/// R-CLOUDINIT.
pub(super) fn check_cloud_init(cx: &mut Cx, g: &GuestFacts, family: Family, windows: bool) {
    cx.check(RuleId::CloudInit);
    let agent = if windows {
        "cloudbase-init"
    } else {
        "cloud-init"
    };
    match g.cloud_init {
        Some(true) => {}
        Some(false) => cx.fail(
            Code::CloudInitNotInstalled,
            RuleId::CloudInit,
            format!(
                "{agent} is not installed, so the instance cannot be initialised at first \
                 boot"
            ),
            g.cloud_init_evidence.clone(),
            fixes::cloud_init(family),
        ),
        None => cx.warn(
            RuleId::CloudInit,
            format!("whether {agent} is installed could not be established"),
            g.cloud_init_evidence.clone(),
            cloud_init_check(windows),
        ),
    }
}

pub(super) fn cloud_init_check(windows: bool) -> Vec<String> {
    if windows {
        vec![
            "Check in the guest that the cloudbase-init service exists: \
              `sc query cloudbase-init`"
                .into(),
        ]
    } else {
        vec![
            "Check in the guest: `cloud-init --version`, or `rpm -q cloud-init` / \
              `dpkg -s cloud-init`"
                .into(),
        ]
    }
}

/// R-KERNEL: no kernel at all is `VirtioNotInstall` (the virtio drivers ship with the
/// kernel), which Force does not waive (`RULES`: R-KERNEL's `force_waives` is false); a
/// modified kernel is a warning.
pub(super) fn check_kernel(cx: &mut Cx, g: &GuestFacts, family: Family) {
    cx.check(RuleId::Kernel);
    if g.kernel_count == Some(0) {
        let mut evidence =
            vec!["kernels found: none (no /boot/vmlinuz-*, no /lib/modules/*)".into()];
        evidence.extend(g.virtio_evidence.iter().cloned());
        cx.fail(
            Code::VirtioNotInstall,
            RuleId::Kernel,
            "no Linux kernel was found in the image (/boot/vmlinuz-*, /lib/modules/*): an \
             instance cannot boot from it, and the virtio drivers, which ship with the kernel, \
             are missing too; was a container or chroot tree imaged? Force does not waive \
             this"
                .into(),
            evidence,
            fixes::no_kernel(family, g.os.as_ref().and_then(|o| o.arch.as_deref())),
        );
    }
    if !g.kernel_hints.is_empty() {
        cx.warn(
            RuleId::Kernel,
            "the kernel looks modified (not the distribution's stock kernel); the import may \
             fail"
                .into(),
            g.kernel_hints.clone(),
            fixes::kernel(family, g.os.as_ref().and_then(|o| o.arch.as_deref())),
        );
    }
}
