//! The terminal's ed25519 key: created on first start, kept owner-only (PROTOCOL.md §6).

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// An ed25519 public key (32 bytes), written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// Why a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("public key must be 64 hex digits")]
    Hex,
    #[error("not a valid ed25519 point")]
    Point,
    #[error("weak (small-order) ed25519 key refused")]
    Weak,
}

impl PublicKey {
    /// Accepts only valid, non-weak keys (PROTOCOL.md §4).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let vk = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::Point)?;
        if vk.is_weak() {
            return Err(KeyError::Weak);
        }
        Ok(PublicKey(vk))
    }

    pub fn from_hex(s: &str) -> Result<PublicKey, KeyError> {
        let bytes: [u8; 32] = hex::decode(s.trim())
            .map_err(|_| KeyError::Hex)?
            .try_into()
            .map_err(|_| KeyError::Hex)?;
        PublicKey::from_bytes(&bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }

    /// `verify_strict` of RFC 8032 Ed25519 over `message` (rejects non-canonical and
    /// small-order components).
    pub fn verify(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(sig);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The terminal's private signing key. The seed is zeroized on drop; `Debug` shows only the
/// public half.
pub struct TerminalKey(SigningKey);

impl TerminalKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> std::io::Result<TerminalKey> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(std::io::Error::other)?;
        Ok(TerminalKey::from_seed(&seed))
    }

    /// The key for a 32-byte RFC 8032 seed (test vectors use a fixed one).
    pub fn from_seed(seed: &[u8; 32]) -> TerminalKey {
        TerminalKey(SigningKey::from_bytes(seed))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// Reads a key file: 64 hex digits of the seed and a newline.
    pub fn load(path: &Path) -> std::io::Result<TerminalKey> {
        let text = Zeroizing::new(fs::read_to_string(path)?);
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), seed.as_mut()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: not a terminal key file (64 hex digits)",
                    path.display()
                ),
            )
        })?;
        Ok(TerminalKey::from_seed(&seed))
    }

    /// Writes the key file with mode 0600 (created exclusively, fsynced, directory 0700).
    pub fn save_new(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        let text = Zeroizing::new(format!("{}\n", hex::encode(self.0.to_bytes())));
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        sync_dir(path)?;
        Ok(())
    }
}

impl fmt::Debug for TerminalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TerminalKey(public {})", self.public())
    }
}

/// Creates `dir` (and parents) as 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// fsyncs the directory holding `path` so a create or rename survives power loss.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::File::open(dir)?.sync_all()
}

/// Where the next key waits during a rotation (`<key>.next`).
pub fn next_key_path(key_path: &Path) -> PathBuf {
    let mut s = key_path.as_os_str().to_owned();
    s.push(".next");
    PathBuf::from(s)
}
