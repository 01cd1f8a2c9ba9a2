//! Linux swap and hibernation images (`swap.c`): the signature at the end of the first
//! page and the v1 header's UUID and label.

use super::super::{FsKind, FsProbe};
use super::{bytes_at, dce_uuid, found, label, read};
use crate::Result;
use imgport_disk::bytes::short::le32;
use imgport_disk::ReadAt;

/// Offsets of the swap signature: page size − 10 for 4 KiB … 64 KiB pages.
const SWAP_MAGIC_AT: [u64; 5] = [0xff6, 0x1ff6, 0x3ff6, 0x7ff6, 0xfff6];
const TOI_MAGIC: &[u8] = b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c";

/// Linux swap (`swap.c`): `SWAP-SPACE`/`SWAPSPACE2` at the end of the first page,
/// and hibernation images (`S1SUSPEND`, `S2SUSPEND`, `ULSUSPEND`, `LINHIB0001`,
/// TuxOnIce), all reported as swap.
pub(super) fn swap(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    if dev.size() < 10 * 4096 {
        return Ok(None);
    }
    let Some(head) = read(dev, 0, 8)? else {
        return Ok(None);
    };
    let toi = head == TOI_MAGIC;
    for at in SWAP_MAGIC_AT {
        let Some(m) = read(dev, at, 10)? else {
            break;
        };
        if m == b"SWAP-SPACE" && !toi {
            return Ok(found(FsKind::Swap, None, None));
        }
        if m == b"SWAPSPACE2" && !toi {
            return swap_info(dev, true);
        }
        if m.get(..9) == Some(b"S1SUSPEND")
            || m.get(..9) == Some(b"S2SUSPEND")
            || m.get(..9) == Some(b"ULSUSPEND")
            || m == b"LINHIB0001"
        {
            return swap_info(dev, false);
        }
    }
    if toi {
        return swap_info(dev, false);
    }
    Ok(None)
}

/// The v1 swap header at 1024 (`swap_set_info`).
fn swap_info(dev: &dyn ReadAt, check_version: bool) -> Result<Option<FsProbe>> {
    let Some(h) = read(dev, 1024, 512)? else {
        return Ok(None);
    };
    if check_version {
        let v = le32(&h, 0);
        if (v != 1 && v.swap_bytes() != 1) || le32(&h, 4) == 0 {
            return Ok(None);
        }
    }
    let (mut uuid, mut lbl) = (None, None);
    // padding[32] and padding[33]: "is there any garbage down there?"
    if le32(&h, 44 + 128) == 0 && le32(&h, 44 + 132) == 0 {
        if h.get(28) != Some(&0) {
            lbl = label(bytes_at(&h, 28, 16));
        }
        uuid = dce_uuid(bytes_at(&h, 12, 16));
    }
    Ok(found(FsKind::Swap, uuid, lbl))
}
