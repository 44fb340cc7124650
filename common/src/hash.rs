//! FNV-1a, the one stable hash of the workspace.
//!
//! Unlike `DefaultHasher`, FNV-1a gives the same value across builds, Rust versions and
//! platforms, which is what its users rely on: the scheduler's start offsets, the assignment's
//! `ETag` and the notices' `Message-ID`s. The constants are the published FNV ones.

const OFFSET_64: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME_64: u64 = 0x0000_0100_0000_01b3;
const OFFSET_128: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const PRIME_128: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// 64-bit FNV-1a of `bytes` (pass `s.as_bytes()` for a string).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(OFFSET_64, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME_64))
}

/// 128-bit FNV-1a of `bytes`.
pub fn fnv1a_128(bytes: &[u8]) -> u128 {
    bytes.iter().fold(OFFSET_128, |h, b| {
        (h ^ u128::from(*b)).wrapping_mul(PRIME_128)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // Published FNV-1a test vectors.
        assert_eq!(fnv1a_64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x85944171f73967e8);
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
