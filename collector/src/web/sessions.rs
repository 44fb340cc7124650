//! Sessions, CSRF tokens and the login's limits, in memory.
//!
//! - A session is a random 32-byte id (hex) in the `dv_session` cookie; it ends after
//!   `collector.web.session` without use, or at logout.
//! - A CSRF token is the HMAC-SHA256 of the session (or the proxy's user) under a key drawn at
//!   start: every form carries it, every POST must return it.
//! - The login: at most [`ATTEMPTS_PER_MINUTE`] attempts per address a minute (rate limit), and
//!   an account is locked for `lockout_for` after `lockout_after` failures in a row.

use super::Person;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Login attempts one address may make a minute.
pub const ATTEMPTS_PER_MINUTE: usize = 10;

/// A random token: 32 bytes, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Session {
    person: Person,
    expires: DateTime<Utc>,
}

#[derive(Default)]
struct Failures {
    in_a_row: u32,
    locked_until: Option<DateTime<Utc>>,
}

/// Why a login attempt is not even tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Too many attempts from this address in the last minute.
    RateLimited,
    /// The account is locked until then.
    Locked(DateTime<Utc>),
}

/// Every session of this process, and the login's counters.
pub struct Sessions {
    key: [u8; 32],
    ttl: Duration,
    lockout_after: u32,
    lockout_for: Duration,
    open: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
    attempts: Mutex<HashMap<IpAddr, Vec<DateTime<Utc>>>>,
}

impl Sessions {
    /// Sessions lasting `ttl` without use; accounts locked for `lockout_for` after
    /// `lockout_after` failures in a row.
    pub fn new(ttl: Duration, lockout_after: u32, lockout_for: Duration) -> Sessions {
        Sessions {
            key: rand::random(),
            ttl,
            lockout_after,
            lockout_for,
            open: Mutex::default(),
            failures: Mutex::default(),
            attempts: Mutex::default(),
        }
    }

    /// A new session for `person`; returns its id.
    pub fn open(&self, person: Person, now: DateTime<Utc>) -> String {
        let id = random_token();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|_, s| s.expires > now);
        open.insert(
            id.clone(),
            Session {
                person,
                expires: now + self.ttl,
            },
        );
        id
    }

    /// The person of session `id` while it lasts (each use extends it).
    pub fn person(&self, id: &str, now: DateTime<Utc>) -> Option<Person> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let s = open.get_mut(id).filter(|s| s.expires > now)?;
        s.expires = now + self.ttl;
        Some(s.person.clone())
    }

    /// Ends session `id`.
    pub fn close(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// The CSRF token of `identity` (a session id, or `proxy:` and the user).
    pub fn csrf(&self, identity: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("any key");
        mac.update(b"csrf\0");
        mac.update(identity.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `given` is the CSRF token of `identity` (constant time).
    pub fn csrf_ok(&self, identity: &str, given: &str) -> bool {
        let expected = self.csrf(identity);
        expected.len() == given.len()
            && expected
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Counts an attempt from `peer` for `name`; refuses it when the address is over its rate
    /// or the account is locked.
    pub fn attempt(&self, peer: IpAddr, name: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        {
            let mut attempts = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
            attempts.retain(|_, times| {
                times.retain(|t| now - *t < Duration::minutes(1));
                !times.is_empty()
            });
            let times = attempts.entry(peer).or_default();
            if times.len() >= ATTEMPTS_PER_MINUTE {
                return Err(Refusal::RateLimited);
            }
            times.push(now);
        }
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(name).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(Refusal::Locked(until)),
            _ => Ok(()),
        }
    }

    /// A wrong password for `name`: returns the end of the lockout it starts, if it does.
    pub fn failed(&self, name: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let f = failures.entry(name.to_string()).or_default();
        if f.locked_until.is_some_and(|u| u <= now) {
            *f = Failures::default();
        }
        f.in_a_row += 1;
        if f.in_a_row >= self.lockout_after {
            f.locked_until = Some(now + self.lockout_for);
        }
        f.locked_until
    }

    /// A right password for `name`: its count starts over.
    pub fn succeeded(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::Role;
    use chrono::TimeZone;

    fn anna() -> Person {
        Person {
            name: "anna".into(),
            role: Role::Operator,
        }
    }

    #[test]
    fn sessions_expire_without_use_and_close() {
        let s = Sessions::new(Duration::hours(1), 3, Duration::minutes(15));
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let id = s.open(anna(), t);
        assert_eq!(s.person(&id, t + Duration::minutes(50)), Some(anna()));
        assert_eq!(s.person(&id, t + Duration::minutes(100)), Some(anna()));
        assert_eq!(s.person(&id, t + Duration::minutes(200)), None);
        let id = s.open(anna(), t);
        s.close(&id);
        assert_eq!(s.person(&id, t), None);
        assert!(s.csrf_ok(&id, &s.csrf(&id)));
        assert!(!s.csrf_ok(&id, &s.csrf("another")));
    }

    #[test]
    fn failures_lock_and_addresses_are_rate_limited() {
        let s = Sessions::new(Duration::hours(1), 3, Duration::minutes(15));
        let t = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let peer: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..2 {
            assert_eq!(s.attempt(peer, "anna", t), Ok(()));
            assert_eq!(s.failed("anna", t), None);
        }
        assert_eq!(s.attempt(peer, "anna", t), Ok(()));
        let until = s.failed("anna", t).unwrap();
        assert_eq!(s.attempt(peer, "anna", t), Err(Refusal::Locked(until)));
        assert_eq!(s.attempt(peer, "anna", until), Ok(()));
        // One attempt at `until` so far: nine more fill the minute.
        for _ in 0..ATTEMPTS_PER_MINUTE - 1 {
            assert_eq!(s.attempt(peer, "bo", until), Ok(()));
        }
        assert_eq!(s.attempt(peer, "bo", until), Err(Refusal::RateLimited));
    }
}
