//! Linux facts: distribution, version, architecture, kernels, virtio support,
//! cloud-init, bootloader, network configuration (R-OS, R-ARCH, R-VIRTIO,
//! R-CLOUDINIT, R-KERNEL, R-NET).
