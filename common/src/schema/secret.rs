//! Secrets: the configuration only says where one is (`{ env: NAME }` or `{ file: PATH }`); the
//! value is read at run time and never printed.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret is: `{ env: NAME }` or `{ file: PATH }`. Literal secrets are not accepted.
/// It serializes as the reference (never a value: [`Secret`] has no `Serialize`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRefMap {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{ env: NAME } or { file: PATH }")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(
                    "secrets are not written in the config: use { env: VARIABLE } or { file: PATH }",
                ))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                let m =
                    SecretRefMap::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(SecretRef {
                    env: m.env,
                    file: m.file,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A secret value; its Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl SecretRef {
    /// Reads the secret; the error names where it looked, never the value.
    pub fn resolve(&self, base: &Path) -> Result<Secret, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var)
                .map(Secret)
                .map_err(|_| format!("environment variable {var} is not set")),
            (None, Some(file)) => {
                let path = if file.is_absolute() {
                    file.clone()
                } else {
                    base.join(file)
                };
                read_secret_file(&path, "secret file")
                    .map(|s| Secret(s.trim_end_matches(['\n', '\r']).to_string()))
            }
            _ => Err("give exactly one of `env:` or `file:`".to_string()),
        }
    }
}

/// Reads a file holding a secret (`what` names it in errors: "token file", "secret file"). A
/// file that group or others can read is refused ([`check_secret_file_mode`]).
pub fn read_secret_file(path: &Path, what: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    check_secret_file_mode(path, what)?;
    Ok(text)
}

/// Refuses a secret file that group or others can read: its mode has `r` for group or others
/// and every folder above it lets them in (a file in a folder only its owner can enter, such as
/// `0700`, is not readable by anyone else). The message names the file, its mode and the fix.
pub fn check_secret_file_mode(path: &Path, what: &str) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o044 == 0 {
            return Ok(());
        }
        let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let enclosed = full.ancestors().skip(1).any(|dir| {
            std::fs::metadata(dir)
                .map(|m| m.permissions().mode() & 0o011 == 0)
                .unwrap_or(false)
        });
        if !enclosed {
            return Err(format!(
                "{what} {} has mode {mode:04o}: group and others can read it; run `chmod 600 {}`",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_files_readable_by_others_are_refused() {
        let dir = tempfile_dir();
        let open_dir = dir.join("open");
        std::fs::create_dir(&open_dir).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = open_dir.join("t.token");
        std::fs::write(&file, "secret-value-0123456789\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = SecretRef {
            env: None,
            file: Some(file.clone()),
        };
        let err = r.resolve(Path::new("/")).unwrap_err();
        assert!(err.contains("has mode 0644"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        assert!(err.contains(&file.display().to_string()), "{err}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            r.resolve(Path::new("/")).unwrap().expose(),
            "secret-value-0123456789"
        );
        // In a folder only the owner can enter, 0644 is not readable by others.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(r.resolve(Path::new("/")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "driftvakt-secret-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
