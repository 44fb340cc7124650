//! `auth: local`: the accounts' file, one entry per person with a role and an argon2id hash
//! (PHC string, argon2's default parameters: 19 MiB, two passes). The file is written by
//! `driftvakt-collector user add|passwd|remove` (mode 0600, replaced atomically) and read at
//! every login.
//!
//! ```yaml
//! users:
//!   - { name: anna, role: operator, hash: "$argon2id$v=19$m=19456,t=2,p=1$..." }
//! ```

use super::{valid_name, Role};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Shortest password accepted by `user add` and `user passwd`.
pub const MIN_PASSWORD: usize = 12;

/// Why the accounts' file could not be read, written or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(#[from] driftvakt_common::config::ConfigError),
    #[error("{0}")]
    Invalid(String),
}

/// One account as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub hash: String,
}

/// The accounts' file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    #[serde(default)]
    pub users: Vec<Account>,
}

impl Accounts {
    /// Reads `path`; a file that does not exist yet has no accounts.
    pub fn load(path: &Path) -> Result<Accounts, AccountError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Accounts::default()),
            Err(source) => {
                return Err(AccountError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let accounts: Accounts = driftvakt_common::config::parse_yaml(&text, path)?;
        for a in &accounts.users {
            if !valid_name(&a.name) {
                return Err(AccountError::Invalid(format!(
                    "{}: `{}` is not a valid user name",
                    path.display(),
                    a.name
                )));
            }
        }
        Ok(accounts)
    }

    /// Writes the file (mode 0600) through a temporary file renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), AccountError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let failed = |source| AccountError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut text = String::from(
            "# Local accounts of Driftvakt's operator web: driftvakt-collector user add|passwd|remove.\nusers:\n",
        );
        for a in &self.users {
            text.push_str(&format!(
                "  - {{ name: \"{}\", role: {}, hash: \"{}\" }}\n",
                a.name,
                a.role.name(),
                a.hash
            ));
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(failed)?;
        f.write_all(text.as_bytes()).map_err(failed)?;
        f.sync_all().map_err(failed)?;
        std::fs::rename(&tmp, path).map_err(failed)
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.users.iter().position(|a| a.name == name)
    }

    /// Adds an account; refused when the name is taken or invalid, or the password short.
    pub fn add(&mut self, name: &str, role: Role, password: &str) -> Result<(), AccountError> {
        if !valid_name(name) {
            return Err(AccountError::Invalid(format!(
                "`{name}`: a user name has 1–64 letters, digits and . _ @ -"
            )));
        }
        if self.find(name).is_some() {
            return Err(AccountError::Invalid(format!("user {name} exists already")));
        }
        let hash = hash(password)?;
        self.users.push(Account {
            name: name.to_string(),
            role,
            hash,
        });
        Ok(())
    }

    /// Sets a new password (and, when given, a new role).
    pub fn passwd(
        &mut self,
        name: &str,
        password: &str,
        role: Option<Role>,
    ) -> Result<(), AccountError> {
        let i = self
            .find(name)
            .ok_or_else(|| AccountError::Invalid(format!("no user {name}")))?;
        self.users[i].hash = hash(password)?;
        if let Some(r) = role {
            self.users[i].role = r;
        }
        Ok(())
    }

    /// Removes an account.
    pub fn remove(&mut self, name: &str) -> Result<(), AccountError> {
        let i = self
            .find(name)
            .ok_or_else(|| AccountError::Invalid(format!("no user {name}")))?;
        self.users.remove(i);
        Ok(())
    }

    /// The role of `name` when `password` is right. An unknown name costs a hash all the same,
    /// so the answer's time does not tell which names exist.
    pub fn verify(&self, name: &str, password: &str) -> Option<Role> {
        let Some(a) = self.find(name).map(|i| &self.users[i]) else {
            let _ = hash(password);
            return None;
        };
        let parsed = PasswordHash::new(&a.hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .ok()
            .map(|()| a.role)
    }
}

/// The argon2id hash of `password` with a random salt (refused below [`MIN_PASSWORD`]).
pub fn hash(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AccountError::Invalid(format!(
            "a password has at least {MIN_PASSWORD} characters"
        )));
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| AccountError::Invalid(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Invalid(format!("hash: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.yaml");
        let mut a = Accounts::load(&path).unwrap();
        a.add("anna", Role::Operator, "ett långt lösenord").unwrap();
        assert!(a.add("anna", Role::Viewer, "ett långt lösenord").is_err());
        assert!(a.add("bo", Role::Viewer, "kort").is_err());
        a.save(&path).unwrap();
        let read = Accounts::load(&path).unwrap();
        assert!(read.users[0].hash.starts_with("$argon2id$"));
        assert_eq!(
            read.verify("anna", "ett långt lösenord"),
            Some(Role::Operator)
        );
        assert_eq!(read.verify("anna", "fel lösenord här"), None);
        assert_eq!(read.verify("okänd", "ett långt lösenord"), None);
    }
}
