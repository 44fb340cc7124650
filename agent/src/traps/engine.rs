//! The receiver's own SNMPv3 engine: informs are sent to it (it is authoritative for them),
//! so its id must stay and its boots count must rise at each start. Both are kept in one
//! small file (`trap-engine` in the spool folder: `<hex id> <boots>`); without a writable
//! folder they live in memory and boots starts at 1 again.

use async_snmp::{AuthoritativeEngine, PersistedAuthoritativeEngine};
use std::path::{Path, PathBuf};

/// net-snmp's enterprise number (8072) in an RFC 3411 engine id of the text format (4).
const PREFIX: [u8; 5] = [0x80, 0x00, 0x1f, 0x88, 0x04];

/// The default engine id: the prefix and the agent id (at most 32 bytes in all).
pub fn default_engine_id(agent: &str) -> Vec<u8> {
    let mut id = PREFIX.to_vec();
    id.extend(agent.bytes().take(32 - PREFIX.len()));
    if id.len() == PREFIX.len() {
        id.push(b'a');
    }
    id
}

#[derive(Debug, thiserror::Error)]
#[error("SNMPv3 engine for traps: {0}")]
pub struct EngineError(String);

impl EngineError {
    pub fn from_text(text: &str) -> EngineError {
        EngineError(text.to_string())
    }
}

/// The engine with `id`: restarted from `file` when it holds the same id, installed afresh
/// otherwise; every boots value is written to `file` before use.
pub fn open(id: Vec<u8>, file: Option<PathBuf>) -> Result<AuthoritativeEngine, EngineError> {
    let previous = file.as_deref().and_then(read).filter(|(i, _)| *i == id);
    let persist = move |state: &PersistedAuthoritativeEngine| -> Result<(), std::io::Error> {
        match &file {
            Some(f) => write(f, state.engine_id(), state.engine_boots()),
            None => Ok(()),
        }
    };
    let engine = match previous {
        Some((id, boots)) => {
            let prev = PersistedAuthoritativeEngine::new(id, boots)
                .map_err(|e| EngineError(e.to_string()))?;
            AuthoritativeEngine::restart(prev, persist)
        }
        None => AuthoritativeEngine::install(id, persist),
    };
    engine.map_err(|e| EngineError(e.to_string()))
}

fn read(file: &Path) -> Option<(Vec<u8>, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    let (hex, boots) = text.trim().split_once(' ')?;
    let id = crate::config::parse_engine_id(hex).ok()?;
    Some((id, boots.parse().ok()?))
}

fn write(file: &Path, id: &[u8], boots: u32) -> Result<(), std::io::Error> {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{hex} {boots}\n"))?;
    std::fs::rename(tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boots_rise_across_starts_and_a_new_id_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trap-engine");
        let id = default_engine_id("agent-1");
        assert_eq!(&id[5..], b"agent-1");
        let e = open(id.clone(), Some(file.clone())).unwrap();
        assert_eq!(e.engine_boots(), 1);
        let e = open(id.clone(), Some(file.clone())).unwrap();
        assert_eq!(e.engine_boots(), 2);
        assert_eq!(e.engine_id(), &id[..]);
        let other = default_engine_id("agent-2");
        assert_eq!(open(other, Some(file)).unwrap().engine_boots(), 1);
        assert_eq!(default_engine_id(&"x".repeat(80)).len(), 32);
    }
}
