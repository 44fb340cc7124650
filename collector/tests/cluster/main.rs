//! Several collectors on one database with the real binaries, one test binary: fail-over on
//! one SQLite file and on PostgreSQL (`rig`: nodes, devices, the agent, the SMTP server).

mod cluster_failover;
mod cluster_postgres;
mod rig;
