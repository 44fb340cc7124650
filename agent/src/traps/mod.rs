//! SNMP traps and informs: a UPS on battery is known in seconds, not at the next poll.
//!
//! - [`receiver`]: the UDP receiver (`agent.traps`), async-snmp's `NotificationReceiver`:
//!   v1 and v2c traps, v2c and v3 informs (acknowledged), v3 traps with each sender's engine
//!   id taken from its message (keys localized per sender, nothing to configure per device).
//! - [`engine`]: the receiver's own SNMPv3 engine (id and boots, kept in the spool folder).
//! - [`targets`]: which device a trap is from, by source address (and agent address in v1),
//!   rebuilt with the scheduler.
//! - [`maps`]: the known notification OIDs, one file per MIB, and what a poll must show.
//! - [`handle`]: what a trap leads to: counted, rate-limited, and for a known trap from a
//!   known device an immediate poll of that device, whose result is delivered at once
//!   ([`delivery`]: into the spool and the pusher woken, or into the caller's channel).
//! - [`limit`]: the flood limit per device and source, and at most one log line a minute
//!   per sender.
//! - [`metrics`]: the counter `driftvakt_traps_total` by result.
//!
//! Traps are never the only truth: the trap itself raises nothing. The poll it triggers is an
//! ordinary result (findings such as `ups_on_battery` come from it, as from any poll); a trap
//! that the poll does not confirm is counted (`unconfirmed`) and logged, nothing more.

pub mod delivery;
pub mod engine;
pub mod handle;
pub mod limit;
pub mod maps;
pub mod metrics;
pub mod receiver;
pub mod targets;

/// What became of a received notification: the `result` label of `driftvakt_traps_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A known trap the poll of its device confirmed.
    Confirmed,
    /// A known trap the poll did not confirm (or the device has no SNMP check to poll).
    Unconfirmed,
    /// From an address no device has.
    UnknownSender,
    /// From a device, but an OID none of the maps know.
    UnknownOid,
    /// Over the flood limit of its device and source: dropped.
    Flooded,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Confirmed,
        Outcome::Unconfirmed,
        Outcome::UnknownSender,
        Outcome::UnknownOid,
        Outcome::Flooded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Unconfirmed => "unconfirmed",
            Outcome::UnknownSender => "unknown_sender",
            Outcome::UnknownOid => "unknown_oid",
            Outcome::Flooded => "flooded",
        }
    }
}
