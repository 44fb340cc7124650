//! The Atom feed (RFC 4287) of a municipality's driftinformation: one entry per störning,
//! uppdatering, åtgärdat and planerat underhåll.
//!
//! Entry ids are `urn:uuid:` names derived (SHA-256, shaped as a version 8 UUID) from the
//! municipality's slug and the entry's key — the disturbance's subject and start, the update's
//! row, the window's kind, start and scope — never from a row order or the time of the
//! request, so they are the same after a restart and for every reader. `updated` (and
//! `published`) is when the entry last changed (an update's time, an outage's start or end; for
//! planned maintenance when the window was created or activated, see
//! `public::Maintenance::announced`), never a time ahead: the window's own time is in the
//! entry's title and summary. An unchanged history gives a byte-identical feed.

use super::public::Driftinfo;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One feed entry.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: String,
    /// `storning`, `uppdatering`, `atgardat` or `underhall`.
    pub category: &'static str,
    pub title: String,
    pub updated: String,
    /// When the entry was first published: the same instant as `updated` (an entry is
    /// never revised in place; a change is a new entry).
    pub published: String,
    pub summary: String,
    /// The fragment on the page (`#storning-...`).
    pub anchor: String,
}

/// The feed's entries, newest first, and its `updated` (the newest entry's).
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    pub id: String,
    pub updated: String,
    pub entries: Vec<Entry>,
}

/// A stable `urn:uuid:` from `slug` and `key`.
pub fn entry_id(slug: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("driftvakt/{slug}/{key}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8 (custom)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The entries of `info`.
pub fn feed(info: &Driftinfo) -> Feed {
    let slug = &info.slug;
    let mut entries: Vec<(DateTime<Utc>, Entry)> = Vec::new();
    let mut push =
        |at: DateTime<Utc>, category, key: &str, target: &str, title: String, summary: String| {
            entries.push((
                at,
                Entry {
                    id: entry_id(slug, &format!("{category}/{key}")),
                    category,
                    title,
                    updated: rfc3339(at),
                    published: rfc3339(at),
                    summary,
                    anchor: target.to_string(),
                },
            ))
        };
    for d in info.ongoing.iter().chain(&info.resolved) {
        let place = if d.places.is_empty() {
            String::new()
        } else {
            format!(" ({})", d.places)
        };
        let mut summary = format!("{}{place} fungerar inte sedan {}.", d.title, d.since_text);
        if !d.description.is_empty() {
            summary.push(' ');
            summary.push_str(&d.description);
        }
        push(
            d.since,
            "storning",
            &d.key,
            &d.anchor,
            format!("Störning: {}{place}", d.title),
            summary,
        );
        for u in &d.updates {
            push(
                u.at,
                "uppdatering",
                &u.key,
                &d.anchor,
                format!("Uppdatering: {}{place}", d.title),
                u.text.clone(),
            );
        }
        if let Some(until) = d.until {
            push(
                until,
                "atgardat",
                &d.key,
                &d.anchor,
                format!("Åtgärdat: {}{place}", d.title),
                format!(
                    "{}{place} fungerar igen sedan {}. Störningen varade {}.",
                    d.title, d.until_text, d.duration_text
                ),
            );
        }
    }
    for m in &info.planned {
        let mut summary = format!("{}: {}, {}.", m.title, m.concerns, m.when_text);
        // The window's time is in the text; the entry's times say when it was announced.
        if !m.reason.is_empty() {
            summary.push(' ');
            summary.push_str(&m.reason);
        }
        push(
            m.announced,
            "underhall",
            &m.key,
            &m.anchor,
            format!("Planerat underhåll: {}, {}", m.concerns, m.when_text),
            summary,
        );
    }
    entries.sort_by(|a, b| (b.0, &b.1.id).cmp(&(a.0, &a.1.id)));
    let updated = entries
        .first()
        .map_or_else(|| "2000-01-01T00:00:00Z".to_string(), |(t, _)| rfc3339(*t));
    Feed {
        id: entry_id(slug, "feed"),
        updated,
        entries: entries.into_iter().map(|(_, e)| e).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_that_depend_only_on_slug_and_key() {
        let a = entry_id("tranemo", "storning/service:wifi:1700000000");
        assert_eq!(a, entry_id("tranemo", "storning/service:wifi:1700000000"));
        assert_ne!(
            a,
            entry_id("ulricehamn", "storning/service:wifi:1700000000")
        );
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a["urn:uuid:".len() + 14..][..1], "8");
    }
}
