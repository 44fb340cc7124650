//! What a received notification leads to. [`Handler::classify`] decides at once (unknown
//! sender, unknown OID, over the flood limit, or a poll to run); [`Handler::confirm`] runs the
//! poll of the sending device's SNMP checks, delivers its results at once and counts the trap
//! as confirmed or not. Unknown senders and OIDs, floods and unconfirmed traps are logged at
//! most once a minute per sender.

use super::delivery::Delivery;
use super::limit::{Flood, LogOnce};
use super::maps::{self, Confirm, Known};
use super::metrics::TrapMetrics;
use super::targets::{Sender, Targets};
use super::Outcome;
use crate::scheduler::run_job;
use driftvakt_common::wire::{ProbeResult, Value};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

/// An uptime under this (seconds) confirms a coldStart/warmStart.
const REBOOT_UPTIME_SECONDS: f64 = 600.0;

/// A notification reduced to what matching needs.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub source: IpAddr,
    /// The agent address of a v1 trap.
    pub agent_addr: Option<IpAddr>,
    /// The notification OID, SNMPv2 form.
    pub oid: Vec<u32>,
}

/// What to do with a notification.
pub enum Decision {
    /// Counted as this; nothing more.
    Done(Outcome),
    /// Poll these devices to confirm `known`.
    Poll {
        targets: Arc<Targets>,
        senders: Vec<Sender>,
        known: Known,
    },
}

/// Shared by the receiver's loop and the poll tasks it starts.
pub struct Handler {
    targets: watch::Receiver<Option<Arc<Targets>>>,
    delivery: Delivery,
    pub metrics: TrapMetrics,
    flood: Mutex<Flood>,
    log: Mutex<LogOnce>,
}

impl Handler {
    pub fn new(
        targets: watch::Receiver<Option<Arc<Targets>>>,
        delivery: Delivery,
        metrics: TrapMetrics,
        flood_limit: u32,
    ) -> Handler {
        Handler {
            targets,
            delivery,
            metrics,
            flood: Mutex::new(Flood::new(flood_limit)),
            log: Mutex::new(LogOnce::new(1)),
        }
    }

    /// Waits until the devices are known (the scheduler published them), so traps that arrive
    /// at start wait in the socket instead of counting as unknown senders.
    pub async fn ready(&self) {
        let mut rx = self.targets.clone();
        let _ = rx.wait_for(|t| t.is_some()).await;
    }

    /// Handles one notification: decided here, the poll (if any) in its own task.
    pub fn handle(self: &Arc<Self>, incoming: Incoming) {
        match self.classify(&incoming, Instant::now()) {
            Decision::Done(o) => self.metrics.count(o),
            Decision::Poll {
                targets,
                senders,
                known,
            } => {
                let me = self.clone();
                tokio::spawn(async move {
                    let o = me.confirm(&targets, &senders, known, incoming.source).await;
                    me.metrics.count(o);
                });
            }
        }
    }

    /// Decides what `t` leads to, counting nothing.
    pub fn classify(&self, t: &Incoming, now: Instant) -> Decision {
        let Some(targets) = self.targets.borrow().clone() else {
            return self.refuse(t, Outcome::UnknownSender, now);
        };
        let senders = targets.find(t.source, t.agent_addr);
        if senders.is_empty() {
            return self.refuse(t, Outcome::UnknownSender, now);
        }
        let Some(known) = maps::lookup(&t.oid) else {
            return self.refuse(t, Outcome::UnknownOid, now);
        };
        let mut flood = self.flood.lock().unwrap_or_else(|e| e.into_inner());
        let allowed: Vec<Sender> = senders
            .iter()
            .filter(|s| flood.allow((s.device.clone(), t.source), now))
            .cloned()
            .collect();
        drop(flood);
        if allowed.is_empty() {
            return self.refuse(t, Outcome::Flooded, now);
        }
        Decision::Poll {
            senders: allowed,
            targets,
            known,
        }
    }

    fn refuse(&self, t: &Incoming, o: Outcome, now: Instant) -> Decision {
        if self.may_log(t.source, o, now) {
            let oid = dotted(&t.oid);
            tracing::warn!(source = %t.source, %oid, result = o.as_str(), "trap ignored (logged once a minute per sender)");
        }
        Decision::Done(o)
    }

    fn may_log(&self, source: IpAddr, o: Outcome, now: Instant) -> bool {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.allow((source, o.as_str()), now)
    }

    /// Polls every SNMP check of `senders` now, delivers the results at once, and says
    /// whether they confirm `known`.
    pub async fn confirm(
        &self,
        targets: &Targets,
        senders: &[Sender],
        known: Known,
        source: IpAddr,
    ) -> Outcome {
        let jobs = senders.iter().flat_map(|s| &s.jobs);
        let polls = jobs.map(|job| run_job(&targets.probers, &targets.metrics, job));
        let results = futures::future::join_all(polls).await;
        let confirmed = results.iter().any(|r| confirms(known.trap.confirm, r));
        self.delivery.deliver(results).await;
        let devices: Vec<&str> = senders.iter().map(|s| s.device.as_str()).collect();
        if confirmed {
            tracing::info!(devices = ?devices, mib = known.mib, trap = known.trap.name, "trap confirmed by the poll");
            Outcome::Confirmed
        } else {
            if self.may_log(source, Outcome::Unconfirmed, Instant::now()) {
                tracing::info!(devices = ?devices, mib = known.mib, trap = known.trap.name, "trap not confirmed by the poll; nothing raised");
            }
            Outcome::Unconfirmed
        }
    }
}

/// Whether a poll's result shows what the trap said.
pub fn confirms(confirm: Confirm, r: &ProbeResult) -> bool {
    let has = |code: &str| r.findings.iter().any(|f| f.code == code);
    r.ok && match confirm {
        Confirm::Finding(code) => has(code),
        Confirm::Cleared(code) => !has(code),
        Confirm::Rebooted => {
            has("rebooted")
                || matches!(r.values.get("sys_uptime_seconds"), Some(Value::Number(s)) if *s < REBOOT_UPTIME_SECONDS)
        }
        Confirm::Answers => true,
    }
}

fn dotted(oid: &[u32]) -> String {
    let parts: Vec<String> = oid.iter().map(u32::to_string).collect();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftvakt_common::wire::Finding;

    fn result(ok: bool, findings: &[&str], uptime: Option<f64>) -> ProbeResult {
        ProbeResult {
            target: "ups".into(),
            check: "snmp".into(),
            time: "2031-01-01T00:00:00Z".parse().unwrap(),
            ok,
            duration_ms: 1.0,
            error: None,
            detail: None,
            findings: findings
                .iter()
                .map(|c| Finding {
                    code: c.to_string(),
                    message: String::new(),
                })
                .collect(),
            values: uptime
                .map(|u| ("sys_uptime_seconds".to_string(), Value::Number(u)))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn the_poll_decides() {
        let on = Confirm::Finding("ups_on_battery");
        assert!(confirms(on, &result(true, &["ups_on_battery"], None)));
        assert!(!confirms(on, &result(true, &[], None)));
        assert!(!confirms(on, &result(false, &["ups_on_battery"], None)));
        let restored = Confirm::Cleared("ups_on_battery");
        assert!(confirms(restored, &result(true, &[], None)));
        assert!(!confirms(
            restored,
            &result(true, &["ups_on_battery"], None)
        ));
        assert!(
            !confirms(restored, &result(false, &[], None)),
            "no answer, no confirmation"
        );
        assert!(confirms(Confirm::Rebooted, &result(true, &[], Some(30.0))));
        assert!(confirms(
            Confirm::Rebooted,
            &result(true, &["rebooted"], Some(9e5))
        ));
        assert!(!confirms(Confirm::Rebooted, &result(true, &[], Some(9e5))));
        assert!(confirms(Confirm::Answers, &result(true, &[], None)));
    }
}
