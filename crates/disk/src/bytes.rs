//! Fixed-offset integer reads from byte buffers, panic-free.
//!
//! Callers read whole structures into buffers of the structure's size first, so an
//! out-of-range field offset is a programming error; it yields 0 in release builds
//! rather than a panic on hostile input.

macro_rules! int_reader {
    ($name:ident, $t:ty, $conv:ident) => {
        #[inline]
        pub fn $name(b: &[u8], off: usize) -> $t {
            match short::get::<{ std::mem::size_of::<$t>() }>(b, off) {
                Some(a) => <$t>::$conv(a),
                None => {
                    debug_assert!(false, "field at {off} outside a {}-byte buffer", b.len());
                    0
                }
            }
        }
    };
}

int_reader!(be16, u16, from_be_bytes);
int_reader!(be32, u32, from_be_bytes);
int_reader!(be64, u64, from_be_bytes);
int_reader!(le16, u16, from_le_bytes);
int_reader!(le32, u32, from_le_bytes);
int_reader!(le64, u64, from_le_bytes);

/// The same reads for buffers that may be shorter than the structure (a probe of a few
/// sectors, a registry cell whose length the file gives): a field out of range is not a
/// programming error there, so it reads as 0 in every build, or as `None` from
/// [`short::get`]'s callers that must tell.
pub mod short {
    macro_rules! short_reader {
        ($name:ident, $t:ty, $conv:ident) => {
            #[inline]
            pub fn $name(b: &[u8], off: usize) -> $t {
                get::<{ std::mem::size_of::<$t>() }>(b, off).map_or(0, <$t>::$conv)
            }
        };
    }

    /// The `N` bytes at `off`, if the buffer holds them.
    #[inline]
    pub fn get<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
        b.get(off..off.checked_add(N)?)?.try_into().ok()
    }

    short_reader!(be16, u16, from_be_bytes);
    short_reader!(be32, u32, from_be_bytes);
    short_reader!(be64, u64, from_be_bytes);
    short_reader!(le16, u16, from_le_bytes);
    short_reader!(le32, u32, from_le_bytes);
    short_reader!(le64, u64, from_le_bytes);

    #[cfg(test)]
    mod tests {
        #[test]
        fn out_of_range_reads_zero_or_none() {
            let b = [1u8, 2, 3];
            assert_eq!(super::le16(&b, 1), 0x0302);
            assert_eq!(super::be16(&b, 0), 0x0102);
            assert_eq!(super::le32(&b, 0), 0);
            assert_eq!(super::le64(&b, usize::MAX), 0);
            assert_eq!(super::get::<2>(&b, 2), None);
            assert_eq!(super::get::<2>(&b, 1), Some([2, 3]));
        }
    }
}
