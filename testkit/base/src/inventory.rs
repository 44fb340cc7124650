//! A collector inventory written by a test: a builder for the common shape (collector
//! settings, sites, devices, services, agents with owner-only token files, any further
//! section as YAML text), so a test says only what differs.
//!
//! ```no_run
//! # use driftvakt_testkit::inventory::Inventory;
//! # let dir = std::path::Path::new("/tmp");
//! let config = Inventory::new()
//!     .collector("database", "/tmp/c.db")
//!     .site("s1", "Stadshuset", "Ulricehamn")
//!     .device("{ id: prn1, class: printer, site: s1, address: 127.0.0.1, checks: [icmp] }")
//!     .agent(dir, "a", "a-token-0123456789", "sites: [s1]")
//!     .write(dir);
//! ```

use crate::files::owner_only;
use std::path::{Path, PathBuf};

/// The parts of a collector inventory, written in the order the README documents them.
#[derive(Debug, Default, Clone)]
pub struct Inventory {
    collector: Vec<String>,
    sites: Vec<String>,
    devices: Vec<String>,
    services: Vec<String>,
    agents: Vec<String>,
    sections: Vec<String>,
}

impl Inventory {
    pub fn new() -> Inventory {
        Inventory::default()
    }

    /// `collector: { key: value }` (`value` is YAML: a scalar or a flow mapping).
    pub fn collector(mut self, key: &str, value: impl std::fmt::Display) -> Inventory {
        self.collector.push(format!("  {key}: {value}\n"));
        self
    }

    /// A site with its name and municipality.
    pub fn site(self, id: &str, name: &str, municipality: &str) -> Inventory {
        self.site_yaml(&format!(
            "{{ id: {id}, name: {name}, municipality: {municipality} }}"
        ))
    }

    /// A site as a YAML flow mapping (for `node: true` and the like).
    pub fn site_yaml(mut self, mapping: &str) -> Inventory {
        self.sites.push(format!("  - {mapping}\n"));
        self
    }

    /// A device as a YAML flow mapping.
    pub fn device(mut self, mapping: &str) -> Inventory {
        self.devices.push(format!("  - {mapping}\n"));
        self
    }

    /// A device at 127.0.0.1 whose one check is TCP to `port` every `interval`, as the tests
    /// make devices that go down when their listener closes.
    pub fn tcp_device(
        self,
        id: &str,
        class: &str,
        site: &str,
        port: u16,
        interval: &str,
    ) -> Inventory {
        self.device(&format!(
            "{{ id: {id}, class: {class}, site: {site}, address: 127.0.0.1, checks: [{{ kind: tcp, \
             port: {port}, interval: {interval}, timeout: 500ms }}] }}"
        ))
    }

    /// A service as a YAML flow mapping.
    pub fn service(mut self, mapping: &str) -> Inventory {
        self.services.push(format!("  - {mapping}\n"));
        self
    }

    /// An agent whose token is in `dir/{id}.token` (written now, owner-only); `scope` is the
    /// rest of its mapping (`sites: [s1]`, `devices: [prn1]`, …).
    pub fn agent(mut self, dir: &Path, id: &str, token: &str, scope: &str) -> Inventory {
        owner_only(&dir.join(format!("{id}.token")), token);
        self.agents.push(format!(
            "  - {{ id: {id}, token_file: {id}.token, {scope} }}\n"
        ));
        self
    }

    /// Any further top-level section, as YAML text (`notify:\n  …`).
    pub fn section(mut self, yaml: &str) -> Inventory {
        let mut yaml = yaml.to_string();
        if !yaml.ends_with('\n') {
            yaml.push('\n');
        }
        self.sections.push(yaml);
        self
    }

    /// The inventory as YAML.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (key, items) in [
            ("collector", &self.collector),
            ("sites", &self.sites),
            ("devices", &self.devices),
            ("services", &self.services),
            ("agents", &self.agents),
        ] {
            if !items.is_empty() {
                out.push_str(&format!("{key}:\n{}", items.concat()));
            }
        }
        out + &self.sections.concat()
    }

    /// Writes `dir/collector.yaml`; returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("collector.yaml");
        std::fs::write(&path, self.text()).unwrap();
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_come_in_order_and_tokens_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let text = Inventory::new()
            .section("notify:\n  hold_down: 0s")
            .agent(dir.path(), "a", "tok", "sites: [s1]")
            .device("{ id: d }")
            .site("s1", "Stadshuset", "Ulricehamn")
            .collector("database", "c.db")
            .text();
        assert_eq!(
            text,
            "collector:\n  database: c.db\nsites:\n  - { id: s1, name: Stadshuset, municipality: \
             Ulricehamn }\ndevices:\n  - { id: d }\nagents:\n  - { id: a, token_file: a.token, \
             sites: [s1] }\nnotify:\n  hold_down: 0s\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("a.token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
