//! The VMDK text descriptor (VMware "Virtual Disk Format 1.1", "The Descriptor
//! File"): header keys, extent lines and the disk database. Embedded in a monolithic
//! sparse extent, or a separate file that names the extent files — which imgport
//! never opens.

use super::FMT;
use crate::{Error, Result};

/// Largest descriptor accepted (qemu reads at most 1 MiB − 1).
pub const MAX_DESCRIPTOR: u64 = 1 << 20;
/// The `createType`s of single-file hosted sparse disks, the only importable ones.
pub const SINGLE_FILE_TYPES: &[&str] = &["monolithicSparse", "streamOptimized"];

/// One extent line: `ACCESS SECTORS TYPE "FILE" [OFFSET]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentLine {
    pub access: String,
    pub sectors: Option<u64>,
    pub kind: String,
    pub file: String,
    pub offset: Option<String>,
}

/// The parsed descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub version: Option<String>,
    pub create_type: Option<String>,
    pub cid: Option<String>,
    pub parent_cid: Option<String>,
    pub parent_file_name_hint: Option<String>,
    /// Whether the text mentions `parentFileNameHint` anywhere (qemu finds it with a
    /// plain substring search, even in a comment).
    pub mentions_parent_hint: bool,
    pub extents: Vec<ExtentLine>,
    pub adapter_type: Option<String>,
    pub hw_version: Option<String>,
}

/// Bytes of text shown in messages from a descriptor value.
const SHOW: usize = 120;

impl Descriptor {
    /// Parse descriptor text (up to the first NUL).
    pub fn parse(raw: &[u8]) -> Descriptor {
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        let text = String::from_utf8_lossy(&raw[..end]);
        let mut d = Descriptor {
            mentions_parent_hint: text.contains("parentFileNameHint"),
            ..Descriptor::default()
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            if matches!(first, "RW" | "RDONLY" | "NOACCESS") {
                d.extents.push(parse_extent(line));
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = unquote(v.trim()).to_string();
            match k.trim() {
                "version" => d.version = Some(v),
                "createType" => d.create_type = Some(v),
                "CID" => d.cid = Some(v),
                "parentCID" => d.parent_cid = Some(v),
                "parentFileNameHint" => d.parent_file_name_hint = Some(v),
                "ddb.adapterType" => d.adapter_type = Some(v),
                "ddb.virtualHWVersion" => d.hw_version = Some(v),
                _ => {}
            }
        }
        d
    }

    /// Whether `parentCID` names a parent (anything but `ffffffff`).
    pub fn has_parent_cid(&self) -> bool {
        self.parent_cid
            .as_deref()
            .is_some_and(|p| u32::from_str_radix(p.trim(), 16).ok() != Some(0xffff_ffff))
    }

    /// Check the descriptor embedded in a sparse extent of `capacity` sectors: a
    /// single-file disk with no parent, whose one extent is this file. Returns the
    /// `createType` (when present) and findings.
    pub fn check_embedded(&self, capacity: u64, at: u64) -> Result<(Option<String>, Vec<String>)> {
        let mut findings = Vec::new();
        if self.mentions_parent_hint || self.has_parent_cid() {
            return Err(Error::unsafe_image(
                FMT,
                format!(
                    "this is a delta (child) disk: its descriptor names a parent{} (parentCID {}); parent disks are never opened — consolidate the snapshot chain into one disk first",
                    self.parent_file_name_hint
                        .as_deref()
                        .map(|p| format!(" file {:?}", show(p)))
                        .unwrap_or_default(),
                    self.parent_cid.as_deref().map(show).unwrap_or("absent".into())
                ),
            ));
        }
        // qemu-img writes the extent files of a twoGbMaxExtentSparse disk with room for
        // a descriptor but none in it (block/vmdk.c `vmdk_init_extent` always sets
        // desc_offset 1, desc_size 20; only monolithic disks fill it in); qemu then
        // fails with EINVAL. Say what the file is.
        if *self == Descriptor::default() {
            return Err(Error::unsupported(
                FMT,
                "the sparse extent's embedded descriptor is empty: this is one extent file of a multi-file VMDK (e.g. twoGbMaxExtentSparse), whose descriptor is a separate file; only single-file monolithicSparse and streamOptimized disks are imported — convert the whole disk with `qemu-img convert -O vmdk -o subformat=streamOptimized DESCRIPTOR.vmdk OUT.vmdk` where all its files are",
            ));
        }
        // qemu refuses to open a VMDK whose descriptor lacks these (vmdk_read_cid).
        if self.cid.is_none() || self.parent_cid.is_none() {
            return Err(Error::corrupt(
                FMT,
                "embedded descriptor",
                at,
                "the descriptor has no CID or parentCID line",
            ));
        }
        if let Some(ct) = &self.create_type {
            if !SINGLE_FILE_TYPES.contains(&ct.as_str()) {
                return Err(Error::unsafe_image(
                    FMT,
                    format!(
                        "createType {:?} is a multi-file or device-backed VMDK whose data lives in other files; only monolithicSparse and streamOptimized single-file disks are imported — convert with `qemu-img convert -O vmdk -o subformat=streamOptimized` on the host that has all its files",
                        show(ct)
                    ),
                ));
            }
        } else {
            findings.push("the embedded descriptor has no createType".to_string());
        }
        let [extent] = self.extents.as_slice() else {
            return Err(Error::unsafe_image(
                FMT,
                format!(
                    "the embedded descriptor lists {} extents ({}); a single-file disk has exactly one, itself — other extent files are never opened",
                    self.extents.len(),
                    self.extent_names()
                ),
            ));
        };
        if extent.kind != "SPARSE" || extent.offset.is_some() || !is_plain_file_name(&extent.file) {
            return Err(Error::unsafe_image(
                FMT,
                format!(
                    "the embedded descriptor's extent is {} {:?}, not this sparse file; other files are never opened",
                    show(&extent.kind),
                    show(&extent.file)
                ),
            ));
        }
        if extent.sectors != Some(capacity) {
            findings.push(format!(
                "the descriptor's extent line says {} sectors, the header {capacity}",
                extent
                    .sectors
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "an unreadable number of".into())
            ));
        }
        Ok((self.create_type.clone(), findings))
    }

    /// The refusal for a descriptor file (text VMDK) or a sparse file whose header
    /// makes qemu treat its descriptor as one: it names the extent files.
    pub fn refuse_as_file(&self) -> Error {
        Error::unsafe_image(
            FMT,
            format!(
                "this is a VMDK descriptor (createType {}) whose data lives in other files ({}); files named by an image are never opened — upload a single-file image (e.g. `qemu-img convert -O vmdk -o subformat=streamOptimized` of the whole disk, or qcow2)",
                self.create_type.as_deref().map(show).unwrap_or("absent".into()),
                self.extent_names()
            ),
        )
    }

    fn extent_names(&self) -> String {
        if self.extents.is_empty() {
            return "no extent lines".into();
        }
        let mut names: Vec<String> = self
            .extents
            .iter()
            .take(4)
            .map(|e| format!("{} {:?}", show(&e.kind), show(&e.file)))
            .collect();
        if self.extents.len() > 4 {
            names.push(format!("and {} more", self.extents.len() - 4));
        }
        names.join(", ")
    }
}

/// `ACCESS SECTORS TYPE "FILE" [OFFSET]` (the file name may contain spaces).
fn parse_extent(line: &str) -> ExtentLine {
    let (head, file, tail) = match (line.find('"'), line.rfind('"')) {
        (Some(a), Some(b)) if b > a => (&line[..a], &line[a + 1..b], &line[b + 1..]),
        _ => (line, "", ""),
    };
    let mut t = head.split_whitespace();
    let access = t.next().unwrap_or("").to_string();
    let sectors = t.next().and_then(|s| s.parse().ok());
    let kind = t.next().unwrap_or("").to_string();
    let offset = tail.split_whitespace().next().map(str::to_string);
    ExtentLine {
        access,
        sectors,
        kind,
        file: file.to_string(),
        offset,
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// A bare file name: no directory, drive, protocol or parent reference.
fn is_plain_file_name(n: &str) -> bool {
    !n.is_empty()
        && n != "."
        && n != ".."
        && !n
            .chars()
            .any(|c| matches!(c, '/' | '\\' | ':') || c.is_control())
}

/// A value shortened for messages.
fn show(s: &str) -> String {
    if s.len() <= SHOW {
        return s.to_string();
    }
    let mut end = SHOW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU: &str = "# Disk DescriptorFile\nversion=1\nCID=cc270bbb\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\n\n# Extent description\nRW 131097 SPARSE \"s.vmdk\"\n\n# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"ide\"\n";

    #[test]
    fn parses_qemu_descriptor() {
        let d = Descriptor::parse(QEMU.as_bytes());
        assert_eq!(d.create_type.as_deref(), Some("monolithicSparse"));
        assert_eq!(d.extents.len(), 1);
        assert_eq!(d.extents[0].sectors, Some(131097));
        assert_eq!(d.extents[0].file, "s.vmdk");
        assert_eq!(d.adapter_type.as_deref(), Some("ide"));
        let (ct, findings) = d.check_embedded(131097, 512).unwrap();
        assert_eq!(ct.as_deref(), Some("monolithicSparse"));
        assert!(findings.is_empty());
    }

    #[test]
    fn refuses_other_files_and_parents() {
        let two = QEMU.replace(
            "RW 131097 SPARSE \"s.vmdk\"\n",
            "RW 131097 SPARSE \"s.vmdk\"\nRW 10 FLAT \"/etc/passwd\" 0\n",
        );
        let flat = QEMU.replace("SPARSE \"s.vmdk\"", "FLAT \"/etc/passwd\" 0");
        let path = QEMU.replace("\"s.vmdk\"", "\"../x/s.vmdk\"");
        let parent = QEMU.replace("parentCID=ffffffff", "parentCID=12345678");
        let hint = format!("{QEMU}parentFileNameHint=\"base.vmdk\"\n");
        for t in [two, flat, path, parent, hint] {
            let e = Descriptor::parse(t.as_bytes()).check_embedded(131097, 512);
            assert!(matches!(e, Err(Error::Unsafe { .. })), "{t}: {e:?}");
        }
        let no_cid = QEMU.replace("CID=cc270bbb\n", "");
        assert!(matches!(
            Descriptor::parse(no_cid.as_bytes()).check_embedded(131097, 512),
            Err(Error::Corrupt { .. })
        ));
    }
}
