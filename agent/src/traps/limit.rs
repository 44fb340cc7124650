//! Rate limits: the flood limit per (device, source address) and per minute, and at most one
//! log line a minute per sender and kind. Both forget everything once they hold
//! [`MAX_KEYS`] keys, so a spoofed stream of senders cannot grow them without bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The window both limits count in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys kept at most before a limit starts afresh.
pub const MAX_KEYS: usize = 10_000;

/// At most `per_window` events per key in each [`WINDOW`] (fixed windows from a key's first
/// event).
#[derive(Debug)]
pub struct Windowed<K> {
    per_window: u32,
    seen: HashMap<K, (Instant, u32)>,
}

impl<K: Hash + Eq> Windowed<K> {
    pub fn new(per_window: u32) -> Windowed<K> {
        Windowed {
            per_window,
            seen: HashMap::new(),
        }
    }

    /// Counts one event of `key` at `now`; true when it is within the limit.
    pub fn allow(&mut self, key: K, now: Instant) -> bool {
        if self.seen.len() >= MAX_KEYS && !self.seen.contains_key(&key) {
            self.seen.clear();
        }
        let entry = self.seen.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_window
    }
}

/// The flood limit: per device id and source address.
pub type Flood = Windowed<(String, IpAddr)>;
/// The log limit: one line per sender and kind of line a minute.
pub type LogOnce = Windowed<(IpAddr, &'static str)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_port_is_cut_at_the_limit_and_let_through_again_a_minute_later() {
        let mut flood = Flood::new(3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let t0 = Instant::now();
        let key = || ("sw-1".to_string(), ip);
        let allowed: Vec<bool> = (0..5).map(|_| flood.allow(key(), t0)).collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        assert!(flood.allow(("sw-2".to_string(), ip), t0), "another device");
        assert!(flood.allow(key(), t0 + WINDOW));
    }

    #[test]
    fn the_log_limit_says_once_a_minute() {
        let mut log = LogOnce::new(1);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let t0 = Instant::now();
        assert!(log.allow((ip, "unknown_sender"), t0));
        assert!(!log.allow((ip, "unknown_sender"), t0 + Duration::from_secs(59)));
        assert!(log.allow((ip, "unknown_oid"), t0));
        assert!(log.allow((ip, "unknown_sender"), t0 + Duration::from_secs(61)));
    }

    #[test]
    fn many_senders_do_not_grow_the_map_without_bound() {
        let mut log = LogOnce::new(1);
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS as u32 + 10) {
            log.allow((IpAddr::from(i.to_be_bytes()), "unknown_sender"), t0);
        }
        assert!(log.seen.len() <= MAX_KEYS);
    }
}
