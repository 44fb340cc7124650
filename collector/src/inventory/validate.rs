//! The checks serde cannot make, across every file of the inventory: ids (empty, malformed,
//! duplicate), unknown sites, parents, members, municipalities and assignments, parent cycles,
//! the collector's settings that depend on each other, and the `notify:` section's
//! municipalities. Every error names file, line and key.

use super::file::{AgentEntry, InventoryFile, Rule, ServiceConfig};
use super::files::{all_credentials, GlobalIndex, LoadedFile};
use super::functions::{FunctionItem, ServiceKind};
use driftvakt_common::config::{location, ConfigError, Spanned, Validator};
use driftvakt_common::schema::validate_devices;
use std::collections::HashSet;

pub(super) fn validate_file(
    v: &mut Validator,
    f: &LoadedFile,
    index: &GlobalIndex,
    files: &[LoadedFile],
) {
    validate_settings(v, &f.file);
    validate_devices_across(v, f, index, files);
    let earlier = |pos: usize, pick: &dyn Fn(&InventoryFile) -> Vec<String>| -> HashSet<String> {
        files[..pos].iter().flat_map(|g| pick(&g.file)).collect()
    };
    let pos = files.iter().position(|g| g.path == f.path).unwrap_or(0);
    let mut seen = earlier(pos, &|g| {
        g.sites.iter().map(|s| s.id.value.clone()).collect()
    });
    for s in &f.file.sites {
        check_id(v, &s.id, "site", &mut seen);
        if let Some(m) = &s.required_runtime_minutes {
            if !(1..=10_080).contains(&m.value) {
                v.error_at(
                    &m.referenced,
                    format!(
                        "site `{}`: required_runtime_minutes must be between 1 and 10080",
                        s.id.value
                    ),
                );
            }
        }
    }
    let mut seen = earlier(pos, &|g| {
        g.services.iter().map(|s| s.id.value.clone()).collect()
    });
    for s in &f.file.services {
        check_id(v, &s.id, "service", &mut seen);
        validate_service(v, s, index);
        validate_function(v, s, index);
    }
    let mut items: HashSet<(String, FunctionItem)> = files[..pos]
        .iter()
        .flat_map(|g| g.file.services.iter().filter_map(function_of))
        .collect();
    for s in &f.file.services {
        if let (Some(key), Some(item)) = (function_of(s), &s.function) {
            if !items.insert(key.clone()) {
                v.error_at(
                    &item.referenced,
                    format!(
                        "{} already has a function `{}`: one service per item and municipality",
                        key.0,
                        key.1.as_str()
                    ),
                );
            }
        }
    }
    let mut seen = earlier(pos, &|g| {
        g.agents.iter().map(|a| a.id.value.clone()).collect()
    });
    for a in &f.file.agents {
        check_id(v, &a.id, "agent", &mut seen);
        validate_assignment(v, a, index);
    }
}

fn check_id(v: &mut Validator, id: &Spanned<String>, what: &str, seen: &mut HashSet<String>) {
    if id.value.trim().is_empty() {
        v.error_at(&id.referenced, format!("{what} id must not be empty"));
    } else if let Some(p) = driftvakt_common::schema::validate::id_problem(what, &id.value) {
        v.error_at(&id.referenced, p);
    } else if !seen.insert(id.value.clone()) {
        v.error_at(
            &id.referenced,
            format!("duplicate {what} id `{}`", id.value),
        );
    }
}

fn validate_settings(v: &mut Validator, file: &InventoryFile) {
    let Some(c) = &file.collector else { return };
    let s = &c.value;
    if !(s.target > 0.0 && s.target < 1.0) {
        v.error_at(
            &c.referenced,
            "collector.target must be between 0 and 1, e.g. 0.991",
        );
    }
    if s.confirm_failures == 0 {
        v.error_at(
            &c.referenced,
            "collector.confirm_failures must be at least 1",
        );
    }
    if s.stale_intervals == 0 {
        v.error_at(
            &c.referenced,
            "collector.stale_intervals must be at least 1",
        );
    }
    if s.max_body_bytes < 1024 {
        v.error_at(
            &c.referenced,
            "collector.max_body_bytes must be at least 1024",
        );
    }
    if s.cluster.heartbeat.std() * 2 >= s.cluster.lease.std() {
        v.error_at_key(
            "collector.cluster.heartbeat",
            format!(
                "collector.cluster.heartbeat ({}) must be shorter than half the lease ({}): \
                 a leader renews at every heartbeat and must get two chances per lease",
                s.cluster.heartbeat, s.cluster.lease
            ),
        );
    }
    for (key, message) in s.web.iter().flat_map(|w| w.problems()) {
        v.error_at_key(key, message);
    }
    if let Some(node) = &s.node {
        if node.is_empty() || node.len() > 100 || node.chars().any(char::is_control) {
            v.error_at_key(
                "collector.node",
                "collector.node must have 1 to 100 characters and no control characters",
            );
        }
    }
}

/// The agent's device checks, plus the site requirement, cross-file parents and cycles.
fn validate_devices_across(
    v: &mut Validator,
    f: &LoadedFile,
    index: &GlobalIndex,
    files: &[LoadedFile],
) {
    // The agent's checks work on one list; run them on this file's devices, and drop its
    // unknown-parent errors for parents that another file defines.
    let mut local = Validator::new(&f.path, &f.source);
    validate_devices(&mut local, &f.file.devices, &all_credentials(files));
    if let Err(errs) = local.finish() {
        for e in errs.0 {
            let defined_elsewhere = index
                .devices
                .keys()
                .any(|id| e.message == format!("unknown parent device `{id}`"));
            if !defined_elsewhere {
                push_error(v, e);
            }
        }
    }
    let pos = files.iter().position(|g| g.path == f.path).unwrap_or(0);
    let earlier: HashSet<&str> = files[..pos]
        .iter()
        .flat_map(|g| g.file.devices.iter().map(|d| d.id.value.as_str()))
        .collect();
    for d in &f.file.devices {
        if earlier.contains(d.id.value.as_str()) {
            v.error_at(
                &d.id.referenced,
                format!("duplicate device id `{}`", d.id.value),
            );
        }
        match &d.site {
            None => v.error_at(
                &d.id.referenced,
                format!("device `{}` needs `site:`", d.id.value),
            ),
            Some(s) if !index.sites.contains_key(&s.value) => {
                v.error_at(&s.referenced, format!("unknown site `{}`", s.value))
            }
            _ => {}
        }
        if let Some(p) = &d.parent {
            if in_cycle(&d.id.value, index) {
                v.error_at(
                    &p.referenced,
                    format!("parent cycle: device `{}` is its own ancestor", d.id.value),
                );
            }
        }
    }
}

/// Re-records an error from another validator on `v` (same file).
fn push_error(v: &mut Validator, e: ConfigError) {
    if e.line == 0 {
        v.error(e.message);
        return;
    }
    // The Validator takes places as Locations; rebuild one from the line and column.
    let loc = location(e.line, e.column);
    v.error_at(&loc, e.message);
}

fn in_cycle(start: &str, index: &GlobalIndex) -> bool {
    let mut cur = index.devices.get(start).and_then(|d| d.0.clone());
    let mut steps = 0;
    while let Some(p) = cur {
        if p == start {
            return true;
        }
        steps += 1;
        if steps > index.devices.len() {
            return false; // a cycle not through `start`; reported at its own members
        }
        cur = index.devices.get(&p).and_then(|d| d.0.clone());
    }
    false
}

/// The `notify:` section: addresses and cron expressions ([`NotifyConfig::validate`]), and
/// every municipality it names (recipients, senders) must be one the sites define.
pub(super) fn validate_notify(f: &LoadedFile, index: &GlobalIndex, errors: &mut Vec<ConfigError>) {
    let Some(n) = &f.file.notify else { return };
    let mut v = Validator::new(&f.path, &f.source);
    n.validate(&mut v, None);
    let named = n
        .municipalities
        .keys()
        .map(|m| ("municipalities", m))
        .chain(
            n.from
                .municipalities
                .keys()
                .map(|m| ("from.municipalities", m)),
        );
    for (section, m) in named {
        if !index.municipalities.contains(m) {
            let mut known: Vec<&str> = index.municipalities.iter().map(String::as_str).collect();
            known.sort_unstable();
            v.error_at_key(
                &format!("notify.{section}.{m}"),
                format!(
                    "unknown municipality `{m}` (the sites name: {})",
                    known.join(", ")
                ),
            );
        }
    }
    if let Err(e) = v.finish() {
        errors.extend(e.0);
    }
}

/// The municipality and item of a function (a service of `kind: function` with both set).
fn function_of(s: &ServiceConfig) -> Option<(String, FunctionItem)> {
    let is_function = s.kind.as_ref().map(|k| k.value) == Some(ServiceKind::Function);
    match (is_function, &s.municipality, &s.function) {
        (true, Some(m), Some(i)) => Some((m.value.clone(), i.value)),
        _ => None,
    }
}

/// A function names its item and a known municipality; an ordinary service names neither.
fn validate_function(v: &mut Validator, s: &ServiceConfig, index: &GlobalIndex) {
    let is_function = s.kind.as_ref().map(|k| k.value) == Some(ServiceKind::Function);
    if !is_function {
        if let Some(i) = &s.function {
            v.error_at(&i.referenced, "`function:` needs `kind: function`");
        }
        if let Some(m) = &s.municipality {
            v.error_at(&m.referenced, "`municipality:` needs `kind: function`");
        }
        return;
    }
    let place = s.kind.as_ref().map(|k| &k.referenced);
    if s.function.is_none() {
        if let Some(p) = place {
            v.error_at(
                p,
                format!(
                    "a function names its item in `function:` (one of {})",
                    FunctionItem::ALL.map(|i| i.as_str()).join(", ")
                ),
            );
        }
    }
    match &s.municipality {
        None => {
            if let Some(p) = place {
                v.error_at(
                    p,
                    "a function names the `municipality:` whose users it serves",
                );
            }
        }
        Some(m) if !index.municipalities.contains(&m.value) => {
            let mut known: Vec<&str> = index.municipalities.iter().map(|x| x.as_str()).collect();
            known.sort();
            v.error_at(
                &m.referenced,
                format!(
                    "unknown municipality `{}` (the sites have {})",
                    m.value,
                    known.join(", ")
                ),
            );
        }
        Some(_) => {}
    }
}

fn validate_service(v: &mut Validator, s: &ServiceConfig, index: &GlobalIndex) {
    if s.members.value.is_empty() {
        v.error_at(&s.members.referenced, "a service needs at least one member");
    }
    let mut seen = HashSet::new();
    for m in &s.members.value {
        if !index.devices.contains_key(&m.value) {
            v.error_at(
                &m.referenced,
                format!("unknown member device `{}`", m.value),
            );
        } else if !seen.insert(m.value.as_str()) {
            v.error_at(&m.referenced, format!("member `{}` listed twice", m.value));
        }
    }
    let Some(rule) = &s.rule else { return };
    if let Rule::AtLeast(n) = rule.value {
        if n == 0 || n as usize > s.members.value.len() {
            v.error_at(
                &rule.referenced,
                format!(
                    "at_least: {n} must be between 1 and the number of members ({})",
                    s.members.value.len()
                ),
            );
        }
    }
}

fn validate_assignment(v: &mut Validator, a: &AgentEntry, index: &GlobalIndex) {
    for s in &a.sites {
        if !index.sites.contains_key(&s.value) {
            v.error_at(&s.referenced, format!("unknown site `{}`", s.value));
        }
    }
    for m in &a.municipalities {
        if !index.municipalities.contains(&m.value) {
            v.error_at(&m.referenced, format!("unknown municipality `{}`", m.value));
        }
    }
    for d in &a.devices {
        if !index.devices.contains_key(&d.value) {
            v.error_at(&d.referenced, format!("unknown device `{}`", d.value));
        }
    }
    match (&a.token_file, &a.token_env) {
        (None, None) if a.embedded => {}
        (Some(_), _) | (_, Some(_)) if a.embedded => v.error_at(
            &a.id.referenced,
            format!(
                "agent `{}`: an embedded agent has no token; remove `token_file:`/`token_env:`",
                a.id.value
            ),
        ),
        (Some(_), Some(_)) | (None, None) => v.error_at(
            &a.id.referenced,
            format!(
                "agent `{}`: give exactly one of `token_file:` or `token_env:`",
                a.id.value
            ),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{messages, Folder, BASIC};

    /// The errors of `BASIC` with `extra` appended to it.
    fn errors_with(extra: &str) -> String {
        let f = Folder::new();
        messages(&f.load(&format!("{BASIC}{extra}")).unwrap_err())
    }

    #[test]
    fn unknown_references_and_duplicates_are_named() {
        let text = errors_with(
            "  - { id: a3, token_file: a1.token, sites: [nowhere], devices: [ghost] }\n",
        );
        assert!(text.contains("unknown site `nowhere`"), "{text}");
        assert!(text.contains("unknown device `ghost`"), "{text}");
        let f = Folder::new();
        let dup = BASIC.replace("id: ap,", "id: sw,");
        let text = messages(&f.load(&dup).unwrap_err());
        assert!(text.contains("duplicate device id `sw`"), "{text}");
    }

    #[test]
    fn a_parent_cycle_is_refused_at_the_parent() {
        let f = Folder::new();
        let cyclic = BASIC.replace(
            "address: 10.0.0.1, checks",
            "address: 10.0.0.1, parent: ap, checks",
        );
        let text = messages(&f.load(&cyclic).unwrap_err());
        assert!(
            text.contains("parent cycle: device `sw` is its own ancestor")
                && text.contains("parent cycle: device `ap` is its own ancestor"),
            "{text}"
        );
    }

    #[test]
    fn services_need_known_members_and_a_possible_rule() {
        let f = Folder::new();
        let bad = BASIC.replace(
            "  - { id: wifi, members: [sw, ap] }",
            "  - { id: wifi, members: [sw, sw, ghost], rule: { at_least: 4 } }",
        );
        let text = messages(&f.load(&bad).unwrap_err());
        assert!(text.contains("member `sw` listed twice"), "{text}");
        assert!(text.contains("unknown member device `ghost`"), "{text}");
        assert!(
            text.contains("at_least: 4 must be between 1 and the number of members (3)"),
            "{text}"
        );
    }

    #[test]
    fn settings_that_depend_on_each_other_are_checked() {
        let f = Folder::new();
        let text = messages(
            &f.load(&format!(
                "collector:\n  target: 1.5\n  cluster: {{ lease: 4s, heartbeat: 2s }}\n{BASIC}"
            ))
            .unwrap_err(),
        );
        assert!(
            text.contains("collector.target must be between 0 and 1"),
            "{text}"
        );
        assert!(
            text.contains("collector.cluster.heartbeat (2s) must be shorter than half the lease"),
            "{text}"
        );
    }

    #[test]
    fn notify_names_only_municipalities_the_sites_define() {
        let text = errors_with(
            "notify:\n  municipalities:\n    Borås: { service_desk: [desk@boras.se] }\n",
        );
        assert!(
            text.contains("unknown municipality `Borås` (the sites name: Tranemo, Ulricehamn)"),
            "{text}"
        );
        assert!(text.contains("notify.municipalities.Borås"), "{text}");
    }
}
