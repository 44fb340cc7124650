//! The files of an inventory as read: the main file and its `include:`s, each parsed strictly
//! (with what may appear only in the main file checked), and the ids they define, indexed for
//! references from one file to another. [`super::load`] reads them, [`super::validate`] and
//! [`super::resolve`] work on them.

use super::file::InventoryFile;
use driftvakt_common::config::{load_yaml, ConfigErrors, Validator};
use driftvakt_common::schema::SnmpCredentials;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One file of the inventory: where it is, its text (for error positions) and what it holds.
pub(super) struct LoadedFile {
    pub(super) path: PathBuf,
    pub(super) source: String,
    pub(super) file: InventoryFile,
}

pub(super) fn load_all(path: &Path) -> Result<Vec<LoadedFile>, ConfigErrors> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut queue = vec![path.to_path_buf()];
    let mut seen = HashSet::new();
    while let Some(p) = queue.pop() {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        if !seen.insert(key) {
            continue;
        }
        match load_yaml::<InventoryFile>(&p) {
            Ok((file, source)) => {
                let base = p.parent().unwrap_or(Path::new(".")).to_path_buf();
                let is_main = out.is_empty();
                let mut v = Validator::new(&p, &source);
                for inc in &file.include {
                    let target = base.join(&inc.value);
                    if !target.is_file() {
                        v.error_at(
                            &inc.referenced,
                            format!("included file {} does not exist", target.display()),
                        );
                    } else {
                        queue.push(target);
                    }
                }
                if !is_main {
                    if let Some(c) = &file.collector {
                        v.error_at(&c.referenced, "`collector:` belongs in the main file only");
                    }
                    if file.calendar.is_some() {
                        v.error("`calendar:` belongs in the main file only");
                    }
                    if file.notify.is_some() {
                        v.error("`notify:` belongs in the main file only");
                    }
                    if file.topology.is_some() {
                        v.error("`topology:` belongs in the main file only");
                    }
                }
                if let Err(e) = v.finish() {
                    errors.extend(e.0);
                }
                out.push(LoadedFile {
                    path: p,
                    source,
                    file,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Ids defined anywhere, for cross-file references.
pub(super) struct GlobalIndex {
    pub(super) sites: HashMap<String, String>,
    pub(super) devices: HashMap<String, (Option<String>, String)>,
    pub(super) municipalities: HashSet<String>,
}

impl GlobalIndex {
    pub(super) fn build(files: &[LoadedFile]) -> Self {
        let mut sites = HashMap::new();
        let mut devices = HashMap::new();
        for f in files {
            for s in &f.file.sites {
                sites
                    .entry(s.id.value.clone())
                    .or_insert(s.municipality.clone());
            }
            for d in &f.file.devices {
                let site = d.site.as_ref().map(|s| s.value.clone()).unwrap_or_default();
                devices
                    .entry(d.id.value.clone())
                    .or_insert((d.parent.as_ref().map(|p| p.value.clone()), site));
            }
        }
        let municipalities = sites.values().cloned().collect();
        GlobalIndex {
            sites,
            devices,
            municipalities,
        }
    }
}

pub(super) fn all_credentials(files: &[LoadedFile]) -> Vec<SnmpCredentials> {
    files
        .iter()
        .flat_map(|f| f.file.snmp_credentials.iter().cloned())
        .collect()
}
