//! From agent to collector with the real binaries, one test binary: assignment, central mode,
//! kills and replays of the agent's spool, a collector whose database was reset, and TLS
//! between them (certificates, client certificates, reloads).

mod delivery_assignment;
mod delivery_central;
mod delivery_kill;
mod delivery_replay;
mod delivery_spool_reset;
mod delivery_tls;
mod delivery_traps;
