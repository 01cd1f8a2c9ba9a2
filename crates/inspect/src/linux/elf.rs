//! Architecture from an ELF header (R-ARCH): `e_ident[EI_CLASS]`,
//! `e_ident[EI_DATA]` and `e_machine` (System V ABI, "ELF Header").

use crate::guest::{Evidence, Guest};
use crate::{Error, Result};
use serde::Serialize;
use std::io::Read;

/// Bytes of an ELF header we need (`e_machine` is at offset 18).
pub const ELF_HEADER_PREFIX: usize = 20;

/// A CPU architecture as distributions name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    /// 32-bit x86 (i386/i686).
    I386,
    Aarch64,
    /// 32-bit ARM (armv7/armhf).
    Armv7,
    Ppc64le,
    Ppc64,
    Ppc,
    S390x,
    S390,
    Riscv64,
    Riscv32,
    Mips,
    Mips64,
    Loongarch64,
}

impl Arch {
    /// Word size: 32 or 64.
    pub fn bits(self) -> u8 {
        match self {
            Arch::I386 | Arch::Armv7 | Arch::Ppc | Arch::S390 | Arch::Riscv32 | Arch::Mips => 32,
            _ => 64,
        }
    }

    /// The name distributions use (`x86_64`, `i386`, `aarch64` …).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7",
            Arch::Ppc64le => "ppc64le",
            Arch::Ppc64 => "ppc64",
            Arch::Ppc => "ppc",
            Arch::S390x => "s390x",
            Arch::S390 => "s390",
            Arch::Riscv64 => "riscv64",
            Arch::Riscv32 => "riscv32",
            Arch::Mips => "mips",
            Arch::Mips64 => "mips64",
            Arch::Loongarch64 => "loongarch64",
        }
    }
}

/// The architecture an ELF header is for. `header` is the file's first bytes.
pub fn elf_arch(header: &[u8]) -> Result<Arch> {
    let bad = |d: String| Error::corrupt("ELF header", 0, d);
    if header.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(bad("no \\x7fELF magic".into()));
    }
    let class = *header.get(4).ok_or_else(|| bad("truncated".into()))?;
    let data = *header.get(5).ok_or_else(|| bad("truncated".into()))?;
    let m = header
        .get(18..20)
        .ok_or_else(|| bad("truncated before e_machine".into()))?;
    let machine = match data {
        1 => u16::from_le_bytes([m[0], m[1]]),
        2 => u16::from_be_bytes([m[0], m[1]]),
        d => {
            return Err(bad(format!(
                "EI_DATA {d} is neither little (1) nor big (2) endian"
            )))
        }
    };
    let b64 = match class {
        1 => false,
        2 => true,
        c => {
            return Err(bad(format!(
                "EI_CLASS {c} is neither 32-bit (1) nor 64-bit (2)"
            )))
        }
    };
    Ok(match (machine, b64) {
        (3, false) | (6, false) => Arch::I386,
        (62, true) => Arch::X86_64,
        (183, true) => Arch::Aarch64,
        (40, false) => Arch::Armv7,
        (21, true) if data == 1 => Arch::Ppc64le,
        (21, true) => Arch::Ppc64,
        (20, false) => Arch::Ppc,
        (22, true) => Arch::S390x,
        (22, false) => Arch::S390,
        (243, true) => Arch::Riscv64,
        (243, false) => Arch::Riscv32,
        (8, false) => Arch::Mips,
        (8, true) => Arch::Mips64,
        (258, true) => Arch::Loongarch64,
        (m, b) => {
            return Err(bad(format!(
                "e_machine {m} with {}-bit class is not a known architecture",
                if b { 64 } else { 32 }
            )))
        }
    })
}

/// Binaries whose ELF header tells the userland architecture, in order of trust.
const PROBE_BINARIES: &[&str] = &[
    "/bin/sh",
    "/sbin/init",
    "/usr/bin/ls",
    "/bin/ls",
    "/usr/bin/bash",
    "/bin/bash",
    "/lib/systemd/systemd",
    "/usr/lib/systemd/systemd",
    "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-linux.so.2",
    "/lib/ld-linux-armhf.so.3",
    "/lib64/ld64.so.2",
    "/lib/ld64.so.1",
];

/// First ELF header prefix of `path` in the guest (symlinks followed in the guest).
fn read_prefix(guest: &Guest, path: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(64);
    guest
        .open_file(path)?
        .take(64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::corrupt("ELF header", 0, format!("{path}: {e}")))?;
    Ok(buf)
}

/// The guest's architecture from the first readable ELF binary; later binaries are
/// read only to note a disagreement (a 32-bit userland on a 64-bit loader …).
pub fn detect(guest: &Guest, ev: &mut Vec<Evidence>) -> Option<Arch> {
    let mut found: Option<Arch> = None;
    let mut checked = 0;
    for path in PROBE_BINARIES {
        if checked >= 3 {
            break;
        }
        let header = match read_prefix(guest, path) {
            Ok(h) => h,
            Err(Error::NotFound(_)) => continue,
            Err(e) => {
                ev.push(Evidence::new(*path, format!("unreadable: {e}")));
                continue;
            }
        };
        let real = guest.realpath(path).unwrap_or_else(|_| path.to_string());
        let shown = if real == *path {
            real
        } else {
            format!("{path} -> {real}")
        };
        match elf_arch(&header) {
            Ok(a) => {
                checked += 1;
                match found {
                    None => {
                        ev.push(Evidence::new(
                            shown,
                            format!("ELF {} ({}-bit)", a.name(), a.bits()),
                        ));
                        found = Some(a);
                    }
                    Some(f) if f != a => ev.push(Evidence::new(
                        shown,
                        format!("ELF {} disagrees with {} found first", a.name(), f.name()),
                    )),
                    Some(_) => {}
                }
            }
            Err(e) => ev.push(Evidence::new(shown, e.to_string())),
        }
    }
    if found.is_none() {
        ev.push(Evidence::new(
            "/bin/sh",
            "no readable ELF binary among the usual ones; architecture unknown",
        ));
    }
    found
}
