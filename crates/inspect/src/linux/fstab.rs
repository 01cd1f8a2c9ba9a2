//! `/etc/fstab` (fstab(5)): `spec file vfstype options freq passno`, with octal
//! escapes (`\040` for a space) in the first two fields.

use serde::Serialize;

/// Most lines looked at.
const MAX_LINES: usize = 10_000;
/// Most entries kept.
const MAX_ENTRIES: usize = 1_000;

/// One fstab line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FstabEntry {
    /// 1-based line number.
    pub line: usize,
    pub spec: String,
    pub file: String,
    pub vfstype: String,
    pub options: Vec<String>,
}

/// What an fstab `spec` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", content = "value", rename_all = "lowercase")]
pub enum DeviceSpec {
    Uuid(String),
    Label(String),
    PartUuid(String),
    PartLabel(String),
    /// An LVM logical volume (`/dev/mapper/vg-lv`, `/dev/vg/lv`).
    Lvm {
        vg: String,
        lv: String,
    },
    /// A whole-disk-relative partition number (`/dev/sda2`, `/dev/vda2`, `/dev/nvme0n1p2`).
    PartitionNumber(u32),
    /// A device path we cannot map (`/dev/md0`, `tmpfs`, `server:/export` …).
    Other(String),
}

/// Undo fstab octal escapes (`\040` → space); other text kept as is.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b.get(i) == Some(&b'\\') {
            if let Some(oct) = b.get(i + 1..i + 4) {
                if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                    let v = oct
                        .iter()
                        .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                    if let Ok(byte) = u8::try_from(v) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        if let Some(&c) = b.get(i) {
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse fstab text (bounded in lines and entries).
pub fn parse_fstab(text: &str) -> Vec<FstabEntry> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().take(MAX_LINES) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(spec), Some(file)) = (f.next(), f.next()) else {
            continue;
        };
        let vfstype = f.next().unwrap_or("auto").to_string();
        let options = f
            .next()
            .unwrap_or("defaults")
            .split(',')
            .map(str::to_string)
            .collect();
        out.push(FstabEntry {
            line: i + 1,
            spec: unescape(spec),
            file: unescape(file),
            vfstype,
            options,
        });
        if out.len() >= MAX_ENTRIES {
            break;
        }
    }
    out
}

/// Split a device-mapper name into VG and LV: single `-` separates, `--` is a
/// literal dash (`my--vg-root` → `my-vg`, `root`).
pub fn split_dm_name(name: &str) -> Option<(String, String)> {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b.get(i) == Some(&b'-') {
            if b.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let vg = name.get(..i)?.replace("--", "-");
            let lv = name.get(i + 1..)?.replace("--", "-");
            if vg.is_empty() || lv.is_empty() {
                return None;
            }
            return Some((vg, lv));
        }
        i += 1;
    }
    None
}

/// Partition number on the first disk (`sda2`, `vda1`, `xvda3`, `hda1`,
/// `nvme0n1p2`, `mmcblk0p1`); other disks (`sdb1`) are not in the image.
fn partition_number(dev: &str) -> Option<u32> {
    let rest = ["nvme0n1p", "mmcblk0p", "sda", "vda", "hda", "xvda"]
        .iter()
        .find_map(|p| dev.strip_prefix(p))?;
    if rest.is_empty() || !rest.bytes().all(|c| c.is_ascii_digit()) || rest.len() > 4 {
        return None;
    }
    rest.parse().ok()
}

/// Classify an fstab (or kernel `root=`) device spec.
pub fn parse_spec(spec: &str) -> DeviceSpec {
    let unquote = |s: &str| s.trim_matches('"').to_string();
    if let Some(u) = spec.strip_prefix("UUID=") {
        return DeviceSpec::Uuid(unquote(u).to_ascii_lowercase());
    }
    if let Some(l) = spec.strip_prefix("LABEL=") {
        return DeviceSpec::Label(unquote(l));
    }
    if let Some(u) = spec.strip_prefix("PARTUUID=") {
        return DeviceSpec::PartUuid(unquote(u).to_ascii_lowercase());
    }
    if let Some(l) = spec.strip_prefix("PARTLABEL=") {
        return DeviceSpec::PartLabel(unquote(l));
    }
    if let Some(u) = spec.strip_prefix("/dev/disk/by-uuid/") {
        return DeviceSpec::Uuid(u.to_ascii_lowercase());
    }
    if let Some(l) = spec.strip_prefix("/dev/disk/by-label/") {
        return DeviceSpec::Label(unescape_udev(l));
    }
    if let Some(u) = spec.strip_prefix("/dev/disk/by-partuuid/") {
        return DeviceSpec::PartUuid(u.to_ascii_lowercase());
    }
    if let Some(name) = spec.strip_prefix("/dev/mapper/") {
        if let Some((vg, lv)) = split_dm_name(name) {
            return DeviceSpec::Lvm { vg, lv };
        }
        return DeviceSpec::Other(spec.to_string());
    }
    if let Some(rest) = spec.strip_prefix("/dev/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [dev] = parts.as_slice() {
            if let Some(n) = partition_number(dev) {
                return DeviceSpec::PartitionNumber(n);
            }
        } else if let [vg, lv] = parts.as_slice() {
            if !["disk", "md", "mapper"].contains(vg) && !vg.is_empty() && !lv.is_empty() {
                return DeviceSpec::Lvm {
                    vg: vg.to_string(),
                    lv: lv.to_string(),
                };
            }
        }
    }
    DeviceSpec::Other(spec.to_string())
}

/// A device named by the kernel's name for a non-virtio disk (`/dev/sda5`, `/dev/hda1`,
/// `/dev/xvda1`, `/dev/nvme0n1p2`): on the cloud's virtio-blk disk (`/dev/vda`) that
/// name does not exist (R-VIRTIO). `/dev/vd*`, `/dev/mapper/*`, UUID=, LABEL= are fine.
pub fn is_non_virtio_device_name(spec: &str) -> bool {
    let Some(dev) = spec.strip_prefix("/dev/") else {
        return false;
    };
    let rest = ["sd", "hd", "xvd", "nvme"]
        .iter()
        .find_map(|p| dev.strip_prefix(p));
    match rest {
        Some(r) => {
            !r.is_empty() && !r.contains('/') && r.bytes().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

/// fstab entries that mount (or swap on) a device by a non-virtio kernel name and would
/// be waited for at boot (not `noauto`/`nofail`, not pseudo or network filesystems).
pub fn device_name_entries(entries: &[FstabEntry]) -> Vec<&FstabEntry> {
    entries
        .iter()
        .filter(|e| is_non_virtio_device_name(&e.spec))
        .filter(|e| {
            !e.options
                .iter()
                .any(|o| o == "noauto" || o == "nofail" || o == "bind")
        })
        .filter(|e| e.file.starts_with('/') || e.vfstype == "swap")
        .collect()
}

/// udev escapes in `/dev/disk/by-label` names (`\x20` for a space).
fn unescape_udev(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(rest.get(..i).unwrap_or(""));
        let hex = rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) if b.is_ascii() => {
                out.push(char::from(b));
                rest = rest.get(i + 4..).unwrap_or("");
            }
            _ => {
                out.push_str("\\x");
                rest = rest.get(i + 2..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(parse_spec("UUID=ABC-1"), DeviceSpec::Uuid("abc-1".into()));
        assert_eq!(
            parse_spec("/dev/mapper/my--vg-root"),
            DeviceSpec::Lvm {
                vg: "my-vg".into(),
                lv: "root".into()
            }
        );
        assert_eq!(
            parse_spec("/dev/centos/root"),
            DeviceSpec::Lvm {
                vg: "centos".into(),
                lv: "root".into()
            }
        );
        assert_eq!(parse_spec("/dev/vda2"), DeviceSpec::PartitionNumber(2));
        assert_eq!(parse_spec("/dev/xvda1"), DeviceSpec::PartitionNumber(1));
        assert_eq!(parse_spec("/dev/nvme0n1p3"), DeviceSpec::PartitionNumber(3));
        assert_eq!(parse_spec("/dev/sda"), DeviceSpec::Other("/dev/sda".into()));
        assert_eq!(
            parse_spec("/dev/sdb1"),
            DeviceSpec::Other("/dev/sdb1".into())
        );
        assert_eq!(
            parse_spec("/dev/disk/by-label/my\\x20root"),
            DeviceSpec::Label("my root".into())
        );
        let e =
            parse_fstab("# x\n/dev/sda1 /mnt/a\\040b ext4 defaults,noauto 0 2\nproc /proc proc\n");
        assert!(
            device_name_entries(&e).is_empty(),
            "noauto is not waited for"
        );
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].file, "/mnt/a b");
        assert_eq!(e[0].options, ["defaults", "noauto"]);
    }

    #[test]
    fn device_names() {
        for (spec, bad) in [
            ("/dev/sda5", true),
            ("/dev/hda1", true),
            ("/dev/xvda1", true),
            ("/dev/nvme0n1p2", true),
            ("/dev/sdb", true),
            ("/dev/vda1", false),
            ("/dev/mapper/centos-root", false),
            ("/dev/centos/root", false),
            ("/dev/disk/by-uuid/x", false),
            ("UUID=x", false),
            ("LABEL=sda1", false),
            ("/dev/sd", false),
            ("/dev/md0", false),
        ] {
            assert_eq!(is_non_virtio_device_name(spec), bad, "{spec}");
        }
        let e = parse_fstab(
            "/dev/sda5 / ext4 defaults 0 1\n/dev/sda7 none swap sw 0 0\n\
             /dev/sdb1 /data ext4 nofail 0 2\n/dev/vda1 /boot ext4 defaults 0 2\n\
             proc /proc proc defaults 0 0\n",
        );
        let lines: Vec<usize> = device_name_entries(&e).iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2]);
    }
}
