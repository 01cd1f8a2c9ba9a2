//! Installed kernels and their virtio support (R-VIRTIO, R-KERNEL).
//!
//! Kernels are found by image (`/boot/vmlinuz-V`, `vmlinux-V`, `Image-V`) and by
//! module tree (`/lib/modules/V`, `/usr/lib/modules/V`). Per kernel the virtio
//! evidence is, in order of strength: the kernel config (`CONFIG_VIRTIO_BLK=y`),
//! `modules.builtin`, module files on disk, and the initramfs contents.

use super::cpio::module_name;
use super::initramfs::{self, scan_guest_initramfs};
use crate::guest::{Evidence, Guest};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Most kernels examined.
const MAX_KERNELS: usize = 32;
/// Most initramfs images decompressed (the default kernel's first).
const MAX_INITRAMFS_SCANS: usize = 4;
/// Largest kernel config / modules.builtin read.
const MAX_TEXT: u64 = 16 * 1024 * 1024;

/// The virtio modules we look for.
pub const VIRTIO_MODULES: &[&str] = &[
    "virtio",
    "virtio_ring",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
    "virtio_console",
];

/// What an initramfs scan must see before it may stop (R-VIRTIO: the disk is reachable at
/// boot): the PCI transport and a virtio disk driver. The rest of the archive is not read.
fn boot_drivers_found(modules: &BTreeSet<String>) -> bool {
    modules.contains("virtio_pci")
        && (modules.contains("virtio_blk") || modules.contains("virtio_scsi"))
}

/// Kernel config symbol of each virtio module.
fn kconfig_symbol(module: &str) -> &'static str {
    match module {
        "virtio_pci" => "CONFIG_VIRTIO_PCI",
        "virtio_blk" => "CONFIG_VIRTIO_BLK",
        "virtio_scsi" => "CONFIG_SCSI_VIRTIO",
        "virtio_net" => "CONFIG_VIRTIO_NET",
        "virtio_console" => "CONFIG_VIRTIO_CONSOLE",
        _ => "CONFIG_VIRTIO",
    }
}

/// A tristate config value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tristate {
    /// `=y`: built into the kernel image.
    Y,
    /// `=m`: a loadable module.
    M,
    /// `# … is not set` or absent.
    N,
}

/// What we know of one virtio module for one kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtioModule {
    pub name: String,
    /// From the kernel config, when there is one.
    pub config: Option<Tristate>,
    /// Listed in `modules.builtin`.
    pub builtin: bool,
    /// A module file under `/lib/modules/V/kernel/drivers/…`.
    pub on_disk: bool,
    /// In the initramfs (None: no initramfs read).
    pub in_initramfs: Option<bool>,
}

impl VirtioModule {
    fn is_builtin(&self) -> bool {
        self.builtin || self.config == Some(Tristate::Y)
    }
    fn at_boot(&self) -> bool {
        self.is_builtin() || self.in_initramfs == Some(true)
    }
}

/// The initramfs as read, without the full module list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InitramfsSummary {
    pub path: String,
    /// Bytes of the initramfs file (read whole: it is most of what inspection reads).
    pub file_size: u64,
    pub layers: Vec<String>,
    pub entries: u64,
    pub module_count: usize,
    pub module_versions: Vec<String>,
    pub decompressed_bytes: u64,
    pub error: Option<String>,
}

/// One installed kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernel {
    pub version: String,
    /// Kernel image path.
    pub image: Option<String>,
    pub initramfs: Option<InitramfsSummary>,
    /// Initramfs path when it exists but was not decompressed (scan cap reached).
    pub initramfs_unscanned: Option<String>,
    pub config: Option<String>,
    pub modules_dir: Option<String>,
    /// The bootloader's default.
    pub is_default: bool,
    pub virtio: Vec<VirtioModule>,
    /// virtio_blk (or virtio_scsi) and virtio_pci built in or in the initramfs.
    /// `None`: cannot tell (no config/modules.builtin and no readable initramfs).
    pub virtio_boot: Option<bool>,
    /// Which evidence decided `virtio_boot`.
    pub virtio_boot_reason: String,
    /// virtio_net built in or available as a module.
    pub virtio_net: Option<bool>,
    /// R-KERNEL: why this may not be the distribution's stock kernel.
    pub modified_hint: Option<String>,
}

/// Parse a kernel `.config`: `CONFIG_X=y|m|…` and `# CONFIG_X is not set`.
pub fn parse_kconfig(text: &str) -> BTreeMap<String, Tristate> {
    let mut out = BTreeMap::new();
    for line in text.lines().take(100_000) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("# ") {
            if let Some(sym) = rest.strip_suffix(" is not set") {
                out.insert(sym.to_string(), Tristate::N);
            }
        } else if let Some((k, v)) = t.split_once('=') {
            let v = match v {
                "y" => Tristate::Y,
                "m" => Tristate::M,
                "n" => Tristate::N,
                _ => continue,
            };
            out.insert(k.to_string(), v);
        }
    }
    out
}

fn read_text(guest: &Guest, path: &str) -> Option<String> {
    guest
        .read_file(path, MAX_TEXT)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn first_existing(guest: &Guest, paths: &[String]) -> Option<String> {
    paths.iter().find(|p| guest.is_file(p)).cloned()
}

/// Versions of installed kernels, with where each was seen.
fn discover(guest: &Guest, ev: &mut Vec<Evidence>) -> BTreeSet<String> {
    let mut versions = BTreeSet::new();
    for prefix in ["vmlinuz-", "vmlinux-", "Image-"] {
        for path in guest.glob("/boot", prefix, "") {
            let name = path.rsplit('/').next().unwrap_or("");
            let v = name.get(prefix.len()..).unwrap_or("");
            if v.contains("-rescue-") {
                ev.push(Evidence::new(&path, "rescue kernel copy, not counted"));
                continue;
            }
            if v.is_empty() || v.ends_with(".hmac") || !guest.is_file(&path) {
                continue;
            }
            versions.insert(v.to_string());
        }
    }
    for dir in ["/lib/modules", "/usr/lib/modules"] {
        if let Ok(entries) = guest.read_dir(dir) {
            for e in entries {
                if guest.is_dir(&format!("{dir}/{}", e.name)) {
                    versions.insert(e.name);
                }
            }
        }
    }
    versions
}

fn modules_dir(guest: &Guest, v: &str) -> Option<String> {
    ["/lib/modules", "/usr/lib/modules"]
        .iter()
        .map(|d| format!("{d}/{v}"))
        .find(|p| guest.is_dir(p))
}

/// Virtio modules present as files under the module tree.
fn modules_on_disk(guest: &Guest, moddir: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for sub in ["block", "net", "virtio", "scsi", "char"] {
        let dir = format!("{moddir}/kernel/drivers/{sub}");
        if let Ok(entries) = guest.read_dir(&dir) {
            for e in entries {
                if let Some(m) = module_name(&e.name) {
                    if VIRTIO_MODULES.contains(&m.as_str()) {
                        out.insert(m);
                    }
                }
            }
        }
    }
    out
}

/// Context shared by all kernels: distribution and package database.
pub struct KernelContext<'a> {
    pub distro_id: Option<&'a str>,
    pub id_like: &'a [String],
    /// Installed dpkg packages, when the guest uses dpkg.
    pub dpkg: Option<&'a BTreeMap<String, String>>,
    /// For rpm guests: (database path, kernel version → mentioned in it).
    pub rpm: Option<(&'a str, BTreeMap<String, bool>)>,
    pub default_version: Option<&'a str>,
    /// Initramfs files already read by [`prescan`], by path.
    pub prescanned: Option<&'a Prescanned>,
}

/// Initramfs scans done ahead of [`detect`] (see [`prescan`]), each taken once.
#[derive(Default)]
pub struct Prescanned {
    /// (the prescan has ended, scans by path)
    state: std::sync::Mutex<(
        bool,
        BTreeMap<String, crate::Result<initramfs::InitramfsScan>>,
    )>,
    ended: std::sync::Condvar,
}

impl Prescanned {
    /// The scan of `path`, once the prescan has ended (it runs beside the walk that
    /// asks); `None` when it did not read that file.
    fn take(&self, path: &str) -> Option<crate::Result<initramfs::InitramfsScan>> {
        let st = self.state.lock().ok()?;
        let mut st = self.ended.wait_while(st, |st| !st.0).ok()?;
        st.1.remove(path)
    }

    fn end(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.0 = true;
        }
        self.ended.notify_all();
    }
}

/// Ends the prescan however it stops (a panic included), so no one waits forever.
struct EndGuard<'a>(&'a Prescanned);

impl Drop for EndGuard<'_> {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// Read the initramfs of each kernel into `into`, beside the rest of the walk: the
/// longest read of the inspection (the archive streamed up to the boot drivers), which
/// over a remote source need not wait for the facts [`detect`] orders kernels by
/// (issue 16). Only when every kernel's initramfs would be scanned anyway (no more
/// than [`MAX_INITRAMFS_SCANS`]), so what is read and reported is [`detect`]'s.
pub fn prescan(guest: &Guest, into: &Prescanned) {
    let _end = EndGuard(into);
    let versions = versions(guest);
    if versions.len() > MAX_INITRAMFS_SCANS {
        return;
    }
    for v in &versions {
        if let Some(p) = initrd_path(guest, v, &module_dir_or_default(guest, v).0) {
            let scan = scan_guest_initramfs(guest, &p, &boot_drivers_found);
            if let Ok(mut st) = into.state.lock() {
                st.1.insert(p, scan);
            }
        }
    }
}

/// The modules directory of kernel `v` if there is one, and the path to look in.
fn module_dir_or_default(guest: &Guest, v: &str) -> (String, Option<String>) {
    let moddir = modules_dir(guest, v);
    let md = moddir
        .clone()
        .unwrap_or_else(|| format!("/lib/modules/{v}"));
    (md, moddir)
}

/// The initramfs of kernel `v` (modules directory `md`): the first of the names the
/// generators use that exists.
fn initrd_path(guest: &Guest, v: &str, md: &str) -> Option<String> {
    first_existing(
        guest,
        &[
            format!("/boot/initrd.img-{v}"),
            format!("/boot/initramfs-{v}.img"),
            format!("/boot/initrd-{v}"),
            format!("/boot/initrd-{v}.img"),
            format!("/boot/initramfs-{v}"),
            format!("{md}/initramfs.img"),
            format!("{md}/initrd"),
        ],
    )
}

/// Find and examine installed kernels.
pub fn detect(guest: &Guest, ctx: &KernelContext<'_>, ev: &mut Vec<Evidence>) -> Vec<Kernel> {
    let mut versions: Vec<String> = discover(guest, ev).into_iter().collect();
    if versions.is_empty() {
        ev.push(Evidence::new(
            "/boot",
            "no kernel found (/boot/vmlinuz-*, /lib/modules/*)",
        ));
    }
    if versions.len() > MAX_KERNELS {
        ev.push(Evidence::new(
            "/boot",
            format!("{} kernels; only {MAX_KERNELS} examined", versions.len()),
        ));
        versions.truncate(MAX_KERNELS);
    }
    // The default kernel first, so its initramfs is always scanned.
    versions.sort_by_key(|v| Some(v.as_str()) != ctx.default_version);
    let mut scans = 0usize;
    let mut out = Vec::new();
    for v in versions {
        out.push(examine(guest, ctx, &v, &mut scans, ev));
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    out
}

fn examine(
    guest: &Guest,
    ctx: &KernelContext<'_>,
    v: &str,
    scans: &mut usize,
    ev: &mut Vec<Evidence>,
) -> Kernel {
    let (md, moddir) = module_dir_or_default(guest, v);
    // The kernel's files are looked up and read concurrently (each lookup over a
    // remote source is a round trip; issue 16); evidence in the sequential order:
    // config, modules.builtin, modules on disk, initramfs.
    let md = md.as_str();
    let moddir_ref = moddir.as_deref();
    let (
        image,
        (config_path, kconfig, ev_config),
        (builtin, ev_builtin),
        (on_disk, ev_disk),
        (initrd_path, scan, ev_scan),
    ) = imgport_disk::par::scope(|s| {
        let image = s.spawn(|| {
            first_existing(
                guest,
                &[
                    format!("/boot/vmlinuz-{v}"),
                    format!("/boot/vmlinux-{v}"),
                    format!("/boot/Image-{v}"),
                    format!("{md}/vmlinuz"),
                ],
            )
        });
        let config = super::gather(s, |ev| {
            let path = first_existing(
                guest,
                &[format!("/boot/config-{v}"), format!("{md}/config")],
            );
            let kconfig = read_kconfig(guest, path.as_deref(), ev);
            (path, kconfig)
        });
        let builtin = super::gather(s, |ev| read_builtin(guest, md, ev));
        let on_disk = super::gather(s, |ev| read_modules_on_disk(guest, moddir_ref, ev));
        let initrd = super::gather(s, |ev| {
            let path = initrd_path(guest, v, md);
            let scan = match &path {
                Some(p) => scan_initramfs(guest, p, scans, ctx.prescanned, ev),
                None => {
                    ev.push(Evidence::new(
                        format!("/boot/*{v}*"),
                        "no initramfs for this kernel",
                    ));
                    InitramfsScan::default()
                }
            };
            (path, scan)
        });
        let ((config_path, kconfig), ev_config) = config.join();
        let ((initrd_path, scan), ev_scan) = initrd.join();
        (
            image.join(),
            (config_path, kconfig, ev_config),
            builtin.join(),
            on_disk.join(),
            (initrd_path, scan, ev_scan),
        )
    });
    for mut e in [ev_config, ev_builtin, ev_disk, ev_scan] {
        ev.append(&mut e);
    }
    let md = md.to_string();
    let (initramfs, initramfs_unscanned) = (scan.summary, scan.unscanned);
    let (initrd_modules, initrd_partial) = (scan.modules, scan.partial);
    let judged = judge_virtio(&VirtioSources {
        kconfig: kconfig.as_ref(),
        builtin: builtin.as_ref(),
        on_disk: &on_disk,
        initrd_modules: initrd_modules.as_ref(),
        initrd_partial,
        has_initrd: initrd_path.is_some(),
        initramfs_ok: initramfs.as_ref().is_some_and(|i| i.error.is_none()),
        initramfs_unscanned: initramfs_unscanned.is_some(),
        has_moddir: moddir.is_some(),
    });
    let modified_hint = super::stock_kernel::modified_hint(ctx, v);
    if let Some(h) = &modified_hint {
        ev.push(Evidence::new(
            image.clone().unwrap_or_else(|| md.clone()),
            format!("R-KERNEL hint: {h}"),
        ));
    }
    Kernel {
        version: v.to_string(),
        image,
        initramfs,
        initramfs_unscanned,
        config: config_path,
        modules_dir: moddir,
        is_default: ctx.default_version == Some(v),
        virtio: judged.modules,
        virtio_boot: judged.boot,
        virtio_boot_reason: judged.boot_reason,
        virtio_net: judged.net,
        modified_hint,
    }
}

/// The kernel's configuration at `config_path`, with its virtio symbols as evidence.
fn read_kconfig(
    guest: &Guest,
    config_path: Option<&str>,
    ev: &mut Vec<Evidence>,
) -> Option<BTreeMap<String, Tristate>> {
    let kconfig = config_path
        .and_then(|p| read_text(guest, p))
        .map(|t| parse_kconfig(&t));
    if let (Some(p), Some(k)) = (config_path, &kconfig) {
        let shown: Vec<String> = [
            "CONFIG_VIRTIO_BLK",
            "CONFIG_SCSI_VIRTIO",
            "CONFIG_VIRTIO_PCI",
            "CONFIG_VIRTIO_NET",
        ]
        .iter()
        .map(|s| format!("{s}={}", k.get(*s).map(tristate_str).unwrap_or("unset")))
        .collect();
        ev.push(Evidence::new(p, shown.join(" ")));
    }
    kconfig
}

/// The modules `{md}/modules.builtin` lists (its first 100 000 lines), with the
/// virtio ones as evidence.
fn read_builtin(guest: &Guest, md: &str, ev: &mut Vec<Evidence>) -> Option<BTreeSet<String>> {
    let builtin_path = format!("{md}/modules.builtin");
    let builtin: Option<BTreeSet<String>> = read_text(guest, &builtin_path)
        .map(|t| t.lines().take(100_000).filter_map(module_name).collect());
    if let Some(b) = &builtin {
        let hits: Vec<&str> = VIRTIO_MODULES
            .iter()
            .copied()
            .filter(|m| b.contains(*m))
            .collect();
        ev.push(Evidence::new(
            &builtin_path,
            format!("built-in virtio modules: {hits:?}"),
        ));
    }
    builtin
}

/// The virtio module files under `moddir` ([`modules_on_disk`]), as evidence too;
/// none without a modules directory.
fn read_modules_on_disk(
    guest: &Guest,
    moddir: Option<&str>,
    ev: &mut Vec<Evidence>,
) -> BTreeSet<String> {
    let on_disk = moddir
        .map(|d| modules_on_disk(guest, d))
        .unwrap_or_default();
    if let Some(d) = moddir {
        ev.push(Evidence::new(
            format!("{d}/kernel/drivers"),
            format!("virtio module files: {on_disk:?}"),
        ));
    }
    on_disk
}

/// The initramfs as read for the virtio check (at most [`MAX_INITRAMFS_SCANS`] per image).
#[derive(Default)]
struct InitramfsScan {
    summary: Option<InitramfsSummary>,
    /// The path, when the scan cap left it unread.
    unscanned: Option<String>,
    /// Modules it holds, when read.
    modules: Option<BTreeSet<String>>,
    /// The scan stopped once the boot drivers were seen: modules not seen are unknown.
    partial: bool,
}

/// Read the initramfs at `p` for its modules, with evidence.
fn scan_initramfs(
    guest: &Guest,
    p: &str,
    scans: &mut usize,
    prescanned: Option<&Prescanned>,
    ev: &mut Vec<Evidence>,
) -> InitramfsScan {
    let mut out = InitramfsScan::default();
    {
        if *scans < MAX_INITRAMFS_SCANS {
            *scans += 1;
            let scan = prescanned
                .and_then(|pre| pre.take(p))
                .unwrap_or_else(|| scan_guest_initramfs(guest, p, &boot_drivers_found));
            match scan {
                Ok(scan) => {
                    let virtio: Vec<&String> = scan
                        .modules
                        .iter()
                        .filter(|m| VIRTIO_MODULES.contains(&m.as_str()))
                        .collect();
                    ev.push(Evidence::new(
                        p,
                        format!(
                            "initramfs layers {:?}, {} entries{}, virtio modules {virtio:?}{}",
                            scan.layers,
                            scan.entries,
                            if scan.stopped_when_found {
                                " (read up to the virtio disk and PCI drivers)"
                            } else {
                                ""
                            },
                            scan.error
                                .as_deref()
                                .map(|e| format!("; stopped: {e}"))
                                .unwrap_or_default()
                        ),
                    ));
                    if scan.error.is_none() || !scan.modules.is_empty() {
                        out.modules = Some(scan.modules.iter().cloned().collect());
                    }
                    out.partial = scan.stopped_when_found;
                    out.summary = Some(InitramfsSummary {
                        path: p.to_string(),
                        file_size: guest.metadata(p).map(|m| m.size).unwrap_or(0),
                        layers: scan.layers,
                        entries: scan.entries,
                        module_count: scan.modules.len(),
                        module_versions: scan.module_versions,
                        decompressed_bytes: scan.decompressed_bytes,
                        error: scan.error,
                    });
                }
                Err(e) => ev.push(Evidence::new(p, format!("initramfs unreadable: {e}"))),
            }
        } else {
            out.unscanned = Some(p.to_string());
        }
    }
    out
}

/// What `examine` gathered of one kernel's virtio drivers.
struct VirtioSources<'a> {
    /// The kernel config, when read.
    kconfig: Option<&'a BTreeMap<String, Tristate>>,
    /// `modules.builtin`, when read.
    builtin: Option<&'a BTreeSet<String>>,
    /// Virtio module files under the modules directory.
    on_disk: &'a BTreeSet<String>,
    /// Modules the initramfs holds, when it was read.
    initrd_modules: Option<&'a BTreeSet<String>>,
    /// The initramfs scan stopped once the boot drivers were seen.
    initrd_partial: bool,
    has_initrd: bool,
    /// The initramfs was read without error.
    initramfs_ok: bool,
    /// The initramfs exists but was not read (scan cap).
    initramfs_unscanned: bool,
    has_moddir: bool,
}

/// R-VIRTIO for one kernel, decided from what was gathered.
struct VirtioJudged {
    modules: Vec<VirtioModule>,
    /// virtio disk + PCI drivers available at boot (`None`: cannot tell).
    boot: Option<bool>,
    boot_reason: String,
    /// virtio_net built in or available as a module.
    net: Option<bool>,
}

/// Whether the virtio drivers are there at boot, and why: pure, over [`VirtioSources`].
fn judge_virtio(s: &VirtioSources<'_>) -> VirtioJudged {
    let (kconfig, builtin, on_disk) = (s.kconfig, s.builtin, s.on_disk);
    let (initrd_modules, initrd_partial, initramfs_ok) =
        (s.initrd_modules, s.initrd_partial, s.initramfs_ok);

    let virtio: Vec<VirtioModule> = VIRTIO_MODULES
        .iter()
        .map(|m| VirtioModule {
            name: m.to_string(),
            config: kconfig
                .as_ref()
                .map(|k| k.get(kconfig_symbol(m)).copied().unwrap_or(Tristate::N)),
            builtin: builtin.as_ref().is_some_and(|b| b.contains(*m)),
            on_disk: on_disk.contains(*m),
            in_initramfs: initrd_modules
                .as_ref()
                .and_then(|s| (s.contains(*m) || !initrd_partial).then(|| s.contains(*m))),
        })
        .collect();
    let get = |n: &str| virtio.iter().find(|m| m.name == n);
    let (blk, scsi, pci, net) = (
        get("virtio_blk"),
        get("virtio_scsi"),
        get("virtio_pci"),
        get("virtio_net"),
    );
    let how = |m: Option<&VirtioModule>| -> String {
        match m {
            Some(m) if m.is_builtin() => {
                format!(
                    "{} built in ({})",
                    m.name,
                    if m.builtin {
                        "modules.builtin"
                    } else {
                        "config =y"
                    }
                )
            }
            Some(m) if m.in_initramfs == Some(true) => format!("{} in the initramfs", m.name),
            Some(m) => format!("{} missing at boot", m.name),
            None => String::new(),
        }
    };
    let disk_ok = blk.is_some_and(VirtioModule::at_boot) || scsi.is_some_and(VirtioModule::at_boot);
    let pci_ok = pci.is_some_and(VirtioModule::at_boot);
    let builtin_known = kconfig.is_some() || builtin.is_some();
    let disk_driver =
        if blk.is_some_and(VirtioModule::at_boot) || !scsi.is_some_and(VirtioModule::at_boot) {
            blk
        } else {
            scsi
        };
    let (virtio_boot, virtio_boot_reason) = if disk_ok && pci_ok {
        (Some(true), format!("{}; {}", how(disk_driver), how(pci)))
    } else if builtin_known && (initramfs_ok || !s.has_initrd) {
        (
            Some(false),
            format!(
                "{}; {} (checked {}{})",
                how(disk_driver),
                how(pci),
                if kconfig.is_some() {
                    "kernel config, "
                } else {
                    "modules.builtin, "
                },
                if s.has_initrd {
                    "initramfs"
                } else {
                    "no initramfs"
                }
            ),
        )
    } else {
        (
            None,
            format!(
                "cannot tell: {}{}",
                if builtin_known {
                    ""
                } else {
                    "no kernel config or modules.builtin; "
                },
                match (s.has_initrd, initramfs_ok) {
                    (false, _) => "no initramfs",
                    (true, false) if s.initramfs_unscanned => "initramfs not scanned (cap)",
                    (true, false) => "initramfs not fully readable",
                    (true, true) => "initramfs lacks them",
                }
            ),
        )
    };
    let virtio_net = match net {
        Some(n) if n.is_builtin() || n.on_disk || n.in_initramfs == Some(true) => Some(true),
        Some(_) if builtin_known || s.has_moddir => Some(false),
        _ => None,
    };
    VirtioJudged {
        modules: virtio,
        boot: virtio_boot,
        boot_reason: virtio_boot_reason,
        net: virtio_net,
    }
}

fn tristate_str(t: &Tristate) -> &'static str {
    match t {
        Tristate::Y => "y",
        Tristate::M => "m",
        Tristate::N => "n",
    }
}

/// The initramfs generator installed in the guest (R-VIRTIO: the fix for drivers
/// missing at boot is to rebuild the initramfs with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitramfsTool {
    /// dracut (CentOS/RHEL 6+, Fedora, SUSE 12+, Debian/Ubuntu when installed).
    Dracut,
    /// Debian/Ubuntu's initramfs-tools (`update-initramfs`).
    InitramfsTools,
    /// The pre-dracut `mkinitrd` (CentOS 5, SLES 11).
    Mkinitrd,
}

impl InitramfsTool {
    /// The name the rules use (`dracut`, `initramfs-tools`, `mkinitrd`).
    pub fn name(self) -> &'static str {
        match self {
            InitramfsTool::Dracut => "dracut",
            InitramfsTool::InitramfsTools => "initramfs-tools",
            InitramfsTool::Mkinitrd => "mkinitrd",
        }
    }
}

/// Which initramfs generator is installed, by its program (symlinks followed in the
/// guest). dracut wins over `mkinitrd`, which is a dracut wrapper on RHEL 6 and SLES 12+.
pub fn initramfs_tool(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<InitramfsTool> {
    const PROGRAMS: &[(InitramfsTool, &[&str])] = &[
        (
            InitramfsTool::Dracut,
            &[
                "/usr/bin/dracut",
                "/usr/sbin/dracut",
                "/sbin/dracut",
                "/bin/dracut",
            ],
        ),
        (
            InitramfsTool::InitramfsTools,
            &["/usr/sbin/update-initramfs", "/sbin/update-initramfs"],
        ),
        (
            InitramfsTool::Mkinitrd,
            &["/sbin/mkinitrd", "/usr/sbin/mkinitrd", "/usr/bin/mkinitrd"],
        ),
    ];
    for (tool, paths) in PROGRAMS {
        if let Some(p) = paths.iter().find(|p| guest.is_file(p)) {
            ev.push(Evidence::new(
                *p,
                format!("initramfs generator: {}", tool.name()),
            ));
            return Some(*tool);
        }
    }
    ev.push(Evidence::new(
        "/usr/bin/dracut",
        "no initramfs generator (dracut, update-initramfs, mkinitrd) found",
    ));
    None
}

/// Kernel versions discovered, for callers that need them before [`detect`]
/// (to search the rpm database once for all).
pub fn versions(guest: &Guest) -> Vec<String> {
    let mut ev = Vec::new();
    discover(guest, &mut ev)
        .into_iter()
        .take(MAX_KERNELS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prescan_that_stops_lets_the_kernel_walk_go_on() {
        // The walk waits for the prescan to end; a prescan that panics (damaged
        // metadata) still ends it — without the guard this would wait forever.
        let pre = Prescanned::default();
        let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _end = EndGuard(&pre);
            panic!("damaged");
        }));
        assert!(stopped.is_err());
        assert!(pre.take("/boot/initrd.img-6.1.0").is_none());
        // A scan it made is taken once.
        let pre = Prescanned::default();
        pre.state
            .lock()
            .unwrap()
            .1
            .insert("/boot/x".into(), Err(crate::Error::NotFound("x".into())));
        pre.end();
        assert!(pre.take("/boot/x").is_some());
        assert!(pre.take("/boot/x").is_none());
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn sources<'a>(
        builtin: Option<&'a BTreeSet<String>>,
        on_disk: &'a BTreeSet<String>,
        initrd: Option<&'a BTreeSet<String>>,
    ) -> VirtioSources<'a> {
        VirtioSources {
            kconfig: None,
            builtin,
            on_disk,
            initrd_modules: initrd,
            initrd_partial: false,
            has_initrd: initrd.is_some(),
            initramfs_ok: initrd.is_some(),
            initramfs_unscanned: false,
            has_moddir: true,
        }
    }

    #[test]
    fn built_in_or_in_the_initramfs_is_at_boot() {
        let none = set(&[]);
        let builtin = set(&["virtio_blk", "virtio_pci"]);
        let j = judge_virtio(&sources(Some(&builtin), &none, None));
        assert_eq!(j.boot, Some(true), "{}", j.boot_reason);
        assert!(j
            .boot_reason
            .contains("virtio_blk built in (modules.builtin)"));
        let files = set(&["virtio_blk", "virtio_pci", "virtio_net"]);
        let initrd = set(&["virtio_scsi", "virtio_pci"]);
        let j = judge_virtio(&sources(Some(&none), &files, Some(&initrd)));
        assert_eq!(j.boot, Some(true), "{}", j.boot_reason);
        assert!(j.boot_reason.contains("virtio_scsi in the initramfs"));
        assert_eq!(j.net, Some(true));
    }

    #[test]
    fn modules_only_on_disk_are_missing_at_boot_and_unknowns_say_why() {
        let none = set(&[]);
        let files = set(&["virtio_blk", "virtio_pci"]);
        let initrd = set(&["ext4"]);
        let j = judge_virtio(&sources(Some(&none), &files, Some(&initrd)));
        assert_eq!(j.boot, Some(false));
        assert!(
            j.boot_reason.contains("virtio_blk missing at boot"),
            "{}",
            j.boot_reason
        );
        // No config, no modules.builtin: the initramfs alone cannot prove absence.
        let j = judge_virtio(&sources(None, &files, Some(&initrd)));
        assert_eq!(j.boot, None);
        assert!(
            j.boot_reason.starts_with("cannot tell: no kernel config"),
            "{}",
            j.boot_reason
        );
        // A scan that stopped early: a module it did not see is unknown, not absent.
        let partial = VirtioSources {
            initrd_partial: true,
            ..sources(Some(&none), &files, Some(&initrd))
        };
        let j = judge_virtio(&partial);
        let blk = j.modules.iter().find(|m| m.name == "virtio_blk").unwrap();
        assert_eq!(blk.in_initramfs, None);
    }
}
