//! ISO 9660 and High Sierra (`iso9660.c`): the primary and Joliet volume descriptors'
//! labels and the date UUID blkid derives.

use super::super::{FsKind, FsProbe};
use super::{bytes_at, found, label, read, utf16_label};
use crate::Result;
use imgport_disk::ReadAt;

/// ISO 9660 (`iso9660.c`): `CD001` at 0x8001 (or High Sierra's `CDROM` at 0x8009).
/// The UUID is the modification (else creation) date as blkid formats it; the label
/// the Joliet volume id when it differs from the primary one, else the primary.
pub(super) fn iso9660(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(pvd) = read(dev, 0x8000, 2048)? else {
        return Ok(None);
    };
    if pvd.get(9..14) == Some(b"CDROM") {
        return Ok(found(FsKind::Iso9660, None, label(bytes_at(&pvd, 48, 32))));
    }
    if pvd.get(1..6) != Some(b"CD001") {
        return Ok(None);
    }
    let pvd_label = bytes_at(&pvd, 40, 32);
    let uuid =
        iso_date_uuid(bytes_at(&pvd, 830, 17)).or_else(|| iso_date_uuid(bytes_at(&pvd, 813, 17)));
    for i in 1..=16u64 {
        let Some(vd) = read(dev, 0x8000 + i * 2048, 2048)? else {
            break;
        };
        match vd.first() {
            Some(0xff) | None => break,
            Some(2) => {}
            _ => continue,
        }
        let esc = bytes_at(&vd, 88, 3);
        if esc == b"%/@" || esc == b"%/C" || esc == b"%/E" {
            let joliet = bytes_at(&vd, 40, 32);
            let same = joliet
                .chunks_exact(2)
                .zip(pvd_label)
                .all(|(u, &a)| u[0] == 0 && u[1] == a);
            if same {
                break;
            }
            return Ok(found(FsKind::Iso9660, uuid, utf16_label(joliet, true)));
        }
    }
    Ok(found(FsKind::Iso9660, uuid, label(pvd_label)))
}

/// `YYYY-MM-DD-HH-MM-SS-cc` from a 17-byte ISO date; nothing when unset.
fn iso_date_uuid(d: &[u8]) -> Option<String> {
    let digits = d.get(..16)?;
    if digits.iter().all(|&c| c == b'0') && d.get(16) == Some(&0) {
        return None;
    }
    if digits.iter().all(|&c| c == 0) {
        return None;
    }
    let s: String = digits.iter().map(|&c| c as char).collect();
    Some(format!(
        "{}-{}-{}-{}-{}-{}-{}",
        s.get(0..4)?,
        s.get(4..6)?,
        s.get(6..8)?,
        s.get(8..10)?,
        s.get(10..12)?,
        s.get(12..14)?,
        s.get(14..16)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_as_blkid_prints_them() {
        assert_eq!(
            iso_date_uuid(b"2024010212345678\0"),
            Some("2024-01-02-12-34-56-78".into())
        );
        assert_eq!(iso_date_uuid(b"0000000000000000\0"), None);
    }
}
