//! Windows facts from registry hives: product, version, build, architecture, virtio
//! drivers, cloudbase-init (R-OS, R-ARCH, R-VIRTIO, R-CLOUDINIT, R-ACTIVATION).
