//! Accounts' SecretKeys at rest (issue 18 item 4): sealed in the database with
//! XChaCha20-Poly1305 (RustCrypto `chacha20poly1305`) under a master key that lives
//! outside the database — `IMGPORT_MASTER_KEY` (64 hex digits), else the key file
//! `secret_key_file`, else `<data_dir>.master.key` next to the data directory; a
//! missing key file is created 0600 with a fresh random key on first start.
//!
//! A sealed value is `enc1:` + base64(24-byte random nonce ‖ ciphertext ‖ tag), with
//! the account's SecretId as associated data (a sealed key copied to another row
//! does not open). Request signatures (TC3, SigV4, COS) need the plaintext key, so it
//! is opened on lookup. Servers sharing one PostgreSQL database must share the key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::{Path, PathBuf};

/// The prefix of a sealed value.
pub const SEALED_PREFIX: &str = "enc1:";
/// The environment variable holding the master key (64 hex digits).
pub const MASTER_KEY_ENV: &str = "IMGPORT_MASTER_KEY";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Why a master key could not be had or a sealed value not opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the master key {0}: expected 64 hex digits (32 bytes); make one with `head -c 32 /dev/urandom | xxd -p -c 64`")]
    BadKey(String),
    #[error("the master key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no place for the master key: the data directory {0} has no parent directory; set secret_key_file or IMGPORT_MASTER_KEY")]
    NoKeyPlace(PathBuf),
    #[error("a SecretKey in the database does not open with this master key (a different key file or IMGPORT_MASTER_KEY than the one it was sealed with, or a damaged value): use the master key the database was made with")]
    WrongKey,
    #[error("a SecretKey in the database is sealed but no master key was given")]
    NoKey,
    #[error("with an external object store every server of the database needs the same master key, and a key file made beside each server's data directory would differ per server: set IMGPORT_MASTER_KEY (64 hex digits, e.g. `openssl rand -hex 32`) or secret_key_file to the same key on every server (README, \"Run at scale\")")]
    SharedKeyNeeded,
}

/// The master key.
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Whether a stored SecretKey is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

impl MasterKey {
    pub fn from_bytes(key: &[u8; KEY_LEN]) -> MasterKey {
        MasterKey {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A key from 64 hex digits (surrounding white space ignored).
    pub fn from_hex(s: &str, what: &str) -> Result<MasterKey, SecretError> {
        let raw = hex::decode(s.trim()).map_err(|_| SecretError::BadKey(what.into()))?;
        let key: [u8; KEY_LEN] = raw
            .try_into()
            .map_err(|_| SecretError::BadKey(what.into()))?;
        Ok(MasterKey::from_bytes(&key))
    }

    /// Seal `plain`, the SecretKey of `secret_id`.
    pub fn seal(&self, secret_id: &str, plain: &str) -> String {
        use rand::RngCore;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: secret_id.as_bytes(),
        };
        // Encryption of a short message cannot fail (only lengths past 256 GiB do).
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}", crate::s3::body::b64(&out))
    }

    /// Open a sealed SecretKey of `secret_id`.
    pub fn open(&self, secret_id: &str, sealed: &str) -> Result<String, SecretError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(crate::s3::body::unb64)
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or(SecretError::WrongKey)?;
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: secret_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SecretError::WrongKey)
    }

    /// The master key of `config`: [`MASTER_KEY_ENV`], else the key file (created on
    /// first use).
    pub fn load(config: &crate::Config) -> Result<MasterKey, SecretError> {
        if let Ok(v) = std::env::var(MASTER_KEY_ENV) {
            return MasterKey::from_hex(&v, MASTER_KEY_ENV);
        }
        // Issue 13: servers that share nothing but the database and the store cannot
        // share a key file they each make.
        if config.object_store == crate::config::StoreKind::S3 && config.secret_key_file.is_none() {
            return Err(SecretError::SharedKeyNeeded);
        }
        let path = key_file_path(config)?;
        MasterKey::from_file(&path)
    }

    /// Read the key file `path`, creating it 0600 with a fresh key when missing (safe
    /// when several servers start at once: the first file made wins).
    pub fn from_file(path: &Path) -> Result<MasterKey, SecretError> {
        let file_err = |source| SecretError::KeyFile {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if crate::perms::make_private(path).map_err(file_err)? {
                    tracing::warn!(path = %path.display(), "the master key file was readable by others: made it 0600");
                }
                return MasterKey::from_hex(&text, &path.display().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_err(e)),
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.exists() {
            crate::perms::create_private_dir(dir).map_err(file_err)?;
        }
        let mut key = [0u8; KEY_LEN];
        {
            use rand::RngCore;
            rand::rngs::OsRng.fill_bytes(&mut key);
        }
        let tmp = dir.join(format!(
            ".{}.{}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            crate::db::random_id(12)
        ));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = crate::perms::create_private_file(&tmp)?;
            writeln!(f, "{}", hex::encode(key))?;
            f.sync_all()
        };
        let made = write().and_then(|()| std::fs::hard_link(&tmp, path));
        let _ = std::fs::remove_file(&tmp);
        match made {
            Ok(()) => {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
                tracing::info!(path = %path.display(), "created the master key that encrypts SecretKeys at rest: back it up, the accounts' keys cannot be read without it");
                Ok(MasterKey::from_bytes(&key))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(file_err)?;
                MasterKey::from_hex(&text, &path.display().to_string())
            }
            Err(e) => Err(file_err(e)),
        }
    }
}

/// Where the key file of `config` is: `secret_key_file`, else `<data_dir>.master.key`
/// beside the data directory.
pub fn key_file_path(config: &crate::Config) -> Result<PathBuf, SecretError> {
    if let Some(p) = &config.secret_key_file {
        return Ok(p.clone());
    }
    let abs = std::path::absolute(&config.data_dir)
        .map_err(|_| SecretError::NoKeyPlace(config.data_dir.clone()))?;
    let clean: PathBuf = abs
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    match (clean.parent(), clean.file_name()) {
        (Some(parent), Some(name)) if !clean.ends_with("..") && parent.as_os_str() != "" => {
            Ok(parent.join(format!("{}.master.key", name.to_string_lossy())))
        }
        _ => Err(SecretError::NoKeyPlace(config.data_dir.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sealed_keys_open_only_with_their_key_and_row() {
        let k = MasterKey::from_bytes(&[7; 32]);
        let s = k.seal("AKID1", "secret");
        assert!(is_sealed(&s) && !s.contains("secret"), "{s}");
        assert_ne!(s, k.seal("AKID1", "secret"), "nonces are random");
        assert_eq!(k.open("AKID1", &s).unwrap(), "secret");
        assert!(matches!(k.open("AKID2", &s), Err(SecretError::WrongKey)));
        let other = MasterKey::from_bytes(&[8; 32]);
        assert!(matches!(
            other.open("AKID1", &s),
            Err(SecretError::WrongKey)
        ));
        for bad in ["enc1:", "enc1:!!", "plain", "enc1:AAAA"] {
            assert!(k.open("AKID1", bad).is_err(), "{bad}");
        }
        assert!(MasterKey::from_hex("abcd", "x").is_err());
        assert!(MasterKey::from_hex(&"ab".repeat(32), "x").is_ok());
    }

    /// Issue 13: with an external store no server makes a key file of its own.
    #[test]
    fn scale_out_needs_a_shared_key() {
        if std::env::var(MASTER_KEY_ENV).is_ok() {
            return; // the environment decides; nothing to test here
        }
        let d = tempfile::tempdir().unwrap();
        let mut config = crate::Config {
            data_dir: d.path().join("data"),
            object_store: crate::config::StoreKind::S3,
            ..crate::Config::default()
        };
        let e = MasterKey::load(&config).unwrap_err();
        assert!(matches!(e, SecretError::SharedKeyNeeded), "{e}");
        assert!(e.to_string().contains("IMGPORT_MASTER_KEY"), "{e}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        config.secret_key_file = Some(d.path().join("shared.key"));
        assert!(MasterKey::load(&config).is_ok());
    }

    #[test]
    fn the_key_file_is_made_once_0600_beside_the_data_directory() {
        let d = tempfile::tempdir().unwrap();
        let config = crate::Config {
            data_dir: d.path().join("./data/"),
            ..crate::Config::default()
        };
        let path = key_file_path(&config).unwrap();
        assert_eq!(path, d.path().join("data.master.key"));
        let k1 = MasterKey::from_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = k1.seal("id", "v");
        // Read back, not made again; a loose mode is tightened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let k2 = MasterKey::from_file(&path).unwrap();
        assert_eq!(k2.open("id", &sealed).unwrap(), "v");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary files left"
        );
        let root = crate::Config {
            data_dir: "/".into(),
            ..crate::Config::default()
        };
        assert!(key_file_path(&root).is_err());
    }
}
