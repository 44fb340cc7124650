//! Which device a trap is from: the active devices by IP address, each with the SNMP jobs a
//! confirming poll runs, and the probers and metrics those polls use. Rebuilt (and published
//! to the receiver) whenever the scheduler is, so an assignment change reaches traps too.
//! Devices written with a host name instead of an address are not matched.

use crate::config::CheckSpec;
use crate::metrics::AgentMetrics;
use crate::probe::Probers;
use crate::scheduler::Job;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One device a trap can come from.
#[derive(Debug, Clone)]
pub struct Sender {
    pub device: String,
    /// The device's SNMP jobs (none: nothing can confirm its traps).
    pub jobs: Vec<Job>,
}

/// The devices by address, and what their polls need.
pub struct Targets {
    pub probers: Arc<Probers>,
    pub metrics: AgentMetrics,
    by_address: HashMap<IpAddr, Vec<Sender>>,
}

impl Targets {
    /// From the scheduler's jobs: every active device with an IP address.
    pub fn new(probers: Arc<Probers>, metrics: AgentMetrics, jobs: &[Job]) -> Targets {
        let mut by_address: HashMap<IpAddr, Vec<Sender>> = HashMap::new();
        for job in jobs {
            let Ok(ip) = job.device.address.value.parse::<IpAddr>() else {
                continue;
            };
            let senders = by_address.entry(ip.to_canonical()).or_default();
            let i = match senders.iter().position(|s| s.device == job.device.id.value) {
                Some(i) => i,
                None => {
                    senders.push(Sender {
                        device: job.device.id.value.clone(),
                        jobs: Vec::new(),
                    });
                    senders.len() - 1
                }
            };
            if matches!(job.check, CheckSpec::Snmp(_)) {
                senders[i].jobs.push(job.clone());
            }
        }
        Targets {
            probers,
            metrics,
            by_address,
        }
    }

    /// The devices at `ip` (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn at(&self, ip: IpAddr) -> &[Sender] {
        self.by_address
            .get(&ip.to_canonical())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The devices a trap is from: by its source address, else by the agent address a v1 trap
    /// carries (a trap relayed by a proxy).
    pub fn find(&self, source: IpAddr, agent_addr: Option<IpAddr>) -> &[Sender] {
        let direct = self.at(source);
        match agent_addr {
            Some(a) if direct.is_empty() => self.at(a),
            _ => direct,
        }
    }

    /// How many addresses are known.
    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}
