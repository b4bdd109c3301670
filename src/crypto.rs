//! Secrets and encryption at rest: the `Secret` type that cannot be logged, the master key,
//! and sealing with AES-256-GCM bound to the owning row. Only `store` seals and opens.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token, key or password. Shows as `[redacted]`. Not Clone, Serialize or PartialEq.
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a credential as soon as it is parsed.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }

    /// The only way to read the value. Grep `.expose()` to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison, for webhook secrets and OAuth `state`.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// Whether the value is empty (an empty refresh token must never replace a stored one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// An HMAC-SHA256 keyed with `key`: media link signatures, derived keys, Meta's
/// `appsecret_proof`.
pub fn hmac_sha256(key: &[u8]) -> hmac::Hmac<Sha256> {
    // HMAC accepts keys of any length (longer ones are hashed), so this cannot fail.
    <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

/// A fresh random 256-bit value as URL-safe text: OAuth states, PKCE verifiers.
pub fn random_token() -> Secret {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Short public fingerprint of a master key, stored with every ciphertext so that a
/// ciphertext names the key that sealed it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The 32-byte key that seals every stored secret. Debug shows only its id. Clone is
/// needed while rotating (the old key opens, the new one seals).
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    id: KeyId,
}

impl MasterKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; 32]) -> Self {
        // Domain-separated so the id reveals nothing usable about the key itself.
        let digest = Sha256::new()
            .chain_update(b"autopost master key id v1\0")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// Decodes standard base64 of exactly 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let decoded = BASE64
            .decode(text.trim())
            .map_err(|_| CryptoError::MalformedKey {
                problem: "is not valid base64".to_owned(),
            })?;
        let bytes: [u8; 32] =
            decoded
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::MalformedKey {
                    problem: format!(
                        "decodes to {} bytes; a master key is 32 bytes (make one with `openssl rand -base64 32`)",
                        decoded.len()
                    ),
                })?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as base64, for writing the key file.
    pub fn to_base64(&self) -> Secret {
        Secret::new(BASE64.encode(self.bytes))
    }

    /// A key for another purpose (signing media links), derived so that it reveals nothing
    /// about the master key: HMAC-SHA256(master, "autopost subkey v1" ‖ purpose).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = hmac_sha256(&self.bytes);
        mac.update(b"autopost subkey v1\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key's public fingerprint.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Reads the key file at `path`, creating it with a new key (mode 0600) if absent.
    /// Refuses a file that others can read: a leaked key opens every stored token.
    pub fn load_or_create(path: &Path) -> Result<(Self, KeyFileOutcome), CryptoError> {
        match Self::load(path) {
            Ok(key) => Ok((key, KeyFileOutcome::Existing)),
            Err(CryptoError::KeyFile { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let key = Self::generate();
                key.write_new_file(path)?;
                Ok((key, KeyFileOutcome::Created))
            }
            Err(other) => Err(other),
        }
    }

    /// Reads the key file at `path`, which must exist. Refuses a file that others can read.
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        check_private(path)?;
        Self::from_base64(&text).map_err(|e| match e {
            CryptoError::MalformedKey { problem } => CryptoError::BadKeyFile {
                path: path.display().to_string(),
                problem,
            },
            other => other,
        })
    }

    /// Writes this key to a file that must not exist yet, readable by its owner only.
    pub fn write_new_file(&self, path: &Path) -> Result<(), CryptoError> {
        let io_error = |source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io_error)?;
        file.write_all(self.to_base64().expose().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(io_error)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// What [`MasterKey::load_or_create`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileOutcome {
    /// The file was there and was read.
    Existing,
    /// There was no file; a new key was written.
    Created,
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(CryptoError::KeyFileExposed {
            path: path.display().to_string(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), CryptoError> {
    Ok(())
}

/// The identity of the row and column a ciphertext belongs to. Used as associated data,
/// so a ciphertext copied into another row or column fails to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad(String);

impl Aad {
    /// The secret in `column` of row `row_id` of `table`.
    pub fn new(table: &str, row_id: i64, column: &str) -> Self {
        Self(format!("autopost/v1/{table}/{row_id}/{column}"))
    }
}

/// Format byte of a sealed value, so the layout can change without guessing.
const SEALED_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + 8 + NONCE_LEN;

/// Seals with the current key and opens with any key it holds (the current one, plus the
/// previous one while a rotation is running).
pub struct Sealer {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.id)
            .field("previous", &self.previous.as_ref().map(|k| k.id))
            .finish()
    }
}

impl Sealer {
    /// A sealer that uses `key` for everything.
    pub fn new(key: MasterKey) -> Self {
        Self {
            current: key,
            previous: None,
        }
    }

    /// A sealer that seals with `new` and still opens what `old` sealed: the state of a rotation.
    pub fn rotating(old: MasterKey, new: MasterKey) -> Self {
        Self {
            current: new,
            previous: Some(old),
        }
    }

    /// The key new ciphertexts are sealed with.
    pub fn current_key_id(&self) -> KeyId {
        self.current.id
    }

    /// Encrypts `plain` for the row named by `aad`: version, key id, fresh nonce, ciphertext.
    pub fn seal(&self, plain: &Secret, aad: &Aad) -> Vec<u8> {
        self.seal_bytes(plain.expose().as_bytes(), aad)
    }

    fn seal_bytes(&self, plain: &[u8], aad: &Aad) -> Vec<u8> {
        let cipher = Aes256Gcm::new(&self.current.bytes.into());
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        // AES-GCM encryption fails only for inputs over 64 GiB; tokens are a few hundred bytes.
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.0.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&self.current.id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value sealed for the row named by `aad`.
    pub fn open(&self, sealed: &[u8], aad: &Aad) -> Result<Secret, CryptoError> {
        let plain = self.open_bytes(sealed, aad)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| CryptoError::Tampered)
    }

    fn open_bytes(&self, sealed: &[u8], aad: &Aad) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < HEADER_LEN + 16 || sealed[0] != SEALED_V1 {
            return Err(CryptoError::Tampered);
        }
        let key_id = sealed_key_id(sealed).ok_or(CryptoError::Tampered)?;
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or(CryptoError::UnknownKey { key_id })?;
        let cipher = Aes256Gcm::new(&key.bytes.into());
        cipher
            .decrypt(
                Nonce::from_slice(&sealed[9..HEADER_LEN]),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: aad.0.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }
}

/// The id of the key that sealed `sealed`, if it has a valid header.
pub fn sealed_key_id(sealed: &[u8]) -> Option<KeyId> {
    let id: [u8; 8] = sealed.get(1..9)?.try_into().ok()?;
    Some(KeyId(id))
}

/// Why a key or a sealed value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key text is not a base64 32-byte key.
    #[error("{problem}")]
    MalformedKey {
        /// What is wrong with it.
        problem: String,
    },
    /// The key file holds no valid key.
    #[error("master key file {path} {problem}")]
    BadKeyFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The key file could not be read or written.
    #[error("cannot use master key file {path}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Others may read the key file.
    #[error(
        "master key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    KeyFileExposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The value was sealed under a key this process does not have.
    #[error("the value was sealed with master key {key_id}, which is not loaded")]
    UnknownKey {
        /// The sealing key's id.
        key_id: KeyId,
    },
    /// Authentication failed: a different row, a corrupted value, or a wrong key.
    #[error("the sealed value does not authenticate (wrong row, wrong key or corrupted)")]
    Tampered,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_its_value() {
        let secret = Secret::new("tok-123");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert!(secret.matches("tok-123"));
        assert!(!secret.matches("tok-124"));
        assert!(!secret.matches("tok-12"));
    }

    #[test]
    fn sealing_round_trips_with_a_fresh_nonce_each_time() {
        let sealer = Sealer::new(MasterKey::generate());
        let aad = Aad::new("grants", 7, "access_token");
        let a = sealer.seal(&Secret::new("hello"), &aad);
        let b = sealer.seal(&Secret::new("hello"), &aad);
        assert_ne!(a, b, "nonces must differ");
        assert_eq!(sealer.open(&a, &aad).unwrap().expose(), "hello");
        assert_eq!(sealed_key_id(&a), Some(sealer.current_key_id()));
    }

    #[test]
    fn a_ciphertext_does_not_open_for_another_row_or_column() {
        let sealer = Sealer::new(MasterKey::generate());
        let sealed = sealer.seal(&Secret::new("v"), &Aad::new("grants", 1, "access_token"));
        for other in [
            Aad::new("grants", 2, "access_token"),
            Aad::new("grants", 1, "refresh_token"),
            Aad::new("accounts", 1, "access_token"),
        ] {
            assert!(matches!(
                sealer.open(&sealed, &other),
                Err(CryptoError::Tampered)
            ));
        }
    }

    #[test]
    fn a_different_key_or_a_flipped_bit_fails_cleanly() {
        let aad = Aad::new("t", 1, "c");
        let sealed = Sealer::new(MasterKey::generate()).seal(&Secret::new("v"), &aad);
        let other = Sealer::new(MasterKey::generate());
        assert!(matches!(
            other.open(&sealed, &aad),
            Err(CryptoError::UnknownKey { .. })
        ));
        let sealer = Sealer::new(MasterKey::generate());
        let mut sealed = sealer.seal(&Secret::new("v"), &aad);
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(
            sealer.open(&sealed, &aad),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(
            sealer.open(&[1, 2, 3], &aad),
            Err(CryptoError::Tampered)
        ));
    }

    #[test]
    fn a_rotating_sealer_opens_old_values_and_seals_with_the_new_key() {
        let old = MasterKey::generate();
        let old_id = old.id();
        let aad = Aad::new("t", 1, "c");
        let sealed_old = Sealer::new(MasterKey::from_base64(old.to_base64().expose()).unwrap())
            .seal(&Secret::new("v"), &aad);
        let new = MasterKey::generate();
        let new_id = new.id();
        let rotating = Sealer::rotating(old, new);
        assert_eq!(rotating.open(&sealed_old, &aad).unwrap().expose(), "v");
        let resealed = rotating.seal(&Secret::new("v"), &aad);
        assert_eq!(sealed_key_id(&resealed), Some(new_id));
        assert_ne!(old_id, new_id);
    }

    #[test]
    fn keys_decode_only_from_32_bytes_of_base64() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&format!(" {}\n", key.to_base64().expose())).unwrap();
        assert_eq!(key.id(), again.id());
        assert!(MasterKey::from_base64("not base64!").is_err());
        let short = MasterKey::from_base64("AAAA").unwrap_err().to_string();
        assert!(short.contains("3 bytes"), "{short}");
        assert!(!format!("{key:?}").contains(key.to_base64().expose()));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_private_and_refused_when_others_can_read_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (key, outcome) = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(outcome, KeyFileOutcome::Created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, outcome) = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(outcome, KeyFileOutcome::Existing);
        assert_eq!(key.id(), again.id());

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let message = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(
            message.contains("readable by other users (mode 644)"),
            "{message}"
        );
        assert!(message.contains("chmod 600"), "{message}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "garbage").unwrap();
        let message = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(message.contains("is not valid base64"), "{message}");
    }
}
