//! Test helpers of the inventory's unit tests: a folder with inventory files and token files.

use super::Inventory;
use driftvakt_common::config::ConfigErrors;
use std::path::{Path, PathBuf};

/// Sites in two municipalities, a parent chain, a UPS and two agents with token files.
pub const BASIC: &str = r#"
sites:
  - { id: s1, municipality: Ulricehamn, node: true }
  - { id: s2, municipality: Tranemo }
devices:
  - { id: sw, class: switch, site: s1, address: 10.0.0.1, checks: [icmp] }
  - { id: ap, class: access_point, site: s1, address: 10.0.0.2, parent: sw, checks: [icmp] }
  - { id: ups, class: ups, site: s1, address: 10.0.0.3, interval: 30s, checks: [icmp, snmp] }
  - { id: prn, class: printer, site: s2, address: 10.1.0.1, parent: sw, checks: [icmp] }
services:
  - { id: wifi, members: [sw, ap] }
snmp_credentials:
  - { id: c, version: v2c, community: { env: DV_INVENTORY_UNIT_COMMUNITY } }
agents:
  - { id: a1, token_file: a1.token, sites: [s1] }
  - { id: a2, token_file: a2.token, municipalities: [Tranemo] }
"#;

/// A temporary folder for one test's files.
pub struct Folder(tempfile::TempDir);

impl Folder {
    /// A folder with the token files `a1.token` and `a2.token` (mode 0600, distinct tokens).
    pub fn new() -> Folder {
        let f = Folder(tempfile::tempdir().unwrap());
        f.secret("a1.token", "agent-one-token-0123456789");
        f.secret("a2.token", "agent-two-token-0123456789");
        f
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// Writes `text` to `name` in the folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a secret file readable by its owner only.
    pub fn secret(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.write(name, text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// Writes `text` as `collector.yaml` and loads it.
    pub fn load(&self, text: &str) -> Result<Inventory, ConfigErrors> {
        Inventory::load(&self.write("collector.yaml", text))
    }
}

/// Every error's message, one a line, with line and key (for asserting on them).
pub fn messages(e: &ConfigErrors) -> String {
    e.0.iter()
        .map(|e| format!("{}:{} {:?} {}", e.line, e.column, e.key, e.message))
        .collect::<Vec<_>>()
        .join("\n")
}
