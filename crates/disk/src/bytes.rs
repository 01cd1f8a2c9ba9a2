//! Fixed-offset integer reads from byte buffers, panic-free.
//!
//! Callers read whole structures into buffers of the structure's size first, so an
//! out-of-range field offset is a programming error; it yields 0 in release builds
//! rather than a panic on hostile input.

macro_rules! int_reader {
    ($name:ident, $t:ty, $conv:ident) => {
        #[inline]
        pub fn $name(b: &[u8], off: usize) -> $t {
            const N: usize = std::mem::size_of::<$t>();
            match b.get(off..off + N) {
                Some(s) => {
                    let mut a = [0u8; N];
                    a.copy_from_slice(s);
                    <$t>::$conv(a)
                }
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
