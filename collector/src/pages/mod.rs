//! What people read in a browser: the *driftinformation* per municipality for the intranet
//! (`/driftinfo/{kommun}`, its Atom feed and JSON) and the team's status page (`/`).
//!
//! - [`public`] builds what a municipality's staff may see: ongoing disturbances (services
//!   down, dark sites, incidents registered by hand) with their updates, planned maintenance
//!   (active service windows ahead) and what was resolved in the last 30 days. Services and
//!   sites by name only: never an address or a device id.
//! - [`feed`] turns that into Atom entries (störning, uppdatering, åtgärdat, planerat
//!   underhåll) with ids derived from what they are about, so they stay the same across
//!   restarts.
//! - [`team`] builds the operators' view: every site with its devices, state, reason (which
//!   check, which error), since when and what is unreachable behind what.
//! - [`cache`] keeps each municipality's driftinformation built between changes, so that
//!   readers do not each pay for a build (the rules are in its doc).
//! - [`render`] renders them with minijinja (strict undefined, as the mails), from the
//!   templates in `collector/templates/pages/`, each overridable from
//!   `notify.templates_dir/pages/`.
//!
//! All of it is read from the same state everything else uses (`state::load_timelines`, the
//! calendar, the incident tables); nothing here writes.

pub mod cache;
pub mod feed;
pub mod public;
pub mod render;
pub mod team;

pub use public::{driftinfo, ongoing_updates, Disturbance, Driftinfo, Maintenance, OngoingUpdate};

/// The slug of a municipality in URLs: lower case, å/ä → a, ö → o, spaces → `-` (other
/// letters outside a–z, 0–9 are dropped): "Tranemo" → `tranemo`, "Mölndal" → `molndal`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'å' | 'ä' | 'à' | 'á' | 'â' => out.push('a'),
            'ö' | 'ø' | 'ó' | 'ò' | 'ô' => out.push('o'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'ü' | 'ú' => out.push('u'),
            ' ' | '-' | '_' if !out.ends_with('-') => out.push('-'),
            ' ' | '-' | '_' => {}
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out.trim_matches('-').to_string()
}

/// The municipality of the inventory whose slug is `slug`.
pub fn municipality_of(inv: &crate::inventory::Inventory, slug_text: &str) -> Option<String> {
    inv.municipalities()
        .into_iter()
        .find(|m| slug(m) == slug_text)
}

/// An HTML id for `key` (letters, digits and `-`).
pub fn anchor(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{anchor, slug};

    #[test]
    fn anchors_are_letters_digits_and_dashes() {
        assert_eq!(anchor("service:wifi:17"), "service-wifi-17");
    }

    #[test]
    fn slugs_follow_the_rule() {
        assert_eq!(slug("Tranemo"), "tranemo");
        assert_eq!(slug("Ulricehamn"), "ulricehamn");
        assert_eq!(slug("Mölndal"), "molndal");
        assert_eq!(slug("Upplands Väsby"), "upplands-vasby");
        assert_eq!(slug("Håbo"), "habo");
        assert_eq!(slug("Malung-Sälen"), "malung-salen");
    }
}
