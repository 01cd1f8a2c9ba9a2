//! R-BOOT: what the boot test saw (issue 17).

use super::*;

/// R-BOOT (issue 17): what the boot test saw. A root not found on the virtio disk is
/// `VirtioNotInstall`, nothing bootable is `PartitionNotPresent`, both with the serial
/// console's evidence and not waived by Force (the failure was observed, not predicted);
/// other failures, a missing cloud-init marker and a timeout are warnings (a loaded TCG
/// host can be slow); a boot or a test not run is information.
pub(super) fn check_boot(cx: &mut Cx, g: &GuestFacts, family: Family, major: Option<&str>) {
    use crate::boot::{BootFailure, BootOutcome};
    let Some(b) = &g.boot else { return };
    cx.check(RuleId::Boot);
    let secs = b.elapsed_ms / 1000;
    let accel = b.accel.as_deref().unwrap_or("qemu");
    let mut evidence = vec![clip(&b.reason)];
    evidence.extend(
        b.serial_tail
            .iter()
            .rev()
            .take(MAX_EVIDENCE - 1)
            .rev()
            .map(|l| clip(l)),
    );
    match (b.outcome, b.failure) {
        (BootOutcome::Booted, _) => cx.info(
            RuleId::Boot,
            format!("boot test ({accel}): booted in {secs} s, cloud-init's final stage ran"),
            vec![],
        ),
        (BootOutcome::NotRun, _) => cx.info(
            RuleId::Boot,
            format!("boot test not run: {}", clip(&b.reason)),
            vec![],
        ),
        (BootOutcome::NoAgent, _) => cx.warn(
            RuleId::Boot,
            format!(
                "boot test ({accel}): the system came up but cloud-init's final stage did not \
                 run within {secs} s: the instance would get no network configuration, \
                 password or keys from the metadata service (R-BOOT, R-CLOUDINIT)"
            ),
            evidence,
            fixes::cloud_init(family),
        ),
        (BootOutcome::Failed, Some(BootFailure::RootNotFound)) => cx.fail(
            Code::VirtioNotInstall,
            RuleId::Boot,
            format!(
                "boot test ({accel}): the kernel booted but did not find its root filesystem \
                 on the virtio disk: the initramfs lacks the virtio drivers (or root= names \
                 another disk); an instance of this image cannot start (R-BOOT, R-VIRTIO)"
            ),
            evidence,
            fixes::virtio(
                family,
                &g.virtio_missing,
                major,
                g.initramfs_tool.as_deref(),
            ),
        ),
        (BootOutcome::Failed, Some(BootFailure::BootLoader)) => cx.fail(
            Code::PartitionNotPresent,
            RuleId::Boot,
            format!(
                "boot test ({accel}): the firmware or boot loader found nothing to boot: no \
                 boot loader in the MBR, or the boot partition it needs is not in the image \
                 (R-BOOT, R-PART)"
            ),
            evidence,
            vec![
                "Include the boot partition when making the image, and reinstall the boot \
                 loader (`grub-install /dev/sdX` or `grub2-install`, then `update-grub` / \
                 `grub2-mkconfig`)"
                    .into(),
            ],
        ),
        (BootOutcome::Failed, failure) => cx.warn(
            RuleId::Boot,
            format!(
                "boot test ({accel}): the boot did not reach a usable system ({}) after {secs} s",
                failure.map_or("failed", BootFailure::as_str)
            ),
            evidence,
            vec![
                "Read the serial console below; boot the image locally with \
                  `console=ttyS0` on the kernel command line to see the whole log"
                    .into(),
            ],
        ),
    }
}
