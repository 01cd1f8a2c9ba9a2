//! Format detection from content, never from the file name (R-FMT).
//!
//! Every probe in [`PROBES`] looks at the file independently; if more than one
//! recognises it, the file is refused as ambiguous (the lesson of oslo.utils'
//! format_inspector, CVE-2024-32498 and CVE-2024-40767: a qcow2 header hidden in a
//! "raw" disk, a VMDK descriptor inside another format). Raw is what is left when no
//! probe matches; a raw disk that also carries an ISO 9660 volume (an "isohybrid"
//! install image) is refused too.

use crate::bytes::{be32, le16, le32};
use crate::source::ReadAt;
use crate::{Error, Format, Result};
use serde::Serialize;

/// How many leading bytes the probes look at (ISO 9660 descriptors end at 0x9006).
const HEAD_LEN: usize = 0x9800;

/// A format recognised by content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    /// Our name for what was found: `qcow2`, `vmdk`, `vhd`, `raw`, `vhdx`, `iso9660`, …
    pub name: String,
    /// The importable format it is, if it is one.
    pub format: Option<Format>,
    /// What was seen, e.g. "magic QFI\xfb at offset 0".
    pub evidence: String,
}

struct Probe {
    name: &'static str,
    format: Option<Format>,
    check: fn(&[u8], &[u8], u64) -> Option<String>,
}

/// Probes: (head of file, last 512 bytes, file size) → evidence when matched.
const PROBES: &[Probe] = &[
    Probe {
        name: "qcow2",
        format: Some(Format::Qcow2),
        check: |h, _, _| magic(h, 0, b"QFI\xfb"),
    },
    Probe {
        name: "vmdk",
        format: Some(Format::Vmdk),
        check: probe_vmdk,
    },
    Probe {
        name: "vhd",
        format: Some(Format::Vhd),
        check: probe_vhd,
    },
    Probe {
        name: "qcow",
        format: None,
        check: |h, _, _| {
            // qcow version 1 shares the magic; told apart by the version field.
            if h.starts_with(b"QFI\xfb") && be32(h, 4) == 1 {
                Some("qcow version 1 header".into())
            } else {
                None
            }
        },
    },
    Probe {
        name: "vhdx",
        format: None,
        check: |h, _, _| magic(h, 0, b"vhdxfile"),
    },
    Probe {
        name: "vdi",
        format: None,
        check: |h, _, _| {
            if h.len() >= 0x48 && le32(h, 0x40) == 0xbeda_107f {
                Some("VDI signature 0xbeda107f at offset 0x40".into())
            } else {
                None
            }
        },
    },
    Probe {
        name: "qed",
        format: None,
        check: |h, _, _| magic(h, 0, b"QED\0"),
    },
    Probe {
        name: "luks",
        format: None,
        check: |h, _, _| magic(h, 0, b"LUKS\xba\xbe"),
    },
    Probe {
        name: "parallels",
        format: None,
        check: |h, _, _| {
            magic(h, 0, b"WithoutFreeSpace").or_else(|| magic(h, 0, b"WithouFreSpacExt"))
        },
    },
    Probe {
        name: "cloop",
        format: None,
        check: probe_cloop,
    },
    Probe {
        name: "bochs",
        format: None,
        check: probe_bochs,
    },
    Probe {
        name: "dmg",
        format: None,
        check: |_, t, _| magic(t, 0, b"koly"),
    },
    Probe {
        name: "iso9660",
        format: None,
        check: |h, _, _| {
            [0x8001usize, 0x8801, 0x9001]
                .iter()
                .find_map(|&o| magic(h, o, b"CD001"))
        },
    },
    Probe {
        name: "ova",
        format: None,
        check: |h, _, _| {
            if is_tar(h)
                && tar_first_name(h).is_some_and(|n| n.to_ascii_lowercase().ends_with(".ovf"))
            {
                Some(format!(
                    "tar archive whose first member is {}",
                    tar_first_name(h).unwrap_or_default()
                ))
            } else {
                None
            }
        },
    },
    Probe {
        name: "tar",
        format: None,
        check: |h, _, _| {
            if is_tar(h)
                && !tar_first_name(h).is_some_and(|n| n.to_ascii_lowercase().ends_with(".ovf"))
            {
                Some("ustar magic at offset 257".into())
            } else {
                None
            }
        },
    },
    Probe {
        name: "gzip",
        format: None,
        check: |h, _, _| magic(h, 0, b"\x1f\x8b\x08"),
    },
    Probe {
        name: "xz",
        format: None,
        check: |h, _, _| magic(h, 0, b"\xfd7zXZ\0"),
    },
    Probe {
        name: "zstd",
        format: None,
        check: |h, _, _| magic(h, 0, b"\x28\xb5\x2f\xfd"),
    },
    Probe {
        name: "bzip2",
        format: None,
        check: |h, _, _| {
            if h.len() > 4 && h.starts_with(b"BZh") && (b'1'..=b'9').contains(&h[3]) {
                Some("bzip2 magic BZh at offset 0".into())
            } else {
                None
            }
        },
    },
    Probe {
        name: "zip",
        format: None,
        check: |h, _, _| magic(h, 0, b"PK\x03\x04"),
    },
    Probe {
        name: "7z",
        format: None,
        check: |h, _, _| magic(h, 0, b"7z\xbc\xaf\x27\x1c"),
    },
];

fn magic(buf: &[u8], off: usize, m: &[u8]) -> Option<String> {
    if buf.get(off..off + m.len()) == Some(m) {
        Some(format!("magic {} at offset {off:#x}", escape(m)))
    } else {
        None
    }
}

fn escape(m: &[u8]) -> String {
    m.iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

fn is_tar(h: &[u8]) -> bool {
    h.get(257..262) == Some(b"ustar")
}

fn tar_first_name(h: &[u8]) -> Option<String> {
    let name = h.get(0..100)?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(100);
    std::str::from_utf8(&name[..end]).ok().map(str::to_string)
}

/// VMDK: a sparse extent header (`KDMV`), a stream-optimized one (same magic), an ESX
/// `COWD` sparse file, or a text descriptor (`# Disk DescriptorFile`).
fn probe_vmdk(h: &[u8], _: &[u8], _: u64) -> Option<String> {
    magic(h, 0, b"KDMV")
        .or_else(|| magic(h, 0, b"COWD"))
        .or_else(|| magic(h, 0, b"# Disk DescriptorFile"))
        .or_else(|| {
            // A descriptor may start with other comments; qemu looks for the header line.
            let text = &h[..h.len().min(1024)];
            let s = String::from_utf8_lossy(text);
            if s.starts_with('#')
                && s.contains("createType=")
                && s.contains("# Disk DescriptorFile")
            {
                Some("text VMDK descriptor".into())
            } else {
                None
            }
        })
        .or_else(|| {
            qemu_vmdk_descriptor_probe(h)
                .then(|| "VMDK descriptor text (a version= line after comments)".into())
        })
}

/// qemu's `vmdk_probe` for text descriptors (block/vmdk.c): after `#` comment lines
/// and space-only lines, the first line is `version=1` or `version=2`. Looks at the
/// first 2048 bytes, as qemu's probe buffer.
fn qemu_vmdk_descriptor_probe(h: &[u8]) -> bool {
    let b = &h[..h.len().min(2048)];
    let mut p = 0usize;
    while p < b.len() {
        match b[p] {
            b'#' => {
                while p < b.len() && b[p] != b'\n' {
                    p += 1;
                }
                p += 1;
            }
            b' ' => {
                while p < b.len() && b[p] == b' ' {
                    p += 1;
                }
                if b.get(p) == Some(&b'\r') {
                    p += 1;
                }
                if b.get(p) != Some(&b'\n') {
                    return false;
                }
                p += 1;
            }
            _ => {
                let rest = &b[p..];
                return [
                    &b"version=1\n"[..],
                    b"version=2\n",
                    b"version=1\r\n",
                    b"version=2\r\n",
                ]
                .iter()
                .any(|v| rest.starts_with(v));
            }
        }
    }
    false
}

/// VHD: the `conectix` footer copy at offset 0 (dynamic/differencing) or the footer
/// in the last 512 bytes (fixed).
fn probe_vhd(h: &[u8], t: &[u8], size: u64) -> Option<String> {
    magic(h, 0, b"conectix").or_else(|| {
        if size >= 512 && t.len() == 512 && t.starts_with(b"conectix") {
            Some(format!("VHD footer 'conectix' at offset {:#x}", size - 512))
        } else {
            None
        }
    })
}

/// cloop (Knoppix compressed loopback), as qemu's `cloop_probe` (block/cloop.c): the
/// shell-script header that `create_compressed_fs` writes. qemu matches the V2.0 text
/// exactly; later versions (`#V3.0`, `#V4.0`) differ only in the version line, so the
/// version is read rather than fixed.
fn probe_cloop(h: &[u8], _: &[u8], _: u64) -> Option<String> {
    let rest = h.strip_prefix(b"#!/bin/sh\n#V")?;
    let line_end = rest.iter().take(16).position(|&b| b == b'\n')?;
    let version = rest.get(..line_end)?.strip_suffix(b" Format")?;
    let after = rest.get(line_end + 1..)?;
    (version.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && after.starts_with(b"modprobe cloop "))
    .then(|| {
        format!(
            "cloop V{} header (#!/bin/sh … modprobe cloop) at offset 0",
            String::from_utf8_lossy(version)
        )
    })
}

/// Bochs "growing" and redolog disks, as qemu's `bochs_probe` (block/bochs.c): the
/// NUL-terminated magic `Bochs Virtual HD Image` at 0, type `Redolog` at 32. qemu also
/// wants subtype `Growing` and version 1 or 2; the other redolog subtypes (`Undoable`,
/// `Volatile`) are overlays of another disk, no more importable.
fn probe_bochs(h: &[u8], _: &[u8], _: u64) -> Option<String> {
    let field = |at: usize, len: usize| -> Option<&[u8]> {
        let f = h.get(at..at + len)?;
        Some(&f[..f.iter().position(|&b| b == 0)?])
    };
    if field(0, 32)? != b"Bochs Virtual HD Image" || field(32, 16)? != b"Redolog" {
        return None;
    }
    let subtype = String::from_utf8_lossy(field(48, 16).unwrap_or(b"?"));
    Some(format!(
        "Bochs Virtual HD Image header (Redolog, subtype {subtype}, version {:#x}) at offset 0",
        if h.len() >= 68 { le32(h, 64) } else { 0 }
    ))
}

/// A raw disk's own signatures, used to spot raw+ISO hybrids.
fn raw_disk_signature(h: &[u8]) -> Option<String> {
    if h.len() < 512 || le16(h, 510) != 0xaa55 {
        return None;
    }
    if h.len() >= 520 && &h[512..520] == b"EFI PART" {
        return Some("GPT header at LBA 1".into());
    }
    let parts = (0..4)
        .map(|i| &h[446 + 16 * i..462 + 16 * i])
        .filter(|e| e[4] != 0 && le32(e, 12) != 0 && (e[0] == 0 || e[0] == 0x80))
        .count();
    (parts > 0).then(|| format!("MBR boot signature with {parts} partition entries"))
}

/// Detect the format of `src` from its content.
///
/// Returns the one recognised format, or an error: [`Error::Ambiguous`] when several
/// probes match, [`Error::UnsupportedFormat`] for a recognised but non-importable
/// format. An unrecognised file is raw.
pub fn detect(src: &dyn ReadAt) -> Result<Detected> {
    if src.size() == 0 {
        return Err(Error::corrupt(
            "raw",
            "file",
            0,
            "the file is empty: it holds no disk",
        ));
    }
    let candidates = probe_all(src)?;
    let found: Vec<&Detected> = candidates.iter().filter(|d| d.name != "raw").collect();
    match found.as_slice() {
        [] => Ok(candidates.into_iter().next().unwrap_or(Detected {
            name: "raw".into(),
            format: Some(Format::Raw),
            evidence: "no known image header; read as a raw disk".into(),
        })),
        [one] if one.name == "iso9660" && candidates.iter().any(|d| d.name == "raw") => {
            Err(Error::Ambiguous {
                formats: candidates
                    .iter()
                    .map(|d| (d.name.clone(), d.evidence.clone()))
                    .collect(),
            })
        }
        [one] => match one.format {
            Some(_) => Ok((*one).clone()),
            None => Err(Error::UnsupportedFormat {
                detected: one.name.clone(),
                detail: one.evidence.clone(),
            }),
        },
        many => Err(Error::Ambiguous {
            formats: many
                .iter()
                .map(|d| (d.name.clone(), d.evidence.clone()))
                .collect(),
        }),
    }
}

/// Every probe that matches `src`, plus `raw` when the head is a partitioned disk.
pub fn probe_all(src: &dyn ReadAt) -> Result<Vec<Detected>> {
    let size = src.size();
    let head_len = size.min(HEAD_LEN as u64) as usize;
    let mut head = vec![0u8; head_len];
    src.read_exact_at(&mut head, 0)?;
    let mut tail = vec![0u8; if size >= 512 { 512 } else { 0 }];
    if !tail.is_empty() {
        src.read_exact_at(&mut tail, size - 512)?;
    }
    let mut out: Vec<Detected> = PROBES
        .iter()
        .filter_map(|p| {
            (p.check)(&head, &tail, size).map(|evidence| Detected {
                name: p.name.into(),
                format: p.format,
                evidence,
            })
        })
        .collect();
    // qcow version 1 also matches the qcow2 magic: keep only the precise one.
    if out.iter().any(|d| d.name == "qcow") {
        out.retain(|d| d.name != "qcow2");
    } else if let Some(q) = out.iter_mut().find(|d| d.name == "qcow2") {
        let v = be32(&head, 4);
        if !(v == 2 || v == 3) {
            q.format = None;
            q.evidence = format!("qcow2 magic with unknown version {v}");
        }
    }
    // A fixed VHD is a raw disk plus a footer: the raw signature does not count against it.
    if let Some(sig) = raw_disk_signature(&head) {
        out.push(Detected {
            name: "raw".into(),
            format: Some(Format::Raw),
            evidence: sig,
        });
    }
    Ok(out)
}
