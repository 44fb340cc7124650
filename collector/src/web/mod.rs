//! The operator web's people (`/drift/`, `collector.web`): who they are and what they may do.
//! The pages themselves are in `http/drift.rs`; each of their actions calls the same service
//! the HTTP API's handler calls (`incidents/`, `windows/`, the notifier's acknowledgements).
//!
//! - [`accounts`]: `auth: local`, accounts in a YAML file with argon2id hashes (written by
//!   `driftvakt-collector user add|passwd|remove`, read at every login so a change needs no
//!   restart).
//! - [`sessions`]: sessions (random ids in a `Secure; HttpOnly; SameSite=Strict` cookie, kept in
//!   memory: a restart logs everybody out), CSRF tokens (an HMAC of the session under a key
//!   made at start), the login's rate limit per address and lockout per account. Time comes
//!   from the caller (the process's one clock).
//!
//! Roles ([`Role`]): an `operator` does everything, an `editor` posts updates and incident
//! texts only, a `viewer` reads.

pub mod accounts;
pub mod sessions;

pub use crate::inventory::web::{AuthKind, Role, RoleGroups, WebSettings};

/// Someone recognised: a local account or the proxy's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub role: Role,
}

/// What a person asks to do, by the role it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read, or end one's own session: anyone recognised.
    Read,
    /// Register or close an incident, windows, acknowledgements.
    Operate,
    /// Post an update (of an incident or a disturbance the probes found).
    Edit,
}

impl Person {
    /// Whether this person's role allows `action`.
    pub fn may(&self, action: Action) -> bool {
        match action {
            Action::Read => true,
            Action::Operate => self.role == Role::Operator,
            Action::Edit => self.role >= Role::Editor,
        }
    }
}

/// A valid user name: 1–64 letters, digits and `. _ @ -` (an AD `user@DOMAIN` too).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}
