//! State: the pure machine that derives device and service state from probe results
//! ([`machine`], its rules in the module doc), and the one read model everything else uses:
//! re-derivation of stored outages ([`rederive`], with each device's recent history in memory:
//! [`tails`]), effective timelines ([`timelines`]), current
//! status with root causes ([`status`]), the parent chain ([`lineage`]), what ingest has
//! taken in, for `/metrics` ([`ingested`]), and the queue of batches waiting to be stored
//! together ([`group`]: group commit).

pub mod group;
pub mod ingested;
pub mod lineage;
pub mod machine;
pub mod rederive;
pub mod status;
pub mod tails;
pub mod timelines;

pub use group::{BatchQueue, Queued};
pub use ingested::IngestMetrics;
pub use lineage::ancestors;
pub use machine::*;
pub use rederive::{agent_fault, observation, recompute, rederive_device, settle, Changes};
pub use status::{status, EntityStatus, Status};
pub use tails::Tails;
pub use timelines::{load_timelines, service_timelines};
