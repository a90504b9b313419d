//! Secrets at rest: values sealed with XChaCha20-Poly1305 under the key in
//! `<data-dir>/encryption.key` (32 random bytes, base64, mode 0600).
//!
//! A sealed value reads `cw2:<key id>:<base64 nonce‖ciphertext>`. The key id (8 hex of
//! the key's SHA-256) says which key sealed it, so a rotation can be finished after a
//! crash and a running server picks up a key rotated under it. The AAD names where the
//! value lives, its column and its row (`providers.config:7`), so a sealed value moved
//! to another column or another row (two providers' configs swapped, a DVR's key copied
//! to another DVR) does not open.
//!
//! `cw1:` values (from before values were bound to their row) were sealed with the
//! column alone as AAD; they still open, and `Db::open` reseals them as `cw2:` once.
//! Backups use [`Key::seal`] with their own AAD and keep the `cw1:` form.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use parking_lot::RwLock;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub(crate) const KEY_FILE: &str = "encryption.key";
/// A rotation writes the new key here first and renames it over [`KEY_FILE`] last.
pub(crate) const PENDING_KEY_FILE: &str = "encryption.key.new";
/// The key a rotation replaced, kept until no stored value needs it.
pub(crate) const OLD_KEY_FILE: &str = "encryption.key.old";
/// Serialises rotations with every start (an advisory lock).
pub(crate) const LOCK_FILE: &str = "encryption.key.lock";
/// Sealed with the column alone as AAD (and the form of a backup's sealed secrets).
const PREFIX: &str = "cw1:";
/// Sealed with the column and the row as AAD (see [`row_aad`]).
const PREFIX_ROW: &str = "cw2:";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("encryption key {path} has mode {mode:o}; it must be readable by its owner only (chmod 600 {path})")]
    LooseMode { path: String, mode: u32 },
    #[error("encryption key {path}: {message}")]
    BadKey { path: String, message: String },
    #[error("cannot {action} encryption key {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("a stored secret was sealed with key {key_id}, which is not {path}; restore the key file that belongs to this database")]
    UnknownKey { key_id: String, path: String },
    #[error(
        "a stored secret does not open with the encryption key (damaged, or moved from elsewhere)"
    )]
    Damaged,
}

/// One key and its id.
#[derive(Clone)]
pub struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl Key {
    /// A key from its 32 bytes (a backup derives one from its passphrase).
    pub fn from_bytes(bytes: &[u8; 32]) -> Key {
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Key {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    fn generate() -> ([u8; 32], Key) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let key = Key::from_bytes(&bytes);
        (bytes, key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals in the `cw1:<id>:` form with `aad` as it is (a backup's sealed secrets).
    pub fn seal(&self, plain: &[u8], aad: &str) -> String {
        self.seal_as(PREFIX, plain, aad)
    }

    fn seal_as(&self, prefix: &str, plain: &[u8], aad: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{prefix}{}:{}", self.id, B64.encode(out))
    }

    /// Opens a text [`Key::seal`] made (with its `cw1:<id>:` prefix).
    pub fn open_sealed(&self, text: &str, aad: &str) -> Result<Vec<u8>, VaultError> {
        let body = text
            .strip_prefix(PREFIX)
            .and_then(|r| r.split_once(':'))
            .map(|(_, b)| b)
            .ok_or(VaultError::Damaged)?;
        self.open(body, aad)
    }

    fn open(&self, body: &str, aad: &str) -> Result<Vec<u8>, VaultError> {
        let raw = B64.decode(body).map_err(|_| VaultError::Damaged)?;
        if raw.len() < 24 {
            return Err(VaultError::Damaged);
        }
        let (nonce, ct) = raw.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| VaultError::Damaged)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Damaged)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// The AAD of a value bound to its row: the column, then the row's key.
fn row_aad(column: &str, row: &str) -> String {
    format!("{column}:{row}")
}

/// A sealed text without its prefix, and whether that prefix binds it to its row.
fn envelope(text: &str) -> Option<(&str, bool)> {
    match text.strip_prefix(PREFIX_ROW) {
        Some(rest) => Some((rest, true)),
        None => text.strip_prefix(PREFIX).map(|rest| (rest, false)),
    }
}

/// Whether a stored text is sealed, in either form (anything else is a plaintext value
/// from before encryption, sealed again on the next start).
pub(crate) fn is_sealed(text: &str) -> bool {
    envelope(text).is_some()
}

/// Whether a stored text is sealed bound to its row (`cw2:`); a `cw1:` value is sealed
/// for its column only and is resealed by the next start.
pub(crate) fn is_row_bound(text: &str) -> bool {
    text.starts_with(PREFIX_ROW)
}

/// The key id a sealed text names.
pub(crate) fn key_id_of(text: &str) -> Option<&str> {
    envelope(text)?.0.split(':').next()
}

/// The keys of a data directory: the current one, and the one a rotation replaced
/// (kept as `encryption.key.old` until no stored value needs it).
#[derive(Debug)]
struct Keys {
    current: Key,
    previous: Option<Key>,
    /// The key file's modification time when read: a changed file (a `doctor
    /// rotate-key` run while the server is up) is read again before the next seal.
    stamp: Option<Stamp>,
}

/// Seals with the data directory's current key and opens with the current or the
/// previous one.
#[derive(Debug)]
pub struct Vault {
    dir: PathBuf,
    keys: RwLock<Keys>,
    /// True when this start created the key file.
    pub created: bool,
}

/// What identifies one version of the key file: rotation replaces the file, so its
/// inode changes even within one timestamp tick.
type Stamp = (std::time::SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = m.len();
    Some((m.modified().ok()?, ino))
}

impl Vault {
    /// Loads `<data_dir>/encryption.key`, creating it (mode 0600) when missing, and
    /// `encryption.key.old` when a rotation left it.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<Vault, VaultError> {
        let path = data_dir.join(KEY_FILE);
        let (current, created) = match read_key(&path)? {
            Some(k) => (k, false),
            None => {
                let (bytes, key) = Key::generate();
                write_key(&path, &bytes)?;
                tracing::info!(path = %path.display(), "created a new encryption key for secrets at rest; back it up with the database");
                (key, true)
            }
        };
        Ok(Vault {
            dir: data_dir.to_path_buf(),
            keys: RwLock::new(Keys {
                current,
                previous: read_key(&data_dir.join(OLD_KEY_FILE))?,
                stamp: stamp(&path),
            }),
            created,
        })
    }

    pub fn key_id(&self) -> String {
        self.keys.read().current.id.clone()
    }

    /// The previous key's id, while `encryption.key.old` exists.
    pub(crate) fn previous_key_id(&self) -> Option<String> {
        self.keys.read().previous.as_ref().map(|k| k.id.clone())
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    /// Rereads the key files when the current one changed on disk.
    fn refresh(&self) -> Result<(), VaultError> {
        let path = self.path();
        let now = stamp(&path);
        if now == self.keys.read().stamp {
            return Ok(());
        }
        let Some(current) = read_key(&path)? else {
            return Ok(());
        };
        let previous = read_key(&self.dir.join(OLD_KEY_FILE))?;
        let mut k = self.keys.write();
        if k.current.id != current.id {
            tracing::info!(key_id = %current.id, "encryption key was rotated; using the new key");
        }
        *k = Keys {
            current,
            previous,
            stamp: now,
        };
        Ok(())
    }

    /// Seals `plain` under the current key, bound to where it is stored: `column` (e.g.
    /// `providers.config`) and `row`, the key of its row in that table.
    pub fn seal(&self, plain: &str, column: &str, row: &str) -> String {
        if let Err(e) = self.refresh() {
            tracing::warn!(error = %e, "cannot reread the encryption key; sealing with the key in memory");
        }
        Vault::seal_with(&self.keys.read().current, plain, column, row)
    }

    /// Opens a text sealed for `column` and `row`: a `cw2:` value only there, a `cw1:`
    /// value (column-only AAD, from before row binding) anywhere in its column. A
    /// plaintext (pre-encryption) value is answered as it is.
    pub fn open(&self, text: &str, column: &str, row: &str) -> Result<String, VaultError> {
        let Some((rest, bound)) = envelope(text) else {
            return Ok(text.to_string());
        };
        let aad = if bound {
            row_aad(column, row)
        } else {
            column.to_string()
        };
        let (id, body) = rest.split_once(':').ok_or(VaultError::Damaged)?;
        let find = |k: &Keys| {
            [Some(&k.current), k.previous.as_ref()]
                .into_iter()
                .flatten()
                .find(|x| x.id == id)
                .cloned()
        };
        // Its own statement: the read guard must be gone before `refresh` writes.
        let found = find(&self.keys.read());
        let key = match found {
            Some(k) => k,
            None => {
                self.refresh()?;
                find(&self.keys.read()).ok_or_else(|| VaultError::UnknownKey {
                    key_id: id.to_string(),
                    path: self.path().display().to_string(),
                })?
            }
        };
        let plain = key.open(body, &aad)?;
        String::from_utf8(plain).map_err(|_| VaultError::Damaged)
    }

    /// Swaps in the key a rotation installed; the replaced one stays readable.
    pub(crate) fn replace(&self, key: Key) {
        let mut k = self.keys.write();
        let old = std::mem::replace(&mut k.current, key);
        k.previous = Some(old);
        k.stamp = stamp(&self.dir.join(KEY_FILE));
    }

    /// Forgets the previous key (no stored value needs it any more).
    pub(crate) fn drop_previous(&self) {
        self.keys.write().previous = None;
    }

    /// [`Vault::seal`] with a given key (a rotation seals under the pending key).
    pub(crate) fn seal_with(key: &Key, plain: &str, column: &str, row: &str) -> String {
        key.seal_as(PREFIX_ROW, plain.as_bytes(), &row_aad(column, row))
    }
}

/// Creates a fresh key and writes it to `path` (mode 0600, replacing a leftover file).
pub(crate) fn new_key_file(path: &Path) -> Result<Key, VaultError> {
    let _ = std::fs::remove_file(path);
    let (bytes, key) = Key::generate();
    write_key(path, &bytes)?;
    Ok(key)
}

/// Reads a key file; `None` when it does not exist. A file that others may read is
/// refused rather than used.
pub(crate) fn read_key(path: &Path) -> Result<Option<Key>, VaultError> {
    let display = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(VaultError::Io {
                action: "read",
                path: display,
                source,
            })
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::LooseMode {
                path: display,
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|source| VaultError::Io {
        action: "read",
        path: display.clone(),
        source,
    })?;
    let bytes = B64.decode(text.trim()).map_err(|_| VaultError::BadKey {
        path: display.clone(),
        message: "not base64".into(),
    })?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| VaultError::BadKey {
        path: display,
        message: "must hold 32 bytes".into(),
    })?;
    Ok(Some(Key::from_bytes(&bytes)))
}

fn write_key(path: &Path, bytes: &[u8; 32]) -> Result<(), VaultError> {
    let io = |source| VaultError::Io {
        action: "write",
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
    let mut f = options.open(path).map_err(io)?;
    f.write_all(format!("{}\n", B64.encode(bytes)).as_bytes())
        .map_err(io)?;
    f.sync_all().map_err(io)?;
    // The new name too: a key whose file vanishes in a power cut loses every secret.
    if let Some(dir) = path.parent() {
        crate::private_files::sync_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_the_aad_it_was_sealed_for() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load_or_create(dir.path()).unwrap();
        let sealed = v.seal("hunter2", "providers.config", "1");
        assert!(is_sealed(&sealed) && is_row_bound(&sealed), "{sealed}");
        assert!(sealed.starts_with("cw2:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key_id_of(&sealed), Some(v.key_id().as_str()));
        assert_eq!(v.open(&sealed, "providers.config", "1").unwrap(), "hunter2");
        // Another column, or another row of the same column: not this value.
        assert!(matches!(
            v.open(&sealed, "settings.value", "1"),
            Err(VaultError::Damaged)
        ));
        assert!(matches!(
            v.open(&sealed, "providers.config", "2"),
            Err(VaultError::Damaged)
        ));
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, v.seal("hunter2", "providers.config", "1"));
        // Plaintext from before encryption reads as it is.
        assert_eq!(
            v.open("{\"a\":1}", "providers.config", "1").unwrap(),
            "{\"a\":1}"
        );
    }

    #[test]
    fn a_column_only_cw1_value_still_opens_and_the_forms_cannot_be_swapped() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load_or_create(dir.path()).unwrap();
        // What an earlier version stored: `cw1:`, AAD the column alone.
        let old = v.keys.read().current.seal(b"hunter2", "providers.config");
        assert!(old.starts_with("cw1:") && is_sealed(&old) && !is_row_bound(&old));
        assert_eq!(key_id_of(&old), Some(v.key_id().as_str()));
        assert_eq!(v.open(&old, "providers.config", "7").unwrap(), "hunter2");
        assert!(matches!(
            v.open(&old, "dvrs.api_key", "7"),
            Err(VaultError::Damaged)
        ));
        // Relabelling one form as the other changes the AAD it is opened with.
        let relabelled = format!("cw2:{}", old.strip_prefix("cw1:").unwrap());
        assert!(matches!(
            v.open(&relabelled, "providers.config", "7"),
            Err(VaultError::Damaged)
        ));
        let new = v.seal("hunter2", "providers.config", "7");
        let relabelled = format!("cw1:{}", new.strip_prefix("cw2:").unwrap());
        assert!(matches!(
            v.open(&relabelled, "providers.config", "7"),
            Err(VaultError::Damaged)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_0600_and_a_looser_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // The same key comes back on the next start.
        assert_eq!(
            Vault::load_or_create(dir.path()).unwrap().key_id(),
            v.key_id()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Vault::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("mode 644"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn a_value_of_another_key_names_the_problem() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let va = Vault::load_or_create(a.path()).unwrap();
        let vb = Vault::load_or_create(b.path()).unwrap();
        let sealed = va.seal("x", "t", "1");
        let err = vb.open(&sealed, "t", "1").unwrap_err().to_string();
        assert!(err.contains(&va.key_id()), "{err}");
    }

    #[test]
    fn a_key_rotated_on_disk_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let running = Vault::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let fresh = new_key_file(&path).unwrap();
        let sealed = Vault::seal_with(&fresh, "new", "t", "1");
        assert_eq!(running.open(&sealed, "t", "1").unwrap(), "new");
        assert_eq!(running.key_id(), fresh.id());
    }

    #[test]
    fn a_running_vault_seals_with_a_key_rotated_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let running = Vault::load_or_create(dir.path()).unwrap();
        let old_id = running.key_id();
        std::fs::rename(dir.path().join(KEY_FILE), dir.path().join(OLD_KEY_FILE)).unwrap();
        let fresh = new_key_file(&dir.path().join(KEY_FILE)).unwrap();
        // The next seal uses the new key without any value having named it.
        let sealed = running.seal("x", "t", "1");
        assert_eq!(key_id_of(&sealed), Some(fresh.id()));
        assert_eq!(running.previous_key_id(), Some(old_id));
    }

    /// A backup's `sealed_secrets.ciphertext` is outside input: any text is an error,
    /// never a panic, and nothing opens but what the key sealed for that AAD.
    mod sealed_text_fuzz {
        use base64::engine::general_purpose::STANDARD as B64;
        use base64::Engine as _;
        use proptest::prelude::*;

        use super::super::Key;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn any_sealed_text_is_an_error_not_a_panic(
                raw in prop::collection::vec(any::<u8>(), 0..128),
                id in "[0-9a-f:]{0,10}",
                text in "\\PC{0,80}",
            ) {
                let key = Key::from_bytes(&[7; 32]);
                let forged = format!("cw1:{id}:{}", B64.encode(raw));
                prop_assert!(key.open_sealed(&forged, "backup.providers").is_err());
                let _ = key.open_sealed(&text, "backup.providers");
                let _ = key.open_sealed(&format!("cw1:{text}"), "backup.providers");
            }

            #[test]
            fn sealed_text_opens_only_with_its_aad(
                plain in prop::collection::vec(any::<u8>(), 0..256),
            ) {
                let key = Key::from_bytes(&[9; 32]);
                let sealed = key.seal(&plain, "a");
                prop_assert!(key.open_sealed(&sealed, "b").is_err());
                prop_assert_eq!(key.open_sealed(&sealed, "a").ok(), Some(plain));
            }
        }
    }
}
