//! Request bodies to temporary files and blobs to response bodies, streamed: never a
//! whole object in memory (R-FLOW-UPLOAD: multi-GB images).
//!
//! Upload path: the async handler forwards body frames through a small bounded
//! channel to a blocking thread that decodes them (plain, or `aws-chunked` with every
//! chunk signature and the trailer signature verified as they arrive), hashes them
//! (MD5 for the ETag, and whatever checksums the request declares) and writes them to
//! a temporary file of the object store, flushed to disk before it may be committed.
//! Submodules: `aws_chunked` (the streaming-upload framing and its signatures),
//! `checksums` (MD5, SHA-1/256, CRC32/C, CRC64NVME; base64), `download` (response bodies).

mod aws_chunked;
mod checksums;
mod download;

pub use aws_chunked::decode_aws_chunked;
pub use checksums::{b64, unb64, Algo, Digests};

use aws_chunked::chunked;
use checksums::Hashers;
pub use download::from_source;

use super::auth::ChunkSigner;
use super::errors::S3Error;
use crate::objects::sparse::SparseWriter;
use crate::AppState;
use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Body frames buffered between the connection and the writer thread.
const CHANNEL_FRAMES: usize = 16;

/// A temporary upload file, removed when dropped unless committed.
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub fn new(path: PathBuf) -> Self {
        TempFile { path, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move the file into the object store as `blob`.
    pub fn commit(mut self, st: &AppState, blob: &str) -> std::io::Result<()> {
        st.objects.commit(&self.path, blob)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// How the bytes of a body are framed.
pub enum Framing {
    /// The object bytes as sent.
    Plain,
    /// `Content-Encoding: aws-chunked`: chunks with signatures chained from the seed
    /// (`signer`), or unsigned chunks; optionally followed by trailing headers.
    AwsChunked {
        signer: Option<ChunkSigner>,
        trailer: bool,
    },
}

/// What to receive and compute.
pub struct BodySpec {
    pub framing: Framing,
    /// Largest decoded size accepted (`EntityTooLarge` beyond).
    pub limit: u64,
    /// `x-amz-decoded-content-length`, when sent: the decoded size must equal it.
    pub decoded_length: Option<u64>,
    /// Compute SHA-256 (signed payload hash, or a SHA256 checksum).
    pub sha256: bool,
    /// Checksums to compute besides MD5 and SHA-256.
    pub checksums: Vec<Algo>,
}

/// A received body: its temporary file and what was computed.
pub struct Received {
    pub temp: TempFile,
    pub size: u64,
    pub digests: Digests,
    /// Trailing headers of an `aws-chunked` body (lower-case names), signature
    /// already verified and removed.
    pub trailers: Vec<(String, String)>,
}

/// Reads the frames the connection task forwards; a closed channel is the end of
/// the body, an `Err` frame a broken connection.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        let _ = self.cur.split_to(n);
        Ok(n)
    }
}

pub(super) fn incomplete(e: impl std::fmt::Display) -> S3Error {
    S3Error::bad(
        "IncompleteBody",
        format!(
            "The request body ended before it was complete ({e}); send the whole object again."
        ),
    )
}

pub(super) fn too_large(limit: u64) -> S3Error {
    S3Error::bad(
        "EntityTooLarge",
        format!("Your proposed upload exceeds the maximum allowed size of {limit} bytes; use a multipart upload with parts of at most 5 GiB."),
    )
    .with("MaxSizeAllowed", limit.to_string())
}

/// Receive `body` into a new temporary file of the object store per `spec`.
pub async fn receive(st: &AppState, body: Body, spec: BodySpec) -> Result<Received, S3Error> {
    let temp = TempFile::new(st.objects.temp_path());
    let file = crate::perms::create_private_file(temp.path())?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(CHANNEL_FRAMES);
    let worker = tokio::task::spawn_blocking(move || decode_to_file(rx, file, spec));
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let stop = match frame {
            Ok(b) => tx.send(Ok(b)).await.is_err(),
            Err(e) => {
                let _ = tx.send(Err(e.to_string())).await;
                true
            }
        };
        if stop {
            break;
        }
    }
    drop(tx);
    let (size, digests, trailers) = worker.await.map_err(S3Error::internal)??;
    Ok(Received {
        temp,
        size,
        digests,
        trailers,
    })
}

/// Decoded size, digests, trailers.
pub type Decoded = (u64, Digests, Vec<(String, String)>);

fn decode_to_file(
    rx: mpsc::Receiver<Result<Bytes, String>>,
    file: std::fs::File,
    spec: BodySpec,
) -> Result<Decoded, S3Error> {
    let reader = BufReader::with_capacity(
        256 << 10,
        ChannelReader {
            rx,
            cur: Bytes::new(),
        },
    );
    // All-zero blocks stay holes: a raw image stored as the user's sparse file.
    let mut w = SparseWriter::new(file);
    let mut hashers = Hashers::new(&spec);
    let limit = spec
        .decoded_length
        .map_or(spec.limit, |d| d.min(spec.limit));
    let (size, trailers) = match &spec.framing {
        Framing::Plain => (plain(reader, &mut w, &mut hashers, spec.limit)?, Vec::new()),
        Framing::AwsChunked { signer, trailer } => chunked(
            reader,
            &mut w,
            &mut hashers,
            limit,
            spec.limit,
            signer.as_ref(),
            *trailer,
        )?,
    };
    if let Some(want) = spec.decoded_length {
        if want != size {
            return Err(incomplete(format!(
                "decoded {size} bytes, x-amz-decoded-content-length says {want}"
            )));
        }
    }
    let file = w.finish()?;
    file.sync_all()?;
    Ok((size, hashers.finish(), trailers))
}

fn plain(
    mut r: impl BufRead,
    w: &mut impl Write,
    h: &mut Hashers,
    limit: u64,
) -> Result<u64, S3Error> {
    let mut size = 0u64;
    loop {
        let buf = r.fill_buf().map_err(incomplete)?;
        if buf.is_empty() {
            return Ok(size);
        }
        let n = buf.len();
        size += n as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        h.update(buf);
        w.write_all(buf)?;
        r.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::sigv4::{self, EMPTY_SHA256};
    use md5::{Digest as _, Md5};

    fn signer() -> ChunkSigner {
        let scope = "20130524/us-east-1/s3/aws4_request";
        ChunkSigner {
            key: sigv4::Scope::parse(scope)
                .unwrap()
                .key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            amz_date: "20130524T000000Z".into(),
            scope: scope.into(),
            seed: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        }
    }

    /// AWS's published 66560-byte example body (sigv4-streaming.html).
    fn example_body() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        b.extend_from_slice(&[b'a'; 65536]);
        b.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        b.extend_from_slice(&[b'a'; 1024]);
        b.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        b
    }

    fn spec(signer: Option<ChunkSigner>, trailer: bool, checksums: Vec<Algo>) -> BodySpec {
        BodySpec {
            framing: Framing::AwsChunked { signer, trailer },
            limit: 1 << 30,
            decoded_length: None,
            sha256: false,
            checksums,
        }
    }

    fn run(body: &[u8], spec: BodySpec, piece: usize) -> Result<(Vec<u8>, Decoded), S3Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let file = std::fs::File::create(&path).unwrap();
        let (tx, rx) = mpsc::channel(4);
        let chunks: Vec<Bytes> = body.chunks(piece).map(Bytes::copy_from_slice).collect();
        let feeder = std::thread::spawn(move || {
            for c in chunks {
                if tx.blocking_send(Ok(c)).is_err() {
                    break;
                }
            }
        });
        let r = decode_to_file(rx, file, spec);
        feeder.join().unwrap();
        r.map(|d| (std::fs::read(&path).unwrap(), d))
    }

    #[test]
    fn aws_streaming_example_decodes_and_verifies() {
        for piece in [1, 7, 4096, 1 << 20] {
            let (data, (size, d, _)) =
                run(&example_body(), spec(Some(signer()), false, vec![]), piece).unwrap();
            assert_eq!(size, 66560);
            assert_eq!(data, vec![b'a'; 66560]);
            assert_eq!(d.md5, <[u8; 16]>::from(Md5::digest(&data)));
        }
    }

    #[test]
    fn tampered_streaming_bodies_are_refused() {
        let good = example_body();
        // A changed data byte breaks the first chunk's signature.
        let mut b = good.clone();
        b[200] = b'b';
        let e = run(&b, spec(Some(signer()), false, vec![]), 4096)
            .err()
            .unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        // A changed signature.
        let s = String::from_utf8_lossy(&good).replace("0055627c", "0055627d");
        let e = run(s.as_bytes(), spec(Some(signer()), false, vec![]), 4096)
            .err()
            .unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        // A chunk dropped: the chain breaks at the final chunk.
        let mut b = good[..88 + 65536 + 2].to_vec();
        b.extend_from_slice(b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        let e = run(&b, spec(Some(signer()), false, vec![]), 4096)
            .err()
            .unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        // Truncated.
        let e = run(
            &good[..good.len() - 100],
            spec(Some(signer()), false, vec![]),
            4096,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, "IncompleteBody");
        // Unsigned chunks where signed ones are required.
        let e = run(
            b"3\r\nabc\r\n0\r\n\r\n",
            spec(Some(signer()), false, vec![]),
            3,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        // Garbage sizes, overlong lines, trailing junk.
        for bad in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"11111111111111111\r\n",
            b"3\r\nabcX\r\n0\r\n\r\n",
            b"0\r\n\r\nextra",
        ] {
            assert!(run(bad, spec(None, false, vec![]), 2).is_err());
        }
        let mut long = vec![b'1'; 5000];
        long.extend_from_slice(b"\r\n");
        assert!(run(&long, spec(None, false, vec![]), 100).is_err());
    }

    #[test]
    fn unsigned_trailer_checksums() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (data, (size, d, trailers)) =
            run(body, spec(None, true, vec![Algo::Crc32]), 5).unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(size, 11);
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
        );
        assert_eq!(d.checksum(Algo::Crc32).unwrap(), "DUoRhQ==");
        // Trailers are refused when none were announced.
        assert!(run(body, spec(None, false, vec![]), 5).is_err());
    }

    #[test]
    fn signed_trailer_is_verified() {
        let s = signer();
        let data = b"hello world";
        let c1 = sigv4::chunk_signature(
            &s.key,
            &s.amz_date,
            &s.scope,
            &s.seed,
            &sigv4::sha256_hex(data),
        );
        let c2 = sigv4::chunk_signature(&s.key, &s.amz_date, &s.scope, &c1, EMPTY_SHA256);
        let trailer = "x-amz-checksum-crc32:DUoRhQ==\n";
        let ts = sigv4::trailer_signature(&s.key, &s.amz_date, &s.scope, &c2, trailer);
        let body = format!(
            "b;chunk-signature={c1}\r\nhello world\r\n0;chunk-signature={c2}\r\nx-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:{ts}\r\n\r\n"
        );
        let (out, (_, _, trailers)) = run(
            body.as_bytes(),
            spec(Some(signer()), true, vec![Algo::Crc32]),
            9,
        )
        .unwrap();
        assert_eq!(out, data);
        assert_eq!(trailers.len(), 1);
        let forged = body.replace("DUoRhQ==", "AAAAAA==");
        let e = run(
            forged.as_bytes(),
            spec(Some(signer()), true, vec![Algo::Crc32]),
            9,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        let unsigned = body.replace(&format!("x-amz-trailer-signature:{ts}\r\n"), "");
        assert!(run(unsigned.as_bytes(), spec(Some(signer()), true, vec![]), 9).is_err());
    }

    #[test]
    fn plain_limits_and_checksums() {
        let mk = |limit| BodySpec {
            framing: Framing::Plain,
            limit,
            decoded_length: None,
            sha256: true,
            checksums: Algo::ALL.to_vec(),
        };
        let (_, (size, d, _)) = run(b"123456789", mk(100), 4).unwrap();
        assert_eq!(size, 9);
        // The standard check values of each algorithm over "123456789".
        assert_eq!(d.crc32, Some(0xcbf43926));
        assert_eq!(d.crc32c, Some(0xe3069283));
        assert_eq!(d.crc64nvme, Some(0xae8b14860a799888));
        assert_eq!(
            hex::encode(d.sha256.unwrap()),
            "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"
        );
        assert_eq!(
            hex::encode(d.sha1.unwrap()),
            "f7c3bc1d808e04732adf679965ccc34ca7ae3441"
        );
        assert_eq!(
            run(b"123456789", mk(8), 4).err().unwrap().code,
            "EntityTooLarge"
        );
    }
}
