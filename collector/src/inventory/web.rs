//! `collector.web:`: the operator web under `/drift/` (login, roles, sessions). Without the
//! section the pages are off (every `/drift/` route answers 404) and everything works as before.
//!
//! ```yaml
//! collector:
//!   web:
//!     auth: local                 # or trusted_proxy
//!     users_file: users.yaml      # local: `driftvakt-collector user add` writes it
//!     # trusted_proxy: the user name from a header the proxy sets, only from these addresses
//!     proxies: [127.0.0.1]
//!     user_header: X-Remote-User
//!     groups_header: X-Remote-Groups
//!     groups: { operator: [servicedesk], editor: [intranat], viewer: [it] }
//!     session: 8h                 # 5m..7d
//!     lockout_after: 5            # failed logins in a row (local)
//!     lockout_for: 15m            # 1m..1d
//! ```

use driftvakt_common::config::{Bounds, Duration};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

/// How people are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// Accounts in `users_file` with argon2id hashes; the login form.
    Local,
    /// A user name from `user_header`, set by the reverse proxy in front, accepted only from
    /// `proxies`.
    TrustedProxy,
}

/// What a person may do: an `operator` everything, an `editor` updates and incident texts
/// only, a `viewer` read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Operator,
}

impl Role {
    /// The name as written in the files (`operator`, `editor`, `viewer`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Operator => "operator",
        }
    }

    /// The Swedish name shown on the pages.
    pub fn swedish(self) -> &'static str {
        match self {
            Role::Viewer => "läsare",
            Role::Editor => "redaktör",
            Role::Operator => "operatör",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "operator" => Ok(Role::Operator),
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            _ => Err(format!(
                "unknown role `{s}`: write operator, editor or viewer"
            )),
        }
    }
}

/// `collector.web.groups`: the proxy's group names that give each role (the highest wins).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGroups {
    #[serde(default)]
    pub operator: Vec<String>,
    #[serde(default)]
    pub editor: Vec<String>,
    #[serde(default)]
    pub viewer: Vec<String>,
}

impl RoleGroups {
    /// The highest role any of `groups` gives.
    pub fn role_of<'a>(&self, groups: impl IntoIterator<Item = &'a str>) -> Option<Role> {
        groups
            .into_iter()
            .filter_map(|g| {
                let has = |list: &Vec<String>| list.iter().any(|x| x == g);
                if has(&self.operator) {
                    Some(Role::Operator)
                } else if has(&self.editor) {
                    Some(Role::Editor)
                } else if has(&self.viewer) {
                    Some(Role::Viewer)
                } else {
                    None
                }
            })
            .max()
    }
}

/// `collector.web`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub auth: AuthKind,
    /// `local`: the accounts' file, relative to the inventory's folder.
    #[serde(default)]
    pub users_file: Option<PathBuf>,
    /// `trusted_proxy`: the addresses the proxy connects from.
    #[serde(default)]
    pub proxies: Vec<IpAddr>,
    #[serde(default = "default_user_header")]
    pub user_header: String,
    #[serde(default = "default_groups_header")]
    pub groups_header: String,
    #[serde(default)]
    pub groups: RoleGroups,
    /// How long a session lasts without use. 5m..7d, default 8h.
    #[serde(default = "default_session", deserialize_with = "session_duration")]
    pub session: Duration,
    /// Failed logins in a row that lock an account (local). 1..100, default 5.
    #[serde(default = "default_lockout_after")]
    pub lockout_after: u32,
    /// How long a locked account stays locked. 1m..1d, default 15m.
    #[serde(default = "default_lockout_for", deserialize_with = "lockout_duration")]
    pub lockout_for: Duration,
}

impl WebSettings {
    /// What the loader checks beyond the types: `(key, message)` for each problem.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match self.auth {
            AuthKind::Local if self.users_file.is_none() => out.push((
                "collector.web.users_file",
                "`auth: local` needs `users_file:` (written by `driftvakt-collector user add`)"
                    .to_string(),
            )),
            AuthKind::TrustedProxy if self.proxies.is_empty() => out.push((
                "collector.web.proxies",
                "`auth: trusted_proxy` needs `proxies:`, the addresses the reverse proxy connects from"
                    .to_string(),
            )),
            _ => {}
        }
        for (key, name) in [
            ("collector.web.user_header", &self.user_header),
            ("collector.web.groups_header", &self.groups_header),
        ] {
            let fine = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !fine {
                out.push((key, format!("`{name}` is not a header name")));
            }
        }
        if !(1..=100).contains(&self.lockout_after) {
            out.push((
                "collector.web.lockout_after",
                "collector.web.lockout_after must be between 1 and 100".to_string(),
            ));
        }
        out
    }
}

fn default_user_header() -> String {
    "X-Remote-User".into()
}

fn default_groups_header() -> String {
    "X-Remote-Groups".into()
}

fn default_session() -> Duration {
    Duration::from_secs(8 * 3600)
}

fn default_lockout_after() -> u32 {
    5
}

fn default_lockout_for() -> Duration {
    Duration::from_secs(15 * 60)
}

fn session_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = Duration::deserialize(d)?;
    Bounds::new(300_000, 7 * 86_400_000)
        .check(v)
        .map_err(serde::de::Error::custom)
}

fn lockout_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let v = Duration::deserialize(d)?;
    Bounds::new(60_000, 86_400_000)
        .check(v)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_group_role_wins() {
        let g = RoleGroups {
            operator: vec!["drift".into()],
            editor: vec!["intranat".into()],
            viewer: vec!["it".into()],
        };
        assert_eq!(g.role_of(["it", "intranat"]), Some(Role::Editor));
        assert_eq!(g.role_of(["drift", "it"]), Some(Role::Operator));
        assert_eq!(g.role_of(["okand"]), None);
    }
}
