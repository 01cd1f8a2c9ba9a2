//! CRC-32C (Castagnoli), used by btrfs for checksums and directory name hashes.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82f6_3b78
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
static TABLE: [u32; 256] = table();

/// The raw CRC register after feeding `data` starting from `seed` (no final inversion).
pub(super) fn crc32c_raw(seed: u32, data: &[u8]) -> u32 {
    data.iter().fold(seed, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Standard CRC-32C of `data`.
pub(super) fn crc32c(data: &[u8]) -> u32 {
    !crc32c_raw(!0, data)
}

/// `btrfs_name_hash`: the DIR_ITEM key offset of a name.
pub(super) fn name_hash(name: &[u8]) -> u64 {
    u64::from(crc32c_raw(!1, name))
}
