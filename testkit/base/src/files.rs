//! Secret files as the binaries accept them: readable by the owner only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `text` to `path`, readable by the owner only (secret files are refused otherwise).
pub fn owner_only(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Writes the secret `value` to `dir/name`, owner-only; returns the path as text.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    let path = dir.join(name);
    owner_only(&path, value);
    path.display().to_string()
}
