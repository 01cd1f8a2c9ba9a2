//! The R-VIRTIO and R-CLOUDINIT answers of a guest, with the evidence a user can
//! check: which kernel was judged, which drivers are missing, what says cloud-init
//! (or cloudbase-init) is installed.

use crate::linux::{Kernel, LinuxFacts, Tristate, VirtioModule};
use crate::windows::WindowsFacts;

/// The virtio and cloud-init answers of one guest.
#[derive(Debug, Default)]
pub struct Summary {
    pub virtio: Option<bool>,
    pub virtio_missing: Vec<String>,
    pub virtio_evidence: Vec<String>,
    pub cloud_init: Option<bool>,
    pub cloud_init_evidence: Vec<String>,
}

fn module<'k>(k: &'k Kernel, name: &str) -> Option<&'k VirtioModule> {
    k.virtio.iter().find(|m| m.name == name)
}

fn builtin(m: &VirtioModule) -> bool {
    m.builtin || m.config == Some(Tristate::Y)
}

/// Available at boot: built in, or in the initramfs.
fn at_boot(m: Option<&VirtioModule>) -> bool {
    m.is_some_and(|m| builtin(m) || m.in_initramfs == Some(true))
}

/// Available once the root is mounted: built in, a module on disk or in the config as `m`.
fn available(m: Option<&VirtioModule>) -> bool {
    m.is_some_and(|m| builtin(m) || m.on_disk || m.config == Some(Tristate::M))
}

/// What the judged kernel's initramfs is and holds (R-VIRTIO evidence).
fn initramfs_line(k: &Kernel) -> String {
    match (&k.initramfs, &k.initramfs_unscanned) {
        (Some(i), _) => {
            let virtio: Vec<&str> = k
                .virtio
                .iter()
                .filter(|m| m.in_initramfs == Some(true))
                .map(|m| m.name.as_str())
                .collect();
            format!(
                "initramfs {} ({} bytes): layers {}, {} entries, {} modules, virtio ones: {}{}",
                i.path,
                i.file_size,
                i.layers.join(" + "),
                i.entries,
                i.module_count,
                if virtio.is_empty() {
                    "none".to_string()
                } else {
                    virtio.join(", ")
                },
                i.error
                    .as_deref()
                    .map(|e| format!("; read stopped: {e}"))
                    .unwrap_or_default()
            )
        }
        (None, Some(p)) => format!("initramfs {p} not scanned (scan limit reached)"),
        (None, None) => format!("no initramfs for kernel {}", k.version),
    }
}

/// One virtio module missing at boot: every place it was looked for. A module file
/// on disk that is not in the initramfs means rebuilding the initramfs is enough.
fn module_line(k: &Kernel, m: &VirtioModule) -> String {
    let config = match (m.config, &k.config) {
        (Some(Tristate::Y), Some(p)) => format!("=y in {p}"),
        (Some(Tristate::M), Some(p)) => format!("=m (a module) in {p}"),
        (Some(Tristate::N), Some(p)) => format!("not set in {p}"),
        _ => "no kernel config".to_string(),
    };
    let dir = k.modules_dir.as_deref().unwrap_or("/lib/modules");
    let file = if m.on_disk {
        format!("module file present under {dir}")
    } else {
        format!("no module file under {dir}")
    };
    let initrd = match m.in_initramfs {
        Some(true) => "in the initramfs",
        Some(false) => "not in the initramfs",
        None => "initramfs not read",
    };
    let hint = if m.on_disk && m.in_initramfs == Some(false) {
        " (rebuilding the initramfs with it is enough)"
    } else {
        ""
    };
    format!("{}: {config}; {file}; {initrd}{hint}", m.name)
}

/// R-VIRTIO for Linux: the bootloader's default kernel (else the newest) must have a
/// virtio disk driver (virtio_blk or virtio_scsi) and virtio_pci at boot (built in or in
/// its initramfs), and virtio_net available.
pub fn linux(f: &LinuxFacts) -> Summary {
    let mut s = Summary::default();
    let kernel = f
        .kernels
        .iter()
        .find(|k| k.is_default)
        .or_else(|| f.kernels.last());
    match kernel {
        None => {
            s.virtio_evidence
                .push("no kernel found in /boot or /lib/modules".into());
        }
        Some(k) => {
            let which = if k.is_default {
                "the bootloader's default kernel"
            } else {
                "the newest kernel (no bootloader default found)"
            };
            s.virtio_evidence
                .push(format!("{which} {}: {}", k.version, k.virtio_boot_reason));
            s.virtio_evidence.push(initramfs_line(k));
            if k.virtio_boot == Some(false) {
                if !at_boot(module(k, "virtio_blk")) && !at_boot(module(k, "virtio_scsi")) {
                    s.virtio_missing.push("virtio_blk".into());
                }
                if !at_boot(module(k, "virtio_pci")) {
                    s.virtio_missing.push("virtio_pci".into());
                }
                for name in &s.virtio_missing {
                    if let Some(m) = module(k, name) {
                        s.virtio_evidence.push(module_line(k, m));
                    }
                }
                if let Some(t) = f.initramfs_tool {
                    s.virtio_evidence
                        .push(format!("initramfs generator installed: {}", t.name()));
                }
            }
            if k.virtio_net == Some(false) && !available(module(k, "virtio_net")) {
                s.virtio_missing.push("virtio_net".into());
                s.virtio_evidence.push(format!(
                    "kernel {}: virtio_net is neither built in nor a module",
                    k.version
                ));
            }
            s.virtio = match (k.virtio_boot, k.virtio_net) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), _) => Some(true),
                (None, _) => None,
            };
            if s.virtio == Some(false) && s.virtio_missing.is_empty() {
                s.virtio_missing.push("virtio_blk".into());
            }
        }
    }
    let c = &f.cloud_init;
    if let Some(p) = &c.package {
        s.cloud_init_evidence.push(format!("package: {p}"));
    }
    if let Some(p) = &c.program {
        s.cloud_init_evidence.push(format!("program: {p}"));
    }
    if c.config {
        s.cloud_init_evidence
            .push("/etc/cloud/cloud.cfg exists".into());
    }
    s.cloud_init_evidence
        .extend(c.enabled_units.iter().map(|u| format!("enabled unit: {u}")));
    if c.disabled_by_file {
        s.cloud_init_evidence
            .push("/etc/cloud/cloud-init.disabled exists: cloud-init will not run".into());
    }
    if let Some(d) = &c.datasource_list {
        s.cloud_init_evidence
            .push(format!("datasource_list: [{}]", d.join(", ")));
    }
    if s.cloud_init_evidence.is_empty() {
        s.cloud_init_evidence.push(
            "no cloud-init package, program (/usr/bin/cloud-init) or configuration (/etc/cloud)"
                .into(),
        );
    }
    s.cloud_init = Some(c.installed && !c.disabled_by_file);
    s
}

/// R-VIRTIO and R-CLOUDINIT for Windows: viostor or vioscsi set to load at boot with
/// its driver file, netkvm installed; cloudbase-init's service or program files.
pub fn windows(w: &WindowsFacts) -> Summary {
    let mut s = Summary::default();
    let v = &w.virtio;
    for d in &v.drivers {
        let state = match (&d.service, &d.driver_file) {
            (Some(svc), Some(file)) => format!(
                "service {} (Start={}) with {file}",
                svc.name,
                svc.start.map_or("?".to_string(), |n| n.to_string())
            ),
            (Some(svc), None) => format!("service {} but no driver file", svc.name),
            (None, Some(file)) => format!("{file} but no service key"),
            (None, None) if !d.driver_store.is_empty() => {
                format!("only staged in the driver store ({})", d.driver_store[0])
            }
            (None, None) => "not installed".into(),
        };
        s.virtio_evidence.push(format!("{}: {state}", d.name));
    }
    if !v.storage_ready {
        s.virtio_missing.push("viostor".into());
    }
    if !v.net_ready {
        s.virtio_missing.push("netkvm".into());
    }
    s.virtio = Some(v.ready);
    let c = &w.cloudbase_init;
    if let Some(svc) = &c.service {
        s.cloud_init_evidence
            .push(format!("service {} installed", svc.name));
    }
    if let Some(d) = &c.install_dir {
        s.cloud_init_evidence.push(format!("program files: {d}"));
    }
    if let Some(p) = &c.conf_path {
        s.cloud_init_evidence.push(format!("configuration: {p}"));
    }
    if s.cloud_init_evidence.is_empty() {
        s.cloud_init_evidence.push(
            "no cloudbase-init service and no Program Files/Cloudbase Solutions/Cloudbase-Init"
                .into(),
        );
    }
    s.cloud_init = Some(c.installed);
    s
}
