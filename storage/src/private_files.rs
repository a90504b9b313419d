//! Owner-only files: the data dir is 0700 and the database, its WAL and logs are 0600
//! whatever the umask (the database holds password hashes and sealed secrets; logs may
//! name DVRs and users). A dir the process does not own (a volume mounted with a
//! group, say) is left as it is, with a warning: refusing to start would help no one.

use std::path::Path;

/// Makes `dir` owner-only (0700).
pub fn private_dir(dir: &Path) {
    set_mode(dir, 0o700);
}

/// Makes an existing file owner-only (0600); a missing one is not an error.
pub(crate) fn private_file(path: &Path) {
    if path.exists() {
        set_mode(path, 0o600);
    }
}

/// Creates `path` empty and owner-only if it does not exist, so whatever opens it
/// next (SQLite, which gives its WAL and shared-memory files the database's mode)
/// inherits 0600.
pub(crate) fn create_private(path: &Path) {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    if let Err(e) = options.open(path) {
        tracing::debug!(path = %path.display(), error = %e, "cannot create the file ahead of its writer");
    }
    private_file(path);
}

/// Makes every file directly in `dir` owner-only (rotated logs).
pub fn private_files_in(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                private_file(&e.path());
            }
        }
    }
}

/// Syncs a directory, so names just written or renamed in it survive a power cut.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let current = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(_) => return,
    };
    if current == mode {
        return;
    }
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), error = %e, "cannot make this owner-only; check who owns it");
    }
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_dirs_become_owner_only_whatever_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("data");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&d);
        assert_eq!(mode(&d), 0o700);
        let f = d.join("a.log");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        private_files_in(&d);
        assert_eq!(mode(&f), 0o600);
        let db = d.join("x.db");
        create_private(&db);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::read(&db).unwrap(), b"", "created empty");
        std::fs::write(&db, "keep").unwrap();
        create_private(&db);
        assert_eq!(std::fs::read(&db).unwrap(), b"keep", "never truncated");
    }
}
