//! One inventory YAML file as written: the sections and entries serde reads, before any
//! cross-file check ([`super::validate`]) or resolution ([`super::resolve`]).

use super::functions::{FunctionItem, ServiceKind};
use super::notify::NotifyConfig;
use super::settings::CollectorSettings;
use crate::availability::Need;
use driftvakt_common::config::Spanned;
use driftvakt_common::schema::{DeviceConfig, SnmpCredentials};
use serde::Deserialize;
use std::path::PathBuf;

/// The calendar section; owned by the calendar module, kept as raw data until it lands.
pub type CalendarSection = crate::calendar::CalendarConfig;

/// One inventory YAML file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFile {
    /// Further files to merge in, relative to this one.
    #[serde(default)]
    pub include: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    pub collector: Option<Spanned<CollectorSettings>>,
    #[serde(default)]
    pub sites: Vec<SiteConfig>,
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    #[serde(default)]
    pub agents: Vec<AgentEntry>,
    #[serde(default)]
    pub snmp_credentials: Vec<SnmpCredentials>,
    #[serde(default)]
    pub calendar: Option<CalendarSection>,
    /// Driftmeddelanden and alerts (main file only); without it the collector sends nothing.
    #[serde(default)]
    pub notify: Option<NotifyConfig>,
    /// Parents from LLDP/CDP (main file only).
    #[serde(default)]
    pub topology: Option<super::topology::TopologyConfig>,
}

/// A site: a building or node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub municipality: String,
    /// A network node (knutpunkt): its UPS units must hold at least four hours.
    #[serde(default)]
    pub node: bool,
    /// A crisis-management building (ledningsplats: Kommunhuset Tranemo, Stadshuset
    /// Ulricehamn): it needs backup power of its own.
    #[serde(default)]
    pub crisis_site: bool,
    /// The backup runtime this site requires, in minutes (default 240 at nodes and crisis
    /// sites, the four-hour node reserve); 1..10080.
    #[serde(default)]
    pub required_runtime_minutes: Option<Spanned<u32>>,
    /// The department (verksamheten) on-call cases of this site's devices are billed to.
    #[serde(default)]
    pub department: Option<String>,
}

/// How many members a service needs: `all`, `any` or `{ at_least: N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    #[default]
    All,
    Any,
    AtLeast(u32),
}

impl Rule {
    pub fn need(self) -> Need {
        match self {
            Rule::All => Need::All,
            Rule::Any => Need::Any,
            Rule::AtLeast(n) => Need::AtLeast(n as usize),
        }
    }
}

/// A service users notice, made of devices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub members: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub rule: Option<Spanned<Rule>>,
    /// Whether an outage of this service is an incident (counts against the yearly goal).
    #[serde(default = "default_true")]
    pub counts_as_incident: bool,
    /// `service` (default) or `function`: one of the agreement's "intefunktion" items.
    #[serde(default)]
    pub kind: Option<Spanned<ServiceKind>>,
    /// The item a function measures (`kind: function` only).
    #[serde(default)]
    pub function: Option<Spanned<FunctionItem>>,
    /// The municipality whose users the function serves (`kind: function` only).
    #[serde(default)]
    pub municipality: Option<Spanned<String>>,
}

fn default_true() -> bool {
    true
}

/// An agent allowed to push results, and which devices it probes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    pub id: Spanned<String>,
    #[serde(default)]
    pub token_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub token_env: Option<Spanned<String>>,
    #[serde(default)]
    pub sites: Vec<Spanned<String>>,
    #[serde(default)]
    pub municipalities: Vec<Spanned<String>>,
    #[serde(default)]
    pub devices: Vec<Spanned<String>>,
    /// Run this agent inside the collector process (the agent library, no second process, no
    /// token): for the demo and for devices the collector host itself can reach.
    #[serde(default)]
    pub embedded: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<InventoryFile, String> {
        driftvakt_common::config::parse_yaml(yaml, std::path::Path::new("t.yaml"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rules_and_defaults_as_written() {
        let f = parse(
            "services:\n  - { id: a, members: [x] }\n  - { id: b, members: [x, y], rule: any, counts_as_incident: false }\n  - { id: c, members: [x, y], rule: { at_least: 2 } }\n",
        )
        .unwrap();
        let rules: Vec<Rule> = f
            .services
            .iter()
            .map(|s| s.rule.as_ref().map(|r| r.value).unwrap_or_default())
            .collect();
        assert_eq!(rules, [Rule::All, Rule::Any, Rule::AtLeast(2)]);
        assert_eq!(Rule::AtLeast(2).need(), Need::AtLeast(2));
        assert!(f.services[0].counts_as_incident && !f.services[1].counts_as_incident);
        assert!(f.collector.is_none() && f.notify.is_none());
    }

    #[test]
    fn unknown_keys_are_refused_with_their_place() {
        let err = parse("sites:\n  - { id: s, municipality: M, colour: red }\n").unwrap_err();
        assert!(err.contains("t.yaml:2") && err.contains("colour"), "{err}");
    }
}
