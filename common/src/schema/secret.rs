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
    let text = std::fs::read_to_string(path).map_err(|e| cannot_read(what, path, &e))?;
    check_secret_file_mode(path, what)?;
    Ok(text)
}

/// "cannot read token file /etc/driftvakt/agents/a1.token: Permission denied (os error 13)",
/// and when it is a matter of permission, which user this process runs as and whose the file
/// must be.
pub fn cannot_read(what: &str, path: &Path, e: &std::io::Error) -> String {
    let mut m = format!("cannot read {what} {}: {e}", path.display());
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        m.push_str(&format!(
            " (this process runs as {}: the file must be readable by that user, e.g. owned by \
             it with mode 0600)",
            running_as()
        ));
    }
    m
}

/// Who this process runs as: `user driftvakt (uid 998)`, or `uid 998` when the user has no
/// name in `/etc/passwd`.
pub fn running_as() -> String {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let name = passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?;
            (id.parse::<u32>().ok()? == uid).then(|| name.to_string())
        });
        match name {
            Some(n) => format!("user {n} (uid {uid})"),
            None => format!("uid {uid}"),
        }
    }
    #[cfg(not(unix))]
    {
        "the current user".to_string()
    }
}

/// Refuses a secret file that group or others can read: its mode has `r` for group or others
/// and every folder above it lets them in (a file in a folder only its owner can enter, such as
/// `0700`, is not readable by anyone else). The message names the file, its mode and the fix.
pub fn check_secret_file_mode(path: &Path, what: &str) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| cannot_read(what, path, &e))?;
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

/// One role's secret (the operator token, an agent's token, a signing key), for
/// [`shared_secrets`].
#[derive(Debug, Clone)]
pub struct RoleSecret {
    /// Who uses it, for messages: "the operator token", "agent `a1`'s token".
    pub role: String,
    /// The file it is read from, as configured (joined to its base folder), if any.
    pub file: Option<PathBuf>,
    /// The environment variable it is read from, if any.
    pub env: Option<String>,
    /// Its value, when it resolves (one that does not is reported elsewhere).
    pub value: Option<Secret>,
}

impl RoleSecret {
    /// The role's secret from a reference: `base` is the folder relative files are in.
    pub fn from_ref(role: impl Into<String>, r: &SecretRef, base: &Path) -> RoleSecret {
        RoleSecret {
            role: role.into(),
            file: r.file.as_ref().map(|f| base.join(f)),
            env: r.env.clone(),
            value: r.resolve(base).ok(),
        }
    }
}

/// Why two roles share a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    /// Both resolve to the same value.
    Value,
    /// Both are read from the same file (whatever it holds, or if it cannot be read).
    File,
    /// Both are read from the same environment variable.
    Env,
}

/// Every role (by index in `roles`) whose secret an earlier role also has, with that earlier
/// role and why: each role's secret must be its own, or whoever holds one can act as the other
/// (an agent holding the operator token can silence every alarm). Values are compared without
/// surrounding white space; files by their canonical path.
pub fn shared_secrets(roles: &[RoleSecret]) -> Vec<(usize, usize, Shared)> {
    let canonical = |f: &PathBuf| f.canonicalize().unwrap_or_else(|_| f.clone());
    let files: Vec<Option<PathBuf>> = roles
        .iter()
        .map(|r| r.file.as_ref().map(canonical))
        .collect();
    let mut out = Vec::new();
    for (i, r) in roles.iter().enumerate() {
        let earlier = (0..i).find_map(|j| {
            let o = &roles[j];
            if files[i].is_some() && files[i] == files[j] {
                Some((j, Shared::File))
            } else if r.env.is_some() && r.env == o.env {
                Some((j, Shared::Env))
            } else {
                match (&r.value, &o.value) {
                    (Some(a), Some(b)) if a.expose().trim() == b.expose().trim() => {
                        Some((j, Shared::Value))
                    }
                    _ => None,
                }
            }
        });
        if let Some((j, why)) = earlier {
            out.push((i, j, why));
        }
    }
    out
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_shared_by_two_roles_is_found_by_value_file_or_variable() {
        let role =
            |name: &str, file: Option<&str>, env: Option<&str>, value: Option<&str>| RoleSecret {
                role: name.into(),
                file: file.map(PathBuf::from),
                env: env.map(String::from),
                value: value.map(Secret::new),
            };
        let roles = [
            role("operator", Some("/nonexistent/a1.token"), None, None),
            role("a1", Some("/nonexistent/a1.token"), None, None),
            role("a2", None, Some("T2"), Some("token-two-0123456789")),
            role("ack", None, None, Some("token-two-0123456789\n")),
            role("webhook", None, Some("T2"), None),
            role("a3", None, None, Some("token-three-0123456789")),
        ];
        assert_eq!(
            shared_secrets(&roles),
            [
                (1, 0, Shared::File),
                (3, 2, Shared::Value),
                (4, 2, Shared::Env)
            ]
        );
    }

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
