//! The central assignment: which devices the collector wants this agent to probe.
//!
//! `GET {collector.url}/api/v1/assignment` (see [`crate::push`] for the whole contract) returns
//! the agent YAML's own sections as JSON: `{"agent": ID, "devices": [...], "snmp_credentials":
//! [...], "defaults": {...}}`, with an `ETag`; the agent sends it back in `If-None-Match` and
//! gets `304` while nothing changed. (The configuration types deserialize from JSON as they do
//! from YAML, `Spanned` values included, only without line numbers.)
//!
//! An assignment is validated merged with the local file before it is used: local devices,
//! credentials and per-class defaults are kept and win over assigned ones with the same id. A
//! valid assignment is kept in `spool.dir/assignment.json` (written atomically) together with its
//! ETag, so an agent that restarts while the collector is unreachable runs from the last one.

use crate::config::{
    validate_credentials, validate_devices, AgentConfig, DeviceConfig, SnmpCredentials, Timing,
};
use crate::push::{error_chain, CollectorClient};
use crate::spool::{write_atomically, SpoolError};
use driftvakt_common::config::{ConfigErrors, Validator};
use driftvakt_common::DeviceClass;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the stored assignment inside the spool folder.
pub const ASSIGNMENT_FILE: &str = "assignment.json";

/// The body of `GET /api/v1/assignment` (the collector serializes this same type).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    pub agent: String,
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    #[serde(default)]
    pub snmp_credentials: Vec<SnmpCredentials>,
    #[serde(default)]
    pub defaults: BTreeMap<DeviceClass, Timing>,
}

/// What is kept on disk: the body exactly as received, and its ETag.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    etag: Option<String>,
    body: serde_json::Value,
}

/// Fetching or using an assignment failed.
#[derive(Debug, thiserror::Error)]
pub enum AssignmentError {
    #[error("cannot reach the collector: {0}")]
    Http(String),
    #[error("the collector answered {0} to the assignment request")]
    Status(u16),
    #[error("the assignment is for agent `{got}`, this agent is `{expected}`")]
    WrongAgent { expected: String, got: String },
    #[error("invalid assignment: {0}")]
    Invalid(String),
    #[error("{0}")]
    Spool(#[from] SpoolError),
}

/// The result of one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 304, or the same body again.
    Unchanged,
    /// A new valid assignment, now stored and current.
    Changed,
}

/// Fetches, validates, stores and remembers the assignment of one agent.
pub struct AssignmentFetcher {
    client: CollectorClient,
    local: AgentConfig,
    path: PathBuf,
    etag: Option<String>,
    body: Option<serde_json::Value>,
    current: Option<Assignment>,
}

impl AssignmentFetcher {
    /// `local` is the agent's own file; the assignment is stored in `dir` (`spool.dir`).
    pub fn new(client: CollectorClient, local: AgentConfig, dir: &Path) -> AssignmentFetcher {
        AssignmentFetcher {
            client,
            local,
            path: dir.join(ASSIGNMENT_FILE),
            etag: None,
            body: None,
            current: None,
        }
    }

    /// Takes up the stored assignment, if there is a valid one; returns whether there was.
    pub fn load_stored(&mut self) -> Result<bool, AssignmentError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(SpoolError::Io {
                    path: self.path.clone(),
                    source,
                }
                .into())
            }
        };
        let stored: Stored = serde_json::from_slice(&bytes)
            .map_err(|e| AssignmentError::Invalid(format!("{}: {e}", self.path.display())))?;
        let assignment = self.check(&stored.body)?;
        self.etag = stored.etag;
        self.body = Some(stored.body);
        self.current = Some(assignment);
        Ok(true)
    }

    /// Asks the collector; a changed, valid assignment becomes current and is stored.
    pub async fn fetch(&mut self) -> Result<Fetched, AssignmentError> {
        let at = self.client.current_index();
        let mut request = self
            .client
            .request(reqwest::Method::GET, "/api/v1/assignment");
        if let (Some(etag), Some(_)) = (&self.etag, &self.current) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await.map_err(|e| {
            self.client.move_on(at, "assignment: no answer");
            AssignmentError::Http(error_chain(&e))
        })?;
        match response.status().as_u16() {
            304 if self.current.is_some() => return Ok(Fetched::Unchanged),
            200 => {}
            other => {
                if other >= 500 {
                    self.client.move_on(at, "assignment: server error");
                }
                return Err(AssignmentError::Status(other));
            }
        }
        let etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| AssignmentError::Invalid(error_chain(&e)))?;
        if self.body.as_ref() == Some(&body) {
            self.etag = etag;
            return Ok(Fetched::Unchanged);
        }
        let assignment = self.check(&body)?;
        let stored = Stored { etag, body };
        let json = serde_json::to_vec_pretty(&stored).map_err(SpoolError::from)?;
        write_atomically(&self.path, &json)?;
        self.etag = stored.etag;
        self.body = Some(stored.body);
        self.current = Some(assignment);
        Ok(Fetched::Changed)
    }

    /// Parses `body` and validates it merged with the local file.
    fn check(&self, body: &serde_json::Value) -> Result<Assignment, AssignmentError> {
        let assignment =
            Assignment::deserialize(body).map_err(|e| AssignmentError::Invalid(e.to_string()))?;
        if assignment.agent != self.local.file.agent.id {
            return Err(AssignmentError::WrongAgent {
                expected: self.local.file.agent.id.clone(),
                got: assignment.agent,
            });
        }
        validate(&merge(&self.local, Some(&assignment)))
            .map_err(|e| AssignmentError::Invalid(e.to_string()))?;
        Ok(assignment)
    }

    /// The current assignment, if any.
    pub fn current(&self) -> Option<&Assignment> {
        self.current.as_ref()
    }

    /// The ETag of the current assignment.
    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    /// The configuration to run: the local file merged with the current assignment.
    pub fn config(&self) -> AgentConfig {
        merge(&self.local, self.current())
    }
}

/// The local configuration plus the assigned devices, credentials and defaults; on equal ids or
/// classes the local ones win (assigned duplicates are logged and skipped).
pub fn merge(local: &AgentConfig, assignment: Option<&Assignment>) -> AgentConfig {
    let mut merged = local.clone();
    let Some(a) = assignment else {
        return merged;
    };
    let file = &mut merged.file;
    let device_ids: HashSet<String> = file.devices.iter().map(|d| d.id.value.clone()).collect();
    for d in &a.devices {
        if device_ids.contains(&d.id.value) {
            tracing::warn!(device = %d.id.value, "assigned device is also defined locally; the local one is used");
        } else {
            file.devices.push(Arc::new(d.clone()));
        }
    }
    let cred_ids: HashSet<String> = file
        .snmp_credentials
        .iter()
        .map(|c| c.id.value.clone())
        .collect();
    for c in &a.snmp_credentials {
        if !cred_ids.contains(&c.id.value) {
            file.snmp_credentials.push(c.clone());
        }
    }
    for (class, timing) in &a.defaults {
        file.defaults.entry(*class).or_insert(*timing);
    }
    merged
}

/// Validates devices and credentials of a merged configuration.
pub fn validate(config: &AgentConfig) -> Result<(), ConfigErrors> {
    let mut v = Validator::new(Path::new("collector assignment"), "");
    validate_devices(&mut v, &config.file.devices, &config.file.snmp_credentials);
    validate_credentials(&mut v, &config.file.snmp_credentials);
    v.finish()
}
