//! From validated files to the [`Inventory`]: agents' tokens read (and refused when short,
//! shared or readable by others), their devices worked out from sites, municipalities and
//! names, sites and services merged, and each device's rules (primary check, intervals,
//! confirmation and staleness) derived.

use super::file::AgentEntry;
use super::files::{GlobalIndex, LoadedFile};
use super::functions::Function;
use super::model::{
    Agent, Device, Inventory, Service, Site, TokenSource, DEFAULT_REQUIRED_RUNTIME_MINUTES,
};
use super::settings::CollectorSettings;
use crate::availability::DeviceRules;
use driftvakt_common::config::{ConfigError, Location, Validator};
use driftvakt_common::schema::secret::{cannot_read, check_secret_file_mode};
use driftvakt_common::schema::{class_timing, DeviceConfig, Secret};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Shortest accepted agent token.
pub const MIN_TOKEN_LEN: usize = 16;

/// Reads every agent's token and works out its devices; token problems are errors.
pub(super) fn resolve_agents(
    files: &[LoadedFile],
    index: &GlobalIndex,
    errors: &mut Vec<ConfigError>,
) -> Vec<Agent> {
    let mut out = Vec::new();
    // Token → the agent that has it and where (file, line), to refuse a token given twice.
    let mut owners: HashMap<String, (String, PathBuf, u64)> = HashMap::new();
    for f in files {
        let base = f.path.parent().unwrap_or(Path::new("."));
        let mut v = Validator::new(&f.path, &f.source);
        for a in &f.file.agents {
            match read_token(a, base) {
                Ok(Some(token)) => {
                    let loc = token_location(a);
                    let here = (a.id.value.clone(), f.path.clone(), loc.line());
                    if let Some((first, file, line)) =
                        owners.get(token.expose()).filter(|o| o.0 != a.id.value)
                    {
                        v.error_at(
                            &loc,
                            format!(
                                "agent `{}` has the same token as agent `{first}` ({}:{line}): \
                                 each agent needs its own token, or the collector cannot tell \
                                 them apart",
                                a.id.value,
                                file.display()
                            ),
                        );
                    } else {
                        owners.insert(token.expose().to_string(), here);
                    }
                    out.push(Agent {
                        id: a.id.value.clone(),
                        token,
                        devices: assigned_devices(a, index),
                        embedded: false,
                        token_source: Some(TokenSource {
                            place: place_of(f, &loc),
                            file: a.token_file.as_ref().map(|t| base.join(&t.value)),
                            env: a.token_env.as_ref().map(|e| e.value.clone()),
                        }),
                    })
                }
                Ok(None) if a.embedded => out.push(Agent {
                    id: a.id.value.clone(),
                    token: random_token(),
                    devices: assigned_devices(a, index),
                    embedded: true,
                    token_source: None,
                }),
                Ok(None) => {}
                Err((loc, msg)) => v.error_at(&loc, msg),
            }
        }
        if let Err(e) = v.finish() {
            errors.extend(e.0);
        }
    }
    out
}

/// The place of `loc` in `f`, with its key, for an error made later.
fn place_of(f: &LoadedFile, loc: &Location) -> ConfigError {
    ConfigError {
        file: f.path.clone(),
        line: loc.line(),
        column: loc.column(),
        key: driftvakt_common::config::key_path_at(&f.source, loc.line()),
        message: String::new(),
    }
}

/// A token nobody knows, for an embedded agent: it can never be used over HTTP.
fn random_token() -> Secret {
    use rand::Rng;
    let mut rng = rand::rng();
    Secret::new(
        (0..48)
            .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
            .collect::<String>(),
    )
}

/// Where an agent's token is named (`token_file:` or `token_env:`), else its id.
fn token_location(a: &AgentEntry) -> Location {
    a.token_file
        .as_ref()
        .map(|f| f.referenced)
        .or(a.token_env.as_ref().map(|e| e.referenced))
        .unwrap_or(a.id.referenced)
}

fn read_token(a: &AgentEntry, base: &Path) -> Result<Option<Secret>, (Location, String)> {
    let (text, loc, what) = match (&a.token_file, &a.token_env) {
        (Some(file), None) => {
            let path = base.join(&file.value);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| (file.referenced, cannot_read("token file", &path, &e)))?;
            (
                text,
                file.referenced,
                format!("token file {}", path.display()),
            )
        }
        (None, Some(var)) => {
            let text = std::env::var(&var.value).map_err(|_| {
                (
                    var.referenced,
                    format!("environment variable {} is not set", var.value),
                )
            })?;
            (
                text,
                var.referenced,
                format!("environment variable {}", var.value),
            )
        }
        _ => return Ok(None),
    };
    let token = text.trim();
    if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
        return Err((
            loc,
            format!("{what}: a token must be one word of at least {MIN_TOKEN_LEN} characters"),
        ));
    }
    // The mode after the length, so a short token is reported as such.
    if let Some(file) = &a.token_file {
        check_secret_file_mode(&base.join(&file.value), "token file")
            .map_err(|e| (file.referenced, e))?;
    }
    Ok(Some(Secret::new(token)))
}

fn assigned_devices(a: &AgentEntry, index: &GlobalIndex) -> HashSet<String> {
    let sites: HashSet<&str> = a.sites.iter().map(|s| s.value.as_str()).collect();
    let munis: HashSet<&str> = a.municipalities.iter().map(|m| m.value.as_str()).collect();
    let named: HashSet<&str> = a.devices.iter().map(|d| d.value.as_str()).collect();
    index
        .devices
        .iter()
        .filter(|(id, (_, site))| {
            named.contains(id.as_str())
                || sites.contains(site.as_str())
                || index
                    .sites
                    .get(site)
                    .is_some_and(|m| munis.contains(m.as_str()))
        })
        .map(|(id, _)| id.clone())
        .collect()
}

pub(super) fn resolve(path: &Path, files: Vec<LoadedFile>, agents: Vec<Agent>) -> Inventory {
    let settings = files[0]
        .file
        .collector
        .as_ref()
        .map(|c| c.value.clone())
        .unwrap_or_default();
    let calendar = files[0].file.calendar.clone();
    let notify = files[0].file.notify.clone();
    let topology = files[0].file.topology.clone().unwrap_or_default();
    let main_credentials = (files[0].file.snmp_credentials.iter())
        .map(|c| c.id.value.clone())
        .collect();
    let mut sites = Vec::new();
    let mut devices = Vec::new();
    let mut services = Vec::new();
    let mut creds = Vec::new();
    for f in files {
        sites.extend(f.file.sites.into_iter().map(|s| {
            Site {
                name: s.name.unwrap_or_else(|| s.id.value.clone()),
                id: s.id.value,
                municipality: s.municipality,
                required_runtime_minutes: s
                    .required_runtime_minutes
                    .map(|m| m.value)
                    .or((s.node || s.crisis_site).then_some(DEFAULT_REQUIRED_RUNTIME_MINUTES)),
                node: s.node,
                crisis_site: s.crisis_site,
                department: s
                    .department
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty()),
            }
        }));
        devices.extend(f.file.devices);
        services.extend(f.file.services.into_iter().map(|s| Service {
            name: s.name.unwrap_or_else(|| s.id.value.clone()),
            id: s.id.value,
            members: s.members.value.into_iter().map(|m| m.value).collect(),
            rule: s.rule.map(|r| r.value).unwrap_or_default(),
            counts_as_incident: s.counts_as_incident,
            function: match (s.function, s.municipality) {
                (Some(item), Some(m)) => Some(Function {
                    item: item.value,
                    municipality: m.value,
                }),
                _ => None,
            },
        }));
        creds.extend(f.file.snmp_credentials);
    }
    let site_muni: BTreeMap<String, String> = sites
        .iter()
        .map(|s| (s.id.clone(), s.municipality.clone()))
        .collect();
    let devices: Vec<Device> = devices
        .into_iter()
        .map(|d| resolve_device(d, &settings, &site_muni))
        .collect();
    let device_index = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.clone(), i))
        .collect();
    let site_index = sites
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    let parents = devices.iter().filter_map(|d| d.parent.clone()).collect();
    Inventory {
        path: path.to_path_buf(),
        settings,
        sites,
        devices,
        services,
        agents,
        snmp_credentials: creds,
        calendar,
        notify,
        topology,
        discovered: Default::default(),
        device_index,
        site_index,
        parents,
        main_credentials,
    }
}

fn resolve_device(
    d: DeviceConfig,
    settings: &CollectorSettings,
    site_muni: &BTreeMap<String, String>,
) -> Device {
    let checks = d.checks();
    let (class_interval, _) = class_timing(d.class);
    let device_interval = d.interval.map(|i| i.std()).unwrap_or(class_interval);
    let interval_of = |c: &driftvakt_common::schema::CheckSpec| {
        c.common()
            .interval
            .map(|i| i.std())
            .unwrap_or(device_interval)
    };
    let primary = checks
        .iter()
        .find(|c| c.kind() == "icmp")
        .or(checks.first());
    let primary_interval = primary.map(interval_of).unwrap_or(device_interval);
    let slowest = checks
        .iter()
        .map(interval_of)
        .max()
        .unwrap_or(device_interval);
    let site = d.site.as_ref().map(|s| s.value.clone()).unwrap_or_default();
    Device {
        id: d.id.value.clone(),
        class: d.class,
        municipality: site_muni.get(&site).cloned().unwrap_or_default(),
        site,
        parent: d.parent.as_ref().map(|p| p.value.clone()),
        checks: checks.iter().map(|c| c.name()).collect(),
        rules: DeviceRules {
            primary_check: primary.map(|c| c.name()).unwrap_or_else(|| "icmp".into()),
            interval_ms: primary_interval.as_millis() as i64,
            slowest_interval_ms: slowest.as_millis() as i64,
            confirm_failures: settings.confirm_failures,
            stale_intervals: settings.stale_intervals,
        },
        config: d,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{messages, Folder, BASIC};
    use driftvakt_common::DeviceClass;

    #[test]
    fn agents_get_devices_by_site_municipality_and_name() {
        let f = Folder::new();
        let inv = f.load(BASIC).unwrap_or_else(|e| panic!("{e}"));
        let devices = |a: &str| {
            let mut d: Vec<_> = inv.agent(a).unwrap().devices.iter().cloned().collect();
            d.sort();
            d
        };
        assert_eq!(devices("a1"), ["ap", "sw", "ups"]);
        assert_eq!(devices("a2"), ["prn"]);
        assert_eq!(
            inv.agent("a1").unwrap().token.expose(),
            "agent-one-token-0123456789"
        );
        let source = inv.agent("a1").unwrap().token_source.clone().unwrap();
        assert_eq!(source.file.unwrap(), f.path().join("a1.token"));
    }

    #[test]
    fn device_rules_come_from_its_checks_and_the_settings() {
        let f = Folder::new();
        let inv = f
            .load(&format!("collector: {{ confirm_failures: 2 }}\n{BASIC}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let ups = inv.device("ups").unwrap();
        assert_eq!(ups.class, DeviceClass::Ups);
        assert_eq!(ups.municipality, "Ulricehamn");
        assert_eq!(ups.checks, ["icmp", "snmp"]);
        assert_eq!(ups.rules.primary_check, "icmp");
        assert_eq!(ups.rules.interval_ms, 30_000);
        assert_eq!(ups.rules.confirm_failures, 2);
        assert_eq!(ups.rules.stale_intervals, 3);
    }

    #[test]
    fn short_shared_and_open_tokens_are_refused() {
        let f = Folder::new();
        f.secret("short.token", "too-short");
        f.write("open.token", "a-token-everyone-can-read-0123");
        let text = messages(
            &f.load(&format!(
                "{BASIC}  - {{ id: a3, token_file: short.token }}\n  - {{ id: a4, token_file: a1.token }}\n  - {{ id: a5, token_file: open.token }}\n"
            ))
            .unwrap_err(),
        );
        assert!(
            text.contains(&format!("at least {} characters", super::MIN_TOKEN_LEN)),
            "{text}"
        );
        assert!(
            text.contains("agent `a4` has the same token as agent `a1`"),
            "{text}"
        );
        assert!(text.contains("open.token"), "{text}");
    }
}
