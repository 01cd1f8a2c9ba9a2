//! The checksums of an upload body (S3 "additional checksums", `x-amz-checksum-*`, and
//! the MD5 of the ETag), computed as the bytes arrive; base64 as S3 writes digests.

use super::BodySpec;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

static CRC32C: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);
static CRC64NVME: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_NVME);

/// The checksum algorithms of `x-amz-checksum-*` (S3 "additional checksums").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algo {
    pub const ALL: [Algo; 5] = [
        Algo::Crc32,
        Algo::Crc32c,
        Algo::Crc64Nvme,
        Algo::Sha1,
        Algo::Sha256,
    ];

    /// The header carrying this checksum.
    pub fn header(self) -> &'static str {
        match self {
            Algo::Crc32 => "x-amz-checksum-crc32",
            Algo::Crc32c => "x-amz-checksum-crc32c",
            Algo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algo::Sha1 => "x-amz-checksum-sha1",
            Algo::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn from_header(h: &str) -> Option<Algo> {
        Algo::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(h.trim()))
    }

    /// `CRC32`, `SHA256`, … as in `x-amz-sdk-checksum-algorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Crc32 => "CRC32",
            Algo::Crc32c => "CRC32C",
            Algo::Crc64Nvme => "CRC64NVME",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
        }
    }
}

/// Digests of the received bytes.
#[derive(Debug, Clone, Default)]
pub struct Digests {
    pub md5: [u8; 16],
    pub sha256: Option<[u8; 32]>,
    pub sha1: Option<[u8; 20]>,
    pub crc32: Option<u32>,
    pub crc32c: Option<u32>,
    pub crc64nvme: Option<u64>,
}

impl Digests {
    /// The base64 value of `algo` as `x-amz-checksum-*` carries it, if computed.
    pub fn checksum(&self, algo: Algo) -> Option<String> {
        match algo {
            Algo::Crc32 => self.crc32.map(|v| b64(&v.to_be_bytes())),
            Algo::Crc32c => self.crc32c.map(|v| b64(&v.to_be_bytes())),
            Algo::Crc64Nvme => self.crc64nvme.map(|v| b64(&v.to_be_bytes())),
            Algo::Sha1 => self.sha1.map(|v| b64(&v)),
            Algo::Sha256 => self.sha256.map(|v| b64(&v)),
        }
    }
}

pub(super) struct Hashers {
    md5: Md5,
    sha256: Option<Sha256>,
    sha1: Option<Sha1>,
    crc32: Option<crc32fast::Hasher>,
    crc32c: Option<crc::Digest<'static, u32, crc::Table<16>>>,
    crc64: Option<crc::Digest<'static, u64, crc::Table<16>>>,
}

impl Hashers {
    pub(super) fn new(spec: &BodySpec) -> Self {
        let want = |a: Algo| spec.checksums.contains(&a);
        Hashers {
            md5: Md5::new(),
            sha256: (spec.sha256 || want(Algo::Sha256)).then(Sha256::new),
            sha1: want(Algo::Sha1).then(Sha1::new),
            crc32: want(Algo::Crc32).then(crc32fast::Hasher::new),
            crc32c: want(Algo::Crc32c).then(|| CRC32C.digest()),
            crc64: want(Algo::Crc64Nvme).then(|| CRC64NVME.digest()),
        }
    }

    pub(super) fn update(&mut self, d: &[u8]) {
        self.md5.update(d);
        if let Some(h) = &mut self.sha256 {
            sha2::Digest::update(h, d);
        }
        if let Some(h) = &mut self.sha1 {
            sha1::Digest::update(h, d);
        }
        if let Some(h) = &mut self.crc32 {
            h.update(d);
        }
        if let Some(h) = &mut self.crc32c {
            h.update(d);
        }
        if let Some(h) = &mut self.crc64 {
            h.update(d);
        }
    }

    pub(super) fn finish(self) -> Digests {
        Digests {
            md5: self.md5.finalize().into(),
            sha256: self.sha256.map(|h| sha2::Digest::finalize(h).into()),
            sha1: self.sha1.map(|h| sha1::Digest::finalize(h).into()),
            crc32: self.crc32.map(|h| h.finalize()),
            crc32c: self.crc32c.map(|h| h.finalize()),
            crc64nvme: self.crc64.map(|h| h.finalize()),
        }
    }
}

/// Standard base64 with padding.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decode standard base64 (`None` when invalid).
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}
