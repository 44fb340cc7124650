//! No two roles share a secret: every role's secret (agents' tokens, the operator token, the
//! acknowledgement links' key, the channels' secrets, the SMTP and database passwords) with the
//! place it is configured, and the errors for any two that share a value, file or variable.

use super::model::Inventory;
use driftvakt_common::config::{locate_key, ConfigError};
use driftvakt_common::schema::secret::{shared_secrets, RoleSecret, Shared};
use driftvakt_common::schema::SecretRef;
use std::path::Path;

impl Inventory {
    /// Every role's secret (agents' tokens, the operator token, the acknowledgement links' key,
    /// the channels' secrets, the SMTP and database passwords) with the place it is configured.
    fn role_secrets(&self) -> Vec<(RoleSecret, ConfigError)> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        // Placed in the main file when an error is made ([`Inventory::shared_secrets`]).
        let main = |key: &str| ConfigError {
            file: self.path.clone(),
            line: 0,
            column: 0,
            key: Some(key.to_string()),
            message: String::new(),
        };
        let mut out = Vec::new();
        for a in &self.agents {
            let Some(t) = &a.token_source else { continue };
            let role = RoleSecret {
                role: format!("agent `{}`'s token", a.id),
                file: t.file.clone(),
                env: t.env.clone(),
                value: Some(a.token.clone()),
            };
            out.push((role, t.place.clone()));
        }
        let mut refs: Vec<(String, String, &SecretRef)> = Vec::new();
        if let Some(r) = &self.settings.operator_token {
            refs.push((
                "the operator token".into(),
                "collector.operator_token".into(),
                r,
            ));
        }
        if let Some(n) = &self.notify {
            if let Some(ack) = &n.ack {
                let key = "notify.ack.key".to_string();
                refs.push(("the acknowledgement links' key".into(), key, &ack.key));
            }
            for (name, c) in &n.channels {
                for (field, r) in c.secrets() {
                    let role = format!("channel `{name}`'s {field}");
                    refs.push((role, format!("notify.channels.{name}.{field}"), r));
                }
            }
        }
        for (role, key, r) in refs {
            out.push((RoleSecret::from_ref(role, r, base), main(&key)));
        }
        let smtp = self.notify.as_ref().and_then(|n| n.smtp.as_ref());
        if let Some(smtp) = smtp.filter(|s| s.username.is_some()) {
            let r = SecretRef {
                env: smtp.password_env.clone(),
                file: smtp.password_file.clone(),
            };
            let key = if r.env.is_some() {
                "notify.smtp.password_env"
            } else {
                "notify.smtp.password_file"
            };
            let role = RoleSecret::from_ref("the SMTP password", &r, Path::new(""));
            out.push((role, main(key)));
        }
        if let Some(f) = &self.settings.database_password_file {
            let r = SecretRef {
                env: None,
                file: Some(f.clone()),
            };
            let role = RoleSecret::from_ref("the database password", &r, base);
            out.push((role, main("collector.database_password_file")));
        }
        out
    }

    /// A secret two roles share, as errors at the later role's place naming both (never the
    /// value).
    pub(super) fn shared_secrets(&self, source: &str) -> Vec<ConfigError> {
        let roles = self.role_secrets();
        let place = |p: &ConfigError| {
            let mut p = p.clone();
            if let (0, Some(key)) = (p.line, &p.key) {
                (p.line, p.column) = locate_key(source, key).unwrap_or((0, 0));
            }
            p
        };
        let secrets: Vec<RoleSecret> = roles.iter().map(|(r, _)| r.clone()).collect();
        shared_secrets(&secrets)
            .into_iter()
            .map(|(i, j, why)| {
                let (this, this_place) = &roles[i];
                let (other, other_place) = &roles[j];
                let other_place = place(other_place);
                let how = match why {
                    Shared::Value => "has the same secret as".to_string(),
                    Shared::File => format!(
                        "is read from the same file ({}) as",
                        this.file.as_deref().unwrap_or(Path::new("")).display()
                    ),
                    Shared::Env => format!(
                        "is read from the same environment variable ({}) as",
                        this.env.as_deref().unwrap_or_default()
                    ),
                };
                let mut e = place(this_place);
                e.message = format!(
                    "{} {how} {} ({}:{}): every role needs a secret of its own, or whoever \
                     holds one can act as the other (an agent with the operator token could \
                     silence every alarm); make a new secret for one of them",
                    this.role,
                    other.role,
                    other_place.file.display(),
                    other_place.line
                );
                e
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{messages, Folder, BASIC};

    #[test]
    fn an_agents_token_used_as_the_operator_token_is_refused_naming_both() {
        let f = Folder::new();
        let err = f
            .load(&format!(
                "collector:\n  operator_token: {{ file: a1.token }}\n{BASIC}"
            ))
            .unwrap_err();
        let text = messages(&err);
        assert!(
            text.contains("the operator token is read from the same file")
                && text.contains("agent `a1`'s token"),
            "{text}"
        );
        assert!(text.contains("collector.operator_token"), "{text}");
        assert!(
            !text.contains("agent-one-token"),
            "the secret leaked: {text}"
        );
    }

    #[test]
    fn distinct_secrets_pass() {
        let f = Folder::new();
        f.secret("operator.token", "operator-token-0123456789");
        f.load(&format!(
            "collector:\n  operator_token: {{ file: operator.token }}\n{BASIC}"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
