//! Updates of ongoing disturbances, told to the editors as "uppdatering": on every check, the
//! updates written in the last [`RECENT`] of what is disturbed now (incidents registered by
//! hand, and services the probes found down: [`crate::pages::ongoing_updates`]) go to the
//! notifier, which enqueues each once per recipient (its outbox key names the update). An
//! update written through the API or the CLI, in this process or another, is told within one
//! check interval; a restart tells nothing twice.

use crate::app::App;
use crate::availability::ms;
use crate::notify::update::UpdateNotice;
use crate::notify::{Notifier, NotifyStore};
use crate::store::ServiceUpdateStore;
use chrono::{DateTime, Duration, Utc};

/// How old an update may be and still be told (older ones were told, or are news no more).
pub const RECENT: Duration = Duration::hours(24);

/// Hands the recent updates of ongoing disturbances to `notifier`; returns the rows enqueued.
pub fn tell<S: NotifyStore>(
    app: &App,
    notifier: &Notifier<S>,
    store: &dyn ServiceUpdateStore,
    now: DateTime<Utc>,
) -> Result<usize, super::AlertingError> {
    let after = now - RECENT;
    let service_updates = store.since(after)?;
    let manual = app.store.manual_incidents(ms(after), ms(now) + 1)?;
    let manual_recent = manual
        .iter()
        .any(|i| i.end.is_none() && i.updates.iter().any(|u| u.at >= after));
    if service_updates.is_empty() && !manual_recent {
        return Ok(0); // the common case: no state to load
    }
    let tz = notifier.calendar()?.time_zone();
    let mut enqueued = 0;
    for u in crate::pages::ongoing_updates(app, tz, &service_updates, after, now)? {
        let notice = UpdateNotice {
            key: u.key,
            municipality: u.municipality,
            title: u.title,
            places: u.places,
            since: u.since,
            at: u.at,
            text: u.text,
        };
        enqueued += notifier.announce_update(&notice)?.len();
    }
    Ok(enqueued)
}
