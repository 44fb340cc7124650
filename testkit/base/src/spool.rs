//! The agent's spool read raw, as a test checks what the agent kept.

use driftvakt_common::wire::ProbeResult;
use std::path::{Path, PathBuf};

/// Every record of every segment file in a spool folder, read raw (the agent's format:
/// `len u32 LE | crc32 u32 LE | seq u64 LE | JSON`), in file order; a torn tail ends a file.
pub fn spool_records(dir: &Path) -> Vec<(u64, ProbeResult)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            let seq = u64::from_le_bytes(payload[..8].try_into().unwrap());
            out.push((seq, serde_json::from_slice(&payload[8..]).unwrap()));
            at += 8 + len;
        }
    }
    out
}

/// Distinct (target, check, time in ms) of `results`.
pub fn keys(results: &[ProbeResult]) -> std::collections::BTreeSet<(String, String, i64)> {
    results
        .iter()
        .map(|r| (r.target.clone(), r.check.clone(), r.time.timestamp_millis()))
        .collect()
}
