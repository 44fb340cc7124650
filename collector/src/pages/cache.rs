//! The driftinformation of each municipality, built once and read by every reader until it
//! goes stale: at region scale a page is read by hundreds of intranet browsers a minute and
//! its build reads the state of every device, so readers must not each pay for a build.
//!
//! **When a page is built again** (the rules, in order):
//! 1. Never built, or an operator wrote something through this process since its build
//!    ([`PageCache::written`]: an incident, an update, a service window), or the reader's
//!    `version` differs from the build's (the caller's fingerprint of what it read to decide,
//!    e.g. the operators' updates, whoever wrote them): the reader waits for a new build, so
//!    an operator sees their own change at once.
//! 2. A page that is *expensive* (its last build took [`BACKGROUND_FROM`] or more) is not
//!    built again within ten times its build's duration of the last build: rebuilding it
//!    costs at most a tenth of a core, however often the state changes.
//! 3. The state changed since the build (the core's change signal, [`crate::app::App::subscribe`]),
//!    or the page is older than twenty times its build's duration (at least [`MIN_AGE`], at
//!    most [`MAX_AGE`]: what another process wrote, the CLI or the other collector of a pair,
//!    and the passing of time): a cheap page is built again while the reader waits; an expensive one is built in
//!    the background while readers get the one they had.
//! 4. Otherwise the reader gets the page as built.
//!
//! Builds of one municipality never run side by side: a reader who must wait for a build
//! waits for the one already running, and takes its page.

use crate::state::Changes;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A build that takes at least this long is rebuilt in the background (rule 3).
pub const BACKGROUND_FROM: Duration = Duration::from_millis(50);
/// Unchanged, a page is served at least this long (what another process wrote shows then).
pub const MIN_AGE: Duration = Duration::from_secs(1);
/// No page is served older than this.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// Built pages by key (a municipality's slug), of type `T`.
pub struct PageCache<T> {
    slots: Mutex<HashMap<String, Arc<Slot<T>>>>,
    /// Bumped by every operator's write through this process.
    written: AtomicU64,
}

impl<T> Default for PageCache<T> {
    fn default() -> Self {
        PageCache {
            slots: Mutex::default(),
            written: AtomicU64::new(0),
        }
    }
}

struct Slot<T> {
    /// Held while the page is built.
    building: Arc<tokio::sync::Mutex<()>>,
    built: Mutex<Option<Built<T>>>,
}

struct Built<T> {
    page: Arc<T>,
    /// Subscribed when the build began: changed means the state moved on since.
    changes: watch::Receiver<Changes>,
    written: u64,
    version: u64,
    at: Instant,
    cost: Duration,
}

impl<T> Clone for Built<T> {
    fn clone(&self) -> Self {
        Built {
            page: self.page.clone(),
            changes: self.changes.clone(),
            written: self.written,
            version: self.version,
            at: self.at,
            cost: self.cost,
        }
    }
}

/// What a build began from (rule 1).
#[derive(Debug, Clone, Copy)]
struct Stamp {
    written: u64,
    version: u64,
}

/// What a reader does with the page it found.
#[derive(Debug, PartialEq, Eq)]
enum Use {
    Serve,
    ServeAndRebuild,
    Wait,
}

impl<T: Send + Sync + 'static> PageCache<T> {
    /// An operator wrote something the pages show (rule 1).
    pub fn written(&self) {
        self.written.fetch_add(1, Ordering::SeqCst);
    }

    /// The page of `key`, built by `build` when the rules above say so. `changes` is the
    /// core's change signal, subscribed as a build begins; `version` the reader's fingerprint
    /// (rule 1). A failed build is not kept: its error goes to the reader who waited for it.
    pub async fn get<E, F, Fut>(
        &self,
        key: &str,
        version: u64,
        changes: watch::Receiver<Changes>,
        build: F,
    ) -> Result<Arc<T>, E>
    where
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let slot = self.slot(key);
        let found = slot.built.lock().expect("page cache").clone();
        let stamp = Stamp {
            written: self.written_count(),
            version,
        };
        if let Some(b) = &found {
            match self.use_of(b, version) {
                Use::Serve => return Ok(b.page.clone()),
                Use::ServeAndRebuild => {
                    if let Ok(guard) = slot.building.clone().try_lock_owned() {
                        let slot = slot.clone();
                        tokio::spawn(async move {
                            let _guard = guard;
                            let _ = Self::build_into(&slot, changes, stamp, build).await;
                        });
                    }
                    return Ok(b.page.clone());
                }
                Use::Wait => {}
            }
        }
        let _guard = slot.building.lock().await;
        // Another reader may have built it while this one waited.
        if let Some(b) = slot.built.lock().expect("page cache").clone() {
            if self.use_of(&b, version) == Use::Serve && found.as_ref().is_none_or(|f| f.at != b.at)
            {
                return Ok(b.page);
            }
        }
        Self::build_into(&slot, changes, stamp, build).await
    }

    fn written_count(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    fn slot(&self, key: &str) -> Arc<Slot<T>> {
        let mut slots = self.slots.lock().expect("page cache");
        slots
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    building: Arc::default(),
                    built: Mutex::new(None),
                })
            })
            .clone()
    }

    /// The rules of the module doc for a page built as `b`.
    fn use_of(&self, b: &Built<T>, version: u64) -> Use {
        if b.written != self.written_count() || b.version != version {
            return Use::Wait;
        }
        let age = b.at.elapsed();
        let expensive = b.cost >= BACKGROUND_FROM;
        if expensive && age < b.cost * 10 {
            return Use::Serve;
        }
        let changed = b.changes.has_changed().unwrap_or(true);
        if !changed && age < (b.cost * 20).clamp(MIN_AGE, MAX_AGE) {
            return Use::Serve;
        }
        if expensive {
            Use::ServeAndRebuild
        } else {
            Use::Wait
        }
    }

    async fn build_into<E, F, Fut>(
        slot: &Slot<T>,
        changes: watch::Receiver<Changes>,
        stamp: Stamp,
        build: F,
    ) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut changes = changes;
        changes.mark_unchanged();
        let at = Instant::now();
        let page = Arc::new(build().await?);
        *slot.built.lock().expect("page cache") = Some(Built {
            page: page.clone(),
            changes,
            written: stamp.written,
            version: stamp.version,
            at,
            cost: at.elapsed(),
        });
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    type Cache = PageCache<usize>;

    async fn get(cache: &Cache, tx: &watch::Sender<Changes>, builds: &Arc<AtomicUsize>) -> usize {
        let builds = builds.clone();
        *cache
            .get::<(), _, _>("m0", 0, tx.subscribe(), move || async move {
                Ok(builds.fetch_add(1, Ordering::SeqCst) + 1)
            })
            .await
            .unwrap()
    }

    fn changed(tx: &watch::Sender<Changes>) {
        let mut c = Changes::default();
        c.devices.insert("sw1".into(), 0);
        tx.send_replace(c);
    }

    #[tokio::test]
    async fn a_page_is_built_once_until_the_state_changes_or_an_operator_writes() {
        let (cache, tx, builds) = (
            Cache::default(),
            watch::Sender::new(Changes::default()),
            Arc::default(),
        );
        assert_eq!(get(&cache, &tx, &builds).await, 1);
        assert_eq!(
            get(&cache, &tx, &builds).await,
            1,
            "unchanged: the same page"
        );
        changed(&tx);
        assert_eq!(
            get(&cache, &tx, &builds).await,
            2,
            "a cheap page is rebuilt on change"
        );
        assert_eq!(get(&cache, &tx, &builds).await, 2);
        cache.written();
        assert_eq!(
            get(&cache, &tx, &builds).await,
            3,
            "an operator's write is shown at once"
        );
    }

    #[tokio::test]
    async fn an_expensive_page_is_served_while_it_is_rebuilt_and_not_rebuilt_too_often() {
        let cache = Arc::new(Cache::default());
        let tx = watch::Sender::new(Changes::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let slow = |builds: Arc<AtomicUsize>| {
            move || async move {
                tokio::time::sleep(Duration::from_millis(60)).await;
                Ok::<_, ()>(builds.fetch_add(1, Ordering::SeqCst) + 1)
            }
        };
        let first = cache
            .get("m0", 0, tx.subscribe(), slow(builds.clone()))
            .await
            .unwrap();
        assert_eq!(*first, 1);
        changed(&tx);
        // Within ten build times: the page as built, no rebuild.
        let again = cache
            .get("m0", 0, tx.subscribe(), slow(builds.clone()))
            .await
            .unwrap();
        assert_eq!((*again, builds.load(Ordering::SeqCst)), (1, 1));
        tokio::time::sleep(Duration::from_millis(700)).await;
        // Past them: still the old page at once, and one rebuild behind it.
        let t0 = Instant::now();
        let stale = cache
            .get("m0", 0, tx.subscribe(), slow(builds.clone()))
            .await
            .unwrap();
        assert_eq!(*stale, 1);
        assert!(
            t0.elapsed() < Duration::from_millis(30),
            "{:?}",
            t0.elapsed()
        );
        let also = cache
            .get("m0", 0, tx.subscribe(), slow(builds.clone()))
            .await
            .unwrap();
        assert_eq!(*also, 1, "one rebuild at a time");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(builds.load(Ordering::SeqCst), 2);
        let fresh = cache
            .get("m0", 0, tx.subscribe(), slow(builds.clone()))
            .await
            .unwrap();
        assert_eq!(*fresh, 2);
    }

    #[tokio::test]
    async fn readers_waiting_for_a_build_share_it() {
        let cache = Arc::new(Cache::default());
        let tx = watch::Sender::new(Changes::default());
        let builds = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..20)
            .map(|_| {
                let (cache, rx, builds) = (cache.clone(), tx.subscribe(), builds.clone());
                tokio::spawn(async move {
                    *cache
                        .get::<(), _, _>("m0", 0, rx, move || async move {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(builds.fetch_add(1, Ordering::SeqCst) + 1)
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for r in readers {
            assert_eq!(r.await.unwrap(), 1);
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }
}
