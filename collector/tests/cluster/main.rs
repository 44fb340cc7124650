//! Several collectors on one database with the real binaries, one test binary: fail-over on
//! one SQLite file and on PostgreSQL (`rig`: nodes, devices, the agent, the SMTP server), and
//! of a replicated PostgreSQL under the pair (`autofailover_rig`: pg_auto_failover), and the
//! pair's rolling upgrade from the previous release (`cluster_upgrade`).

mod autofailover_rig;
mod cluster_autofailover;
mod cluster_failover;
mod cluster_postgres;
mod cluster_upgrade;
mod rig;
