//! Services and drivers from `SYSTEM\ControlSet00N\Services` (R-VIRTIO,
//! R-CLOUDINIT): the virtio drivers (viostor, vioscsi, netkvm, vioser, balloon)
//! and the cloudbase-init service, checked against the files in the guest.

use super::hive::Key;
use super::paths::{find_dir, find_file};
use crate::fs::FileSystem;
use crate::guest::Evidence;
use crate::Result;
use serde::Serialize;

/// `Start` of a service (winnt.h `SERVICE_*_START`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartType {
    /// 0: loaded by the boot loader (needed for the boot disk).
    Boot,
    /// 1: loaded during kernel initialisation.
    System,
    /// 2: started by the service control manager.
    Auto,
    /// 3: started on demand (or when Plug and Play finds the device).
    Demand,
    /// 4: disabled.
    Disabled,
}

impl StartType {
    pub fn from_start(start: u32) -> Option<Self> {
        Some(match start {
            0 => StartType::Boot,
            1 => StartType::System,
            2 => StartType::Auto,
            3 => StartType::Demand,
            4 => StartType::Disabled,
            _ => return None,
        })
    }
}

/// One `Services\NAME` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// Key name as stored.
    pub name: String,
    pub start: Option<u32>,
    pub start_type: Option<StartType>,
    /// `Type` (1 kernel driver, 0x10 own-process service …).
    pub service_type: Option<u32>,
    pub image_path: Option<String>,
}

/// What virtio driver this is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtioRole {
    Storage,
    Network,
    Serial,
    Balloon,
}

/// One virtio driver of the virtio-win set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtioDriver {
    pub name: String,
    pub role: VirtioRole,
    /// Its service key, when installed.
    pub service: Option<ServiceInfo>,
    /// Guest path of its `.sys` file, when present.
    pub driver_file: Option<String>,
    /// Driver store copies (`DriverStore/FileRepository/NAME.inf_*`).
    pub driver_store: Vec<String>,
}

impl VirtioDriver {
    /// Service key present or staged in the driver store.
    pub fn installed(&self) -> bool {
        self.service.is_some() || !self.driver_store.is_empty()
    }

    /// Service present, boot start, and its `.sys` file present: Windows can
    /// mount a boot disk through it.
    pub fn boot_ready(&self) -> bool {
        self.driver_file.is_some()
            && self
                .service
                .as_ref()
                .is_some_and(|s| s.start_type == Some(StartType::Boot))
    }
}

/// The virtio drivers of a Windows guest (R-VIRTIO, `VirtioNotInstall`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowsVirtio {
    pub drivers: Vec<VirtioDriver>,
    /// viostor or vioscsi: service with boot start and its `.sys` present.
    pub storage_ready: bool,
    /// netkvm: service key or driver store copy.
    pub net_ready: bool,
    /// Both.
    pub ready: bool,
}

/// cloudbase-init (R-CLOUDINIT, `CloudInitNotInstalled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudbaseInit {
    /// The service or the installation directory exists.
    pub installed: bool,
    pub service: Option<ServiceInfo>,
    /// Guest path of `…/Cloudbase Solutions/Cloudbase-Init`.
    pub install_dir: Option<String>,
    /// Guest path of the configuration file, when it exists.
    pub conf_path: Option<String>,
}

/// The virtio-win drivers we look for.
pub const VIRTIO_DRIVERS: [(&str, VirtioRole); 5] = [
    ("viostor", VirtioRole::Storage),
    ("vioscsi", VirtioRole::Storage),
    ("netkvm", VirtioRole::Network),
    ("vioser", VirtioRole::Serial),
    ("balloon", VirtioRole::Balloon),
];

/// Driver store folders we report per driver.
const MAX_STORE_COPIES: usize = 16;

/// Read `Services\NAME` under `services`.
pub fn service(services: &Key<'_>, name: &str) -> Result<Option<ServiceInfo>> {
    let Some(key) = services.subkey(name)? else {
        return Ok(None);
    };
    let start = key.value_data("Start")?.and_then(|d| d.as_dword());
    Ok(Some(ServiceInfo {
        name: key.name().to_string(),
        start,
        start_type: start.and_then(StartType::from_start),
        service_type: key.value_data("Type")?.and_then(|d| d.as_dword()),
        image_path: key
            .value_data("ImagePath")?
            .and_then(|d| d.as_str().map(str::to_string)),
    }))
}

/// A Windows path on the system volume as a guest path (`C:\x`, `\??\C:\x`,
/// `\SystemRoot\x`, `%SystemRoot%\x`, `System32\x` → `/Windows/System32/x`).
/// `None` for other drives and network paths.
pub fn guest_path(win: &str) -> Option<String> {
    let p = win.trim().trim_matches('"');
    let p = p.strip_prefix(r"\??\").unwrap_or(p);
    let lower = p.to_ascii_lowercase();
    let rest = if lower.starts_with(r"c:\") {
        p.get(2..)?.to_string()
    } else if lower.starts_with(r"\systemroot\") {
        format!(r"\Windows\{}", p.get(12..)?)
    } else if lower.starts_with(r"%systemroot%\") {
        format!(r"\Windows\{}", p.get(13..)?)
    } else if lower.starts_with(r"system32\") {
        format!(r"\Windows\{p}")
    } else {
        return None;
    };
    Some(rest.replace('\\', "/"))
}

/// The value of `--config-file` in a cloudbase-init `ImagePath` command line.
fn config_file_arg(cmdline: &str) -> Option<&str> {
    let rest = cmdline.split("--config-file").nth(1)?.trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()
    } else {
        rest.split_whitespace().next()
    }
}

/// The virtio drivers: their services (under `services`, when the control set
/// could be read), driver files and driver store copies.
pub fn virtio(
    fs: &dyn FileSystem,
    services: Option<&Key<'_>>,
    ev: &mut Vec<Evidence>,
    warnings: &mut Vec<String>,
) -> WindowsVirtio {
    let store_dir = find_dir(fs, "/Windows/System32/DriverStore/FileRepository");
    let store: Vec<String> = store_dir
        .as_deref()
        .and_then(|d| fs.read_dir(d).ok())
        .map(|es| es.into_iter().map(|e| e.name).collect())
        .unwrap_or_default();
    let mut drivers = Vec::new();
    for (name, role) in VIRTIO_DRIVERS {
        let svc = match services.map(|s| service(s, name)).transpose() {
            Ok(s) => s.flatten(),
            Err(e) => {
                warnings.push(format!("service {name}: {e}"));
                None
            }
        };
        let mut candidates = vec![format!("/Windows/System32/drivers/{name}.sys")];
        if let Some(p) = svc
            .as_ref()
            .and_then(|s| s.image_path.as_deref())
            .and_then(guest_path)
        {
            candidates.insert(0, p);
        }
        let driver_file = candidates.iter().find_map(|c| find_file(fs, c));
        let prefix = format!("{name}.inf_");
        let driver_store: Vec<String> = store
            .iter()
            .filter(|e| {
                e.get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
            })
            .take(MAX_STORE_COPIES)
            .map(|e| format!("{}/{e}", store_dir.as_deref().unwrap_or("")))
            .collect();
        if let Some(s) = &svc {
            ev.push(Evidence::new(
                format!(r"HKLM\SYSTEM\CurrentControlSet\Services\{}", s.name),
                format!(
                    "Start={} ImagePath={}",
                    s.start.map_or("-".to_string(), |v| v.to_string()),
                    s.image_path.as_deref().unwrap_or("-")
                ),
            ));
        }
        if let Some(f) = &driver_file {
            ev.push(Evidence::new(f.clone(), "virtio driver file present"));
        }
        for d in &driver_store {
            ev.push(Evidence::new(
                d.clone(),
                "virtio driver in the driver store",
            ));
        }
        drivers.push(VirtioDriver {
            name: name.to_string(),
            role,
            service: svc,
            driver_file,
            driver_store,
        });
    }
    let storage_ready = drivers
        .iter()
        .any(|d| d.role == VirtioRole::Storage && d.boot_ready());
    let net_ready = drivers
        .iter()
        .any(|d| d.role == VirtioRole::Network && d.installed());
    WindowsVirtio {
        drivers,
        storage_ready,
        net_ready,
        ready: storage_ready && net_ready,
    }
}

/// cloudbase-init: the `cloudbase-init` service and its installation directory.
pub fn cloudbase_init(
    fs: &dyn FileSystem,
    services: Option<&Key<'_>>,
    ev: &mut Vec<Evidence>,
    warnings: &mut Vec<String>,
) -> CloudbaseInit {
    let svc = match services.map(|s| service(s, "cloudbase-init")).transpose() {
        Ok(s) => s.flatten(),
        Err(e) => {
            warnings.push(format!("service cloudbase-init: {e}"));
            None
        }
    };
    if let Some(s) = &svc {
        ev.push(Evidence::new(
            format!(r"HKLM\SYSTEM\CurrentControlSet\Services\{}", s.name),
            format!("ImagePath={}", s.image_path.as_deref().unwrap_or("-")),
        ));
    }
    let install_dir = [
        "/Program Files/Cloudbase Solutions/Cloudbase-Init",
        "/Program Files (x86)/Cloudbase Solutions/Cloudbase-Init",
    ]
    .iter()
    .find_map(|d| find_dir(fs, d));
    if let Some(d) = &install_dir {
        ev.push(Evidence::new(
            d.clone(),
            "cloudbase-init installation directory",
        ));
    }
    let from_service = svc
        .as_ref()
        .and_then(|s| s.image_path.as_deref())
        .and_then(config_file_arg)
        .and_then(guest_path);
    let default_conf = install_dir
        .as_ref()
        .map(|d| format!("{d}/conf/cloudbase-init.conf"));
    let conf_path = from_service
        .into_iter()
        .chain(default_conf)
        .find_map(|p| find_file(fs, &p));
    if let Some(c) = &conf_path {
        ev.push(Evidence::new(
            c.clone(),
            "cloudbase-init configuration file",
        ));
    }
    CloudbaseInit {
        installed: svc.is_some() || install_dir.is_some(),
        service: svc,
        install_dir,
        conf_path,
    }
}
