//! The seed's import rules as data: one table a reader can audit (SPEC.md R-PREP, R-ERR).
//!
//! Everything [`crate::decide()`] enforces is declared here: the supported OS list (the same
//! list `DescribeImportImageOs` returns), architectures, formats, size limits, which rules
//! `Force` waives, and every rule id with its error code, the seed's words and what happens
//! when the fact it needs is unknown.

use crate::verdict::Code;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------
// Rule ids (SPEC.md). `R-ERR` is used for the root-partition check, whose causes the seed
// lists only in its error table (RootPartitionNotFound).
// ---------------------------------------------------------------------------------------

/// A rule id of SPEC.md. Serialises (and displays) as the id itself (`"R-PART"`); compares
/// equal to that string, so callers holding JSON can match it directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RuleId {
    /// Finance regions cannot import from another region's object storage.
    #[serde(rename = "R-REGION")]
    Region,
    /// Image file format: raw, vhd, qcow2, vmdk.
    #[serde(rename = "R-FMT")]
    Format,
    /// Actual size as qcow2 at most [`MAX_ACTUAL_BYTES`].
    #[serde(rename = "R-SIZE-ACTUAL")]
    SizeActual,
    /// Virtual size at most [`MAX_VIRTUAL_BYTES`].
    #[serde(rename = "R-SIZE-VIRTUAL")]
    SizeVirtual,
    /// Partitioning: MBR only (no GPT); Windows: NTFS only, no LVM, dynamic disks, Storage
    /// Spaces or software RAID holding the system or boot volume.
    #[serde(rename = "R-PART")]
    Partitions,
    /// A root partition must be present (R-ERR `RootPartitionNotFound`).
    #[serde(rename = "R-ERR")]
    RootPartition,
    /// Operating system family (and, for the import form, version) in the supported list.
    #[serde(rename = "R-OS")]
    Os,
    /// Architecture: 32-bit or 64-bit x86.
    #[serde(rename = "R-ARCH")]
    Arch,
    /// KVM virtio drivers present (block and net, available at boot).
    #[serde(rename = "R-VIRTIO")]
    Virtio,
    /// cloud-init (Linux) / cloudbase-init (Windows) installed.
    #[serde(rename = "R-CLOUDINIT")]
    CloudInit,
    /// A kernel must be present (error `VirtioNotInstall`, never waived); a stock
    /// distribution kernel is best (warning).
    #[serde(rename = "R-KERNEL")]
    Kernel,
    /// One NIC, `eth0`, configured from the metadata service (warning only).
    #[serde(rename = "R-NET")]
    Net,
    /// Imported Windows images get no activation service (information).
    #[serde(rename = "R-ACTIVATION")]
    Activation,
    /// Proof by booting (issue 17): a boot test that failed where the cloud would fail.
    #[serde(rename = "R-BOOT")]
    Boot,
}

impl RuleId {
    /// The id as SPEC.md writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RuleId::Region => "R-REGION",
            RuleId::Format => "R-FMT",
            RuleId::SizeActual => "R-SIZE-ACTUAL",
            RuleId::SizeVirtual => "R-SIZE-VIRTUAL",
            RuleId::Partitions => "R-PART",
            RuleId::RootPartition => "R-ERR",
            RuleId::Os => "R-OS",
            RuleId::Arch => "R-ARCH",
            RuleId::Virtio => "R-VIRTIO",
            RuleId::CloudInit => "R-CLOUDINIT",
            RuleId::Kernel => "R-KERNEL",
            RuleId::Net => "R-NET",
            RuleId::Activation => "R-ACTIVATION",
            RuleId::Boot => "R-BOOT",
        }
    }

    /// The rule spelled `s`, if any.
    pub fn parse(s: &str) -> Option<RuleId> {
        RULES.iter().map(|r| r.id).find(|id| id.as_str() == s)
    }

    /// This rule's row of [`RULES`] (every id has one: a unit test holds it).
    pub fn rule(self) -> &'static Rule {
        RULES
            .iter()
            .find(|r| r.id == self)
            .expect("every RuleId has a row in RULES")
    }

    /// Whether `Force` waives this rule (its row's `force_waives`).
    pub fn force_waives(self) -> bool {
        self.rule().force_waives
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

// ---------------------------------------------------------------------------------------
// Limits. "GB" in the seed is what `qemu-img info` prints ("disk size: 50G"), and qemu-img
// uses binary units (its newer versions print "50 GiB"): 1 G = 2^30 bytes. We therefore read
// 50 GB as 50 GiB and 500 GB as 500 GiB. The measured value compared with the limit is
// `imgport measure`'s `required` (== `qemu-img measure -O qcow2`'s "required size"), the size
// of the image after conversion to qcow2, as the seed says the service checks.
// ---------------------------------------------------------------------------------------

/// One GiB (the seed's "G", as `qemu-img info` prints it).
pub const GIB: u64 = 1 << 30;
/// R-SIZE-ACTUAL: at most 50 GiB once converted to qcow2.
pub const MAX_ACTUAL_BYTES: u64 = 50 * GIB;
/// R-SIZE-VIRTUAL: virtual size (vsize) at most 500 GiB.
pub const MAX_VIRTUAL_BYTES: u64 = 500 * GIB;
/// `sgdisk -m` / `gdisk` r→g can convert GPT to MBR only for disks up to 2 TiB.
pub const MBR_MAX_DISK_BYTES: u64 = 2 << 40;
/// An MBR holds at most four primary partitions (what a GPT→MBR conversion can keep).
pub const MBR_MAX_PRIMARY: u32 = 4;

/// R-FMT: the image file formats accepted, by their `qemu-img info` "file format" names.
pub const FORMATS: &[&str] = &["raw", "qcow2", "vhd", "vmdk"];

/// Other names callers may use for an accepted format (`vpc` is qemu's name for VHD).
pub const FORMAT_ALIASES: &[(&str, &str)] = &[("vpc", "vhd"), ("img", "raw")];

/// R-ARCH: the `Architecture` values of the import form and `DescribeImportImageOs`.
pub const ARCHITECTURES: &[&str] = &["x86_64", "i386"];

/// Other spellings of the two architectures (ELF/uname/Windows names).
pub const ARCH_ALIASES: &[(&str, &str)] = &[
    ("amd64", "x86_64"),
    ("x64", "x86_64"),
    ("x86-64", "x86_64"),
    ("x86_64", "x86_64"),
    ("i386", "i386"),
    ("i486", "i386"),
    ("i586", "i386"),
    ("i686", "i386"),
    ("x86", "i386"),
    ("ia32", "i386"),
];

/// R-REGION: regions that may import only from their own region's object storage.
pub const FINANCE_REGIONS: &[&str] = &["ap-shanghai-fsi", "ap-shenzhen-fsi"];

// ---------------------------------------------------------------------------------------
// R-OS: the supported operating systems.
// ---------------------------------------------------------------------------------------

/// Linux or Windows, as `ImportImageOsListSupported` groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OsType {
    Linux,
    Windows,
}

impl OsType {
    /// The type inspection reports (`linux`, `windows`, any case); `None` for anything else.
    pub fn from_name(name: &str) -> Option<OsType> {
        match name.trim().to_ascii_lowercase().as_str() {
            "linux" => Some(OsType::Linux),
            "windows" => Some(OsType::Windows),
            _ => None,
        }
    }

    /// `linux` or `windows`, as inspection and the guest facts spell it.
    pub fn name(self) -> &'static str {
        match self {
            OsType::Linux => "linux",
            OsType::Windows => "windows",
        }
    }
}

/// One row of the supported OS list (one `ImportImageOsVersionSet` entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedOs {
    pub os_type: OsType,
    /// `OsName` as the API spells it (the form's `OsType`).
    pub name: &'static str,
    /// `OsVersions` as the API lists them (major versions; `-` for Windows).
    pub versions: &'static [&'static str],
    /// Further names accepted in the form's `OsType` (not listed by the API).
    pub name_aliases: &'static [&'static str],
    /// Further values accepted in the form's `OsVersion` (not listed by the API).
    pub version_aliases: &'static [&'static str],
}

/// The seed's families (R-OS) with their versions, named as the real cloud's
/// `DescribeImportImageOs` names them (cvm API 2017-03-12). The seed sets no version limit
/// ("images based on CentOS, Ubuntu, Debian, CoreOS, openSUSE, SUSE"); the API's old example
/// response lists only the releases of its day (CentOS 5–7, Debian 6–9, Ubuntu 10–16 …), so
/// the releases since then are listed too — a user importing Debian 12 or Ubuntu 24.04 can
/// declare what the image holds. Versions are major numbers (`22` matches `22.04`). The real
/// list also has `FreeBSD`, `Redhat` and `Other Linux`; the seed does not name them, so they
/// are not offered here (a RHEL-like guest is "based on CentOS" and matched to it on
/// detection). Windows Server 2008/2012 include their R2 releases and all editions
/// ("相关版本"); the seed names no later Windows.
pub const SUPPORTED_OS: &[SupportedOs] = &[
    SupportedOs {
        os_type: OsType::Windows,
        name: "Windows Server 2008",
        versions: &["-"],
        name_aliases: &["Windows Server 2008 R2"],
        version_aliases: &["", "R2"],
    },
    SupportedOs {
        os_type: OsType::Windows,
        name: "Windows Server 2012",
        versions: &["-"],
        name_aliases: &["Windows Server 2012 R2"],
        version_aliases: &["", "R2"],
    },
    SupportedOs {
        os_type: OsType::Windows,
        name: "Windows Server 2016",
        versions: &["-"],
        name_aliases: &[],
        version_aliases: &[""],
    },
    SupportedOs {
        os_type: OsType::Linux,
        name: "CentOS",
        versions: &["5", "6", "7", "8", "9", "10"],
        name_aliases: &[],
        version_aliases: &[],
    },
    SupportedOs {
        os_type: OsType::Linux,
        name: "CoreOS",
        versions: &["7"],
        name_aliases: &[],
        version_aliases: &[],
    },
    SupportedOs {
        os_type: OsType::Linux,
        name: "Debian",
        versions: &["6", "7", "8", "9", "10", "11", "12", "13"],
        name_aliases: &[],
        version_aliases: &[],
    },
    SupportedOs {
        os_type: OsType::Linux,
        name: "OpenSUSE",
        versions: &["11", "12", "13", "15", "16", "42"],
        name_aliases: &[],
        version_aliases: &[],
    },
    SupportedOs {
        os_type: OsType::Linux,
        name: "SUSE",
        versions: &["10", "11", "12", "13", "15", "16"],
        name_aliases: &[],
        version_aliases: &[],
    },
    SupportedOs {
        os_type: OsType::Linux,
        name: "Ubuntu",
        versions: &["10", "12", "14", "16", "18", "20", "22", "24", "26"],
        name_aliases: &[],
        version_aliases: &[],
    },
];

/// Detected-distribution → supported family. Matched on the os-release `ID` first, then on
/// `ID_LIKE` words, in this order (Ubuntu before Debian, openSUSE before SUSE), because the
/// seed accepts images "based on" these distributions.
pub const DISTRO_FAMILIES: &[(&str, &[&str])] = &[
    ("Ubuntu", &["ubuntu"]),
    ("Debian", &["debian"]),
    (
        "CentOS",
        &[
            "centos",
            "rhel",
            "redhat",
            "rocky",
            "almalinux",
            "ol",
            "scientific",
            "cloudlinux",
            "eurolinux",
            "tencentos",
            "opencloudos",
        ],
    ),
    ("CoreOS", &["coreos", "flatcar"]),
    (
        "OpenSUSE",
        &["opensuse", "opensuse-leap", "opensuse-tumbleweed"],
    ),
    ("SUSE", &["sles", "sled", "sles_sap", "sle_hpc", "suse"]),
];

// ---------------------------------------------------------------------------------------
// The rule table.
// ---------------------------------------------------------------------------------------

/// One import rule: its id, the codes it yields, the seed's words and how unknown facts
/// are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: RuleId,
    /// Error codes this rule can yield (empty: warnings/information only).
    pub codes: &'static [Code],
    pub title: &'static str,
    /// The seed's requirement, in English (SPEC.md).
    pub seed_text: &'static str,
    /// Whether `Force` turns this rule's errors into warnings.
    pub force_waives: bool,
    /// What [`crate::decide()`] does when the fact this rule needs is unknown.
    pub when_unknown: &'static str,
}

/// Every rule [`crate::decide()`] applies, in the import pipeline's order.
pub const RULES: &[Rule] = &[
    Rule {
        id: RuleId::Region,
        codes: &[Code::InvalidUrl],
        title: "image URL must be in the import region's own object storage",
        seed_text: "The finance regions (Shanghai Finance, Shenzhen Finance) cannot import from \
                    object storage of any other region; the import service reads its own \
                    region's storage over the internal network.",
        force_waives: false,
        when_unknown: "region or source region unknown: not checked (the service validates URLs)",
    },
    Rule {
        id: RuleId::Format,
        codes: &[Code::InvalidFormatSize],
        title: "image format must be raw, vhd, qcow2 or vmdk",
        seed_text: "RAW, VHD, QCOW2, VMDK (check with `qemu-img info`); a refused, corrupt or \
                    unsafe image is outside the format limits.",
        force_waives: false,
        when_unknown: "format not determined and no refusal: warning",
    },
    Rule {
        id: RuleId::SizeActual,
        codes: &[Code::InvalidFormatSize],
        title: "actual size at most 50 GiB after conversion to qcow2",
        seed_text: "Actual size at most 50 GB, measured on the image after conversion to QCOW2.",
        force_waives: false,
        when_unknown: "qcow2 size not measured: the file size is used for a qcow2 file, \
                       otherwise warning",
    },
    Rule {
        id: RuleId::SizeVirtual,
        codes: &[Code::InvalidFormatSize],
        title: "virtual size at most 500 GiB",
        seed_text: "Virtual size (vsize) at most 500 GB.",
        force_waives: false,
        when_unknown: "virtual size unknown: warning",
    },
    Rule {
        id: RuleId::Partitions,
        codes: &[Code::PartitionNotPresent, Code::RootPartitionNotFound],
        title: "MBR partitioning; Windows on an NTFS partition of a basic disk",
        seed_text: "GPT is not supported. Windows: MBR only, NTFS only, no LVM (nor dynamic \
                    disks, Storage Spaces, software RAID holding the system or boot volume). A \
                    disk without partition information is incomplete (was the boot partition \
                    included?).",
        force_waives: false,
        when_unknown: "partition table not read: warning",
    },
    Rule {
        id: RuleId::RootPartition,
        codes: &[Code::RootPartitionNotFound],
        title: "the image must contain a root partition",
        seed_text: "No root partition found: an installation package, a data-disk image, a \
                    boot-partition-only image or a wrong file was uploaded.",
        force_waives: false,
        when_unknown: "neither an OS nor a no-root classification established: warning",
    },
    Rule {
        id: RuleId::Os,
        codes: &[
            Code::InvalidImageOsTypeUnsupported,
            Code::InvalidImageOsVersionUnsupported,
        ],
        title: "operating system in the supported list",
        seed_text: "Linux based on CentOS, Ubuntu, Debian, CoreOS, openSUSE, SUSE; Windows \
                    Server 2008, 2012, 2016 (all editions / R2).",
        force_waives: false,
        when_unknown: "distribution not identified: warning; a detected version missing from \
                       the list: warning (the seed names families only; the version list \
                       constrains the form's OsVersion); declared vs detected mismatch: warning",
    },
    Rule {
        id: RuleId::Arch,
        codes: &[Code::InvalidImageArchitectureUnsupported],
        title: "32-bit or 64-bit x86",
        seed_text: "32-bit and 64-bit are supported.",
        force_waives: false,
        when_unknown: "architecture not detected: warning; declared vs detected mismatch: warning",
    },
    Rule {
        id: RuleId::Virtio,
        codes: &[Code::VirtioNotInstall],
        title: "KVM virtio drivers installed and available at boot",
        seed_text: "The image must have the KVM virtio drivers (block and net, available at \
                    boot). Windows does not ship them; they must be installed by hand.",
        force_waives: true,
        when_unknown: "kernel/initramfs or registry not readable: warning, not VirtioNotInstall",
    },
    Rule {
        id: RuleId::CloudInit,
        codes: &[Code::CloudInitNotInstalled],
        title: "cloud-init (Linux) / cloudbase-init (Windows) installed",
        seed_text: "cloud-init must be installed; if it cannot be, the user may force import \
                    and configure the instance themselves. Windows: cloudbase-init.",
        force_waives: true,
        when_unknown: "agent presence not established: warning, not CloudInitNotInstalled",
    },
    Rule {
        id: RuleId::Kernel,
        // No kernel at all: nothing can boot, and the virtio drivers ship with the
        // kernel, so the code is VirtioNotInstall — but under this rule, which Force
        // does not waive (Force waives R-VIRTIO's missing drivers only: those can be
        // added after import; a system without a kernel cannot even start).
        codes: &[Code::VirtioNotInstall],
        title: "a kernel to boot from; a stock distribution kernel is best",
        seed_text: "A distribution's stock kernel is best; a modified kernel may make the \
                    import fail (a warning). No kernel at all means nothing can boot: an \
                    error that Force does not waive (the virtio drivers ship with the kernel).",
        force_waives: false,
        when_unknown: "kernel count not told: nothing reported; no modified-kernel hints: \
                       nothing reported",
    },
    Rule {
        id: RuleId::Net,
        codes: &[],
        title: "one NIC, eth0, configured by DHCP/metadata",
        seed_text: "The instance gets one NIC, eth0 (Windows: Local Area Connection); network \
                    configuration comes from the metadata service.",
        force_waives: false,
        when_unknown: "no NIC configuration found: nothing reported",
    },
    Rule {
        id: RuleId::Activation,
        codes: &[],
        title: "imported Windows images get no activation service",
        seed_text: "Imported Windows images are not provided with the Windows activation service.",
        force_waives: false,
        when_unknown: "OS unknown: nothing reported",
    },
    Rule {
        id: RuleId::Boot,
        // Not a seed rule: the boot test (issue 17) proves what R-VIRTIO and R-PART
        // predict. A root not found on the virtio disk is VirtioNotInstall, nothing to
        // boot is PartitionNotPresent; Force does not waive an observed failure (an
        // instance of this image cannot start, as with R-KERNEL's missing kernel).
        codes: &[Code::VirtioNotInstall, Code::PartitionNotPresent],
        title: "the image boots under KVM/QEMU with virtio disk and NIC (boot test)",
        seed_text: "Not in the seed: the boot test boots the image the way the cloud runs it \
                    (virtio-blk, virtio-net, NoCloud seed) and reads the serial console.",
        force_waives: false,
        when_unknown: "no boot test asked for: nothing reported; not run: information",
    },
];

/// The rule spelled `id` (`"R-PART"`), if any.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RuleId::parse(id).map(RuleId::rule)
}

/// Whether `Force` waives rule `id` (the rule table's `force_waives`: R-VIRTIO and
/// R-CLOUDINIT). A forced import still needs a supported format, size, partitioning,
/// root, OS, architecture and a kernel (the seed's "force import" exists for images that
/// cannot get cloud-init); a Linux image without any kernel yields `VirtioNotInstall`
/// under R-KERNEL, which Force does not waive: Force cannot make it boot.
pub fn force_waives(id: RuleId) -> bool {
    id.force_waives()
}

// ---------------------------------------------------------------------------------------
// Lookups over the tables.
// ---------------------------------------------------------------------------------------

/// The accepted format a caller's name stands for (`"VPC"` → `"vhd"`), or `None`.
pub fn normalize_format(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    FORMATS.iter().copied().find(|f| *f == n).or_else(|| {
        FORMAT_ALIASES
            .iter()
            .find(|(a, _)| *a == n)
            .map(|(_, f)| *f)
    })
}

/// The form value an architecture name stands for (`"amd64"` → `"x86_64"`), or `None`
/// for anything that is not 32/64-bit x86.
pub fn normalize_arch(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    ARCH_ALIASES.iter().find(|(a, _)| *a == n).map(|(_, f)| *f)
}

/// The supported OS whose name (or alias) is `name`, case-insensitively.
pub fn find_os(name: &str) -> Option<&'static SupportedOs> {
    let n = name.trim();
    SUPPORTED_OS.iter().find(|o| {
        o.name.eq_ignore_ascii_case(n) || o.name_aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
    })
}

/// The leading decimal digits of a version (`"16.04"` → `"16"`, `"12 SP3"` → `"12"`).
pub fn major_version(version: &str) -> &str {
    let v = version.trim();
    let end = v
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(v.len(), |(i, _)| i);
    v.get(..end).unwrap_or("")
}

/// Whether `version` is one of `os`'s versions: exactly, by alias, or by its major number.
pub fn version_supported(os: &SupportedOs, version: &str) -> bool {
    let v = version.trim();
    if os.versions.iter().any(|x| x.eq_ignore_ascii_case(v))
        || os.version_aliases.iter().any(|x| x.eq_ignore_ascii_case(v))
    {
        return true;
    }
    let major = major_version(v);
    !major.is_empty() && os.versions.contains(&major)
}

/// The supported Linux family a detected distribution belongs to: `id` (os-release `ID`)
/// first, then `id_like` words.
pub fn linux_family(id: Option<&str>, id_like: &[String]) -> Option<&'static SupportedOs> {
    let by_word = |w: &str| {
        let w = w.trim().to_ascii_lowercase();
        DISTRO_FAMILIES
            .iter()
            .find(|(_, ids)| ids.contains(&w.as_str()))
            .and_then(|(name, _)| find_os(name))
    };
    if let Some(f) = id.and_then(by_word) {
        return Some(f);
    }
    // ID_LIKE is ordered "most similar first"; keep the table's precedence among its words.
    DISTRO_FAMILIES.iter().find_map(|(name, ids)| {
        id_like
            .iter()
            .any(|w| ids.contains(&w.trim().to_ascii_lowercase().as_str()))
            .then(|| find_os(name))
            .flatten()
    })
}

/// The supported Windows release a product name belongs to
/// (`"Windows Server 2008 R2 Enterprise"` → Windows Server 2008).
pub fn windows_family(product_name: &str) -> Option<&'static SupportedOs> {
    let p = product_name.to_ascii_lowercase();
    SUPPORTED_OS
        .iter()
        .filter(|o| o.os_type == OsType::Windows)
        .find(|o| {
            let year = o.name.rsplit(' ').next().unwrap_or("");
            p.contains("windows server") && p.contains(year)
        })
}

// ---------------------------------------------------------------------------------------
// DescribeImportImageOs.
// ---------------------------------------------------------------------------------------

/// `ImageOsList`: the supported OS names by type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageOsList {
    #[serde(rename = "Windows")]
    pub windows: Vec<String>,
    #[serde(rename = "Linux")]
    pub linux: Vec<String>,
}

/// `OsVersion`: one OS name with its versions and architectures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsVersion {
    #[serde(rename = "OsName")]
    pub os_name: String,
    #[serde(rename = "OsVersions")]
    pub os_versions: Vec<String>,
    #[serde(rename = "Architecture")]
    pub architecture: Vec<String>,
}

/// The `DescribeImportImageOs` response body (without `RequestId`, which the service adds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportImageOs {
    #[serde(rename = "ImportImageOsListSupported")]
    pub import_image_os_list_supported: ImageOsList,
    #[serde(rename = "ImportImageOsVersionSet")]
    pub import_image_os_version_set: Vec<OsVersion>,
}

/// [`SUPPORTED_OS`] and [`ARCHITECTURES`] in the shape `DescribeImportImageOs` returns.
pub fn describe_import_image_os() -> ImportImageOs {
    let names = |t: OsType| {
        SUPPORTED_OS
            .iter()
            .filter(|o| o.os_type == t)
            .map(|o| o.name.to_string())
            .collect()
    };
    ImportImageOs {
        import_image_os_list_supported: ImageOsList {
            windows: names(OsType::Windows),
            linux: names(OsType::Linux),
        },
        import_image_os_version_set: SUPPORTED_OS
            .iter()
            .map(|o| OsVersion {
                os_name: o.name.to_string(),
                os_versions: o.versions.iter().map(|v| v.to_string()).collect(),
                architecture: ARCHITECTURES.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_has_one_row_and_spells_itself() {
        for (i, r) in RULES.iter().enumerate() {
            assert!(RULES[i + 1..].iter().all(|o| o.id != r.id), "{}", r.id);
            assert_eq!(r.force_waives, force_waives(r.id), "{}", r.id);
            assert_eq!(RuleId::parse(r.id.as_str()), Some(r.id));
            assert_eq!(r.id.rule(), r);
            let json = serde_json::to_string(&r.id).unwrap();
            assert_eq!(json, format!("\"{}\"", r.id));
            assert_eq!(serde_json::from_str::<RuleId>(&json).unwrap(), r.id);
        }
        // Every variant has its row (the match in as_str lists them all).
        assert_eq!(RULES.len(), 14);
        assert!(rule("R-NO-SUCH-RULE").is_none());
    }

    #[test]
    fn lookups() {
        assert_eq!(normalize_format("VPC"), Some("vhd"));
        assert_eq!(normalize_format("qcow2"), Some("qcow2"));
        assert_eq!(normalize_format("vhdx"), None);
        assert_eq!(normalize_arch("AMD64"), Some("x86_64"));
        assert_eq!(normalize_arch("i686"), Some("i386"));
        assert_eq!(normalize_arch("aarch64"), None);
        assert_eq!(major_version("16.04"), "16");
        assert_eq!(major_version("12 SP3"), "12");
        assert_eq!(major_version("buster"), "");
        let ubuntu = find_os("ubuntu").unwrap();
        assert!(version_supported(ubuntu, "16.04"));
        assert!(version_supported(ubuntu, "22.04"));
        assert!(!version_supported(ubuntu, "9.10"));
        assert!(!version_supported(ubuntu, "1"));
        let w = find_os("Windows Server 2008 R2").unwrap();
        assert_eq!(w.name, "Windows Server 2008");
        assert!(version_supported(w, "-"));
        assert!(version_supported(w, "R2"));
        assert_eq!(
            linux_family(Some("linuxmint"), &["ubuntu".into(), "debian".into()])
                .unwrap()
                .name,
            "Ubuntu"
        );
        assert_eq!(linux_family(Some("rocky"), &[]).unwrap().name, "CentOS");
        assert_eq!(
            linux_family(Some("opensuse-leap"), &["suse".into(), "opensuse".into()])
                .unwrap()
                .name,
            "OpenSUSE"
        );
        assert!(linux_family(Some("arch"), &[]).is_none());
        assert!(linux_family(Some("fedora"), &[]).is_none());
        assert_eq!(
            windows_family("Windows Server 2012 R2 Datacenter")
                .unwrap()
                .name,
            "Windows Server 2012"
        );
        assert!(windows_family("Windows Server 2019 Standard").is_none());
        assert!(windows_family("Windows 10 Pro").is_none());
    }
}
