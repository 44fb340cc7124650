//! What `run` needs beyond a well-formed inventory, checked without starting anything (the
//! `check-config` command's second half): secrets resolve, the database's folder can be made,
//! report schedules fire.

use super::backup::BackupSite;
use super::database::Location as DbLocation;
use super::model::Inventory;
use chrono::{DateTime, Utc};
use driftvakt_common::config::{ConfigError, ConfigErrors, Validator};
use driftvakt_common::schema::secret::read_secret_file;
use driftvakt_common::schema::{CheckSpec, SnmpCredentials};
use std::path::Path;

impl Inventory {
    /// What `run` needs beyond a well-formed inventory, checked without starting anything: every
    /// secret reference resolves (operator token, SMTP password, SNMP credentials of embedded
    /// agents; files must not be readable by group or others), the database's folder exists or
    /// can be created (PostgreSQL: its `sslrootcert` holds certificates), the TLS certificate,
    /// key and client CA are usable (`collector.tls`, see [`super::tls`]; expiry within 30 days
    /// is a warning), and every report schedule fires in the five years after `now`. Errors
    /// name file, line, column and key like [`Inventory::load`]'s; the `Ok` value lists warnings
    /// (allowed but unwise settings).
    pub fn preflight(&self, now: DateTime<Utc>) -> Result<Vec<String>, ConfigErrors> {
        // The text only (for places): the inventory was parsed by `load`.
        let source = std::fs::read_to_string(&self.path).map_err(|e| ConfigError {
            file: self.path.clone(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read file: {e}"),
        })?;
        let mut v = Validator::new(&self.path, &source);
        let base = self.path.parent().unwrap_or(Path::new("."));
        if let Some(r) = &self.settings.operator_token {
            if let Err(e) = r.resolve(base) {
                v.error_at_key("collector.operator_token", e);
            }
        }
        if let Err(e) = database_folder_ok(&self.settings.database) {
            v.error_at_key("collector.database", e);
        }
        let mut warnings = Vec::new();
        if let Some(tls) = &self.settings.tls {
            match tls.resolved(base).check(now) {
                Ok(w) => warnings.extend(w),
                Err(errors) => {
                    for (key, e) in errors {
                        v.error_at_key(&key, e);
                    }
                }
            }
        }
        if let Some(n) = &self.notify {
            n.validate(&mut v, Some(now));
            if let Some(smtp) = n.smtp.as_ref().filter(|s| s.username.is_some()) {
                match (&smtp.password_env, &smtp.password_file) {
                    (Some(var), _) if std::env::var_os(var).is_none() => v.error_at_key(
                        "notify.smtp.password_env",
                        format!("environment variable {var} (the SMTP password) is not set"),
                    ),
                    (None, Some(file)) => {
                        if let Err(e) = read_secret_file(file, "SMTP password file") {
                            v.error_at_key("notify.smtp.password_file", e);
                        }
                    }
                    (None, None) => v.error_at_key(
                        "notify.smtp.username",
                        "a user name needs `password_env:` or `password_file:`",
                    ),
                    _ => {}
                }
            }
            warnings.extend(n.warnings());
        }
        warnings.extend(self.backup_power().iter().flat_map(BackupSite::warnings));
        for (cred, agent) in self.embedded_credentials() {
            let refs = [
                ("community", &cred.community),
                ("auth_password", &cred.auth_password),
                ("priv_password", &cred.priv_password),
            ];
            for (what, r) in refs {
                let Some(r) = r else { continue };
                let Err(e) = r.resolve(base) else { continue };
                let message = format!(
                    "snmp_credentials `{}` (used by embedded agent `{agent}`): {what}: {e}",
                    cred.id.value
                );
                let in_main = self.main_credentials.contains(&cred.id.value);
                if in_main {
                    v.error_at(&cred.id.referenced, message);
                } else {
                    v.error(message);
                }
            }
        }
        v.finish()?;
        Ok(warnings)
    }

    /// The SNMP credentials the embedded agents' devices use, each once, with an agent using it.
    fn embedded_credentials(&self) -> Vec<(&SnmpCredentials, &str)> {
        let mut out: Vec<(&SnmpCredentials, &str)> = Vec::new();
        for a in self.agents.iter().filter(|a| a.embedded) {
            for d in self.devices.iter().filter(|d| a.devices.contains(&d.id)) {
                for check in d.config.checks() {
                    let CheckSpec::Snmp(s) = check else { continue };
                    let cred = match &s.credentials {
                        Some(id) => self.snmp_credentials.iter().find(|c| &c.id.value == id),
                        None if self.snmp_credentials.len() == 1 => self.snmp_credentials.first(),
                        None => None,
                    };
                    if let Some(c) = cred {
                        if !out.iter().any(|(o, _)| o.id.value == c.id.value) {
                            out.push((c, &a.id));
                        }
                    }
                }
            }
        }
        out
    }
}

/// The database's folder exists or can be created (SQLite); the password file is readable by
/// its owner only (PostgreSQL).
fn database_folder_ok(db: &DbLocation) -> Result<(), String> {
    let db = match db {
        DbLocation::Sqlite(path) => path,
        DbLocation::Postgres(pg) => {
            if let Some(root) = &pg.tls.root_cert {
                super::tls::read_certificates(root).map_err(|e| format!("sslrootcert: {e}"))?;
            }
            return pg.password().map(|_| ());
        }
    };
    super::database::check_location(db)?;
    let folder = db.parent().unwrap_or(Path::new("."));
    driftvakt_common::config::folder_can_be_created(folder)
        .map_err(|e| format!("database {}: {e}", db.display()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{messages, Folder, BASIC};

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn unresolved_secrets_and_a_never_firing_schedule_are_errors() {
        let f = Folder::new();
        let inv = f
            .load(&format!(
                "collector:\n  operator_token: {{ env: DV_INVENTORY_UNIT_UNSET }}\n{BASIC}notify:\n  reports:\n    - {{ name: r, cron: '0 0 7 1 1 * 2020', period: previous_month }}\n"
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        let text = messages(&inv.preflight(now()).unwrap_err());
        assert!(text.contains("DV_INVENTORY_UNIT_UNSET"), "{text}");
        assert!(text.contains("collector.operator_token"), "{text}");
        assert!(text.contains("never fires in the next 5 years"), "{text}");
    }

    #[test]
    fn a_database_url_given_as_a_path_is_refused() {
        let f = Folder::new();
        let mut inv = f.load(BASIC).unwrap_or_else(|e| panic!("{e}"));
        inv.settings.database = super::DbLocation::Sqlite("mysql://x@h/db".into());
        let text = messages(&inv.preflight(now()).unwrap_err());
        assert!(
            text.contains("is a database URL, not a SQLite file path"),
            "{text}"
        );
    }

    #[test]
    fn warnings_name_a_node_without_enough_ups() {
        let f = Folder::new();
        let inv = f.load(BASIC).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(inv.preflight(now()).unwrap(), Vec::<String>::new());
        let short = BASIC.replace("interval: 30s,", "interval: 30s, min_runtime_minutes: 60,");
        let inv = f.load(&short).unwrap_or_else(|e| panic!("{e}"));
        let warnings = inv.preflight(now()).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("UPS `ups` is held to 60"),
            "{warnings:?}"
        );
    }
}
