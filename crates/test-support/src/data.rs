//! Deterministic test data (xorshift64), so failures reproduce.

/// `n` incompressible, non-repeating bytes (always the same ones).
pub fn pattern(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `len` pseudo-random bytes from `seed` (different seeds, different bytes).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_deterministic_and_varied() {
        assert_eq!(pattern(1000), pattern(1000));
        assert_ne!(noise(1, 64), noise(2, 64));
        let p = pattern(4096);
        assert!(p.iter().collect::<std::collections::BTreeSet<_>>().len() > 200);
    }
}
