//! Driftvakt's test kit, shared by the agent's and the collector's integration tests (a
//! dev-dependency only, never linked into a binary).
//!
//! Everything a test needs that is not the code under test: free loopback ports ([`ports`]),
//! owner-only secret files ([`files`]), a collector inventory builder ([`inventory`]), the real
//! `driftvakt-collector` and `driftvakt-agent` binaries as child processes killed on drop
//! ([`process`]), the previous release's collector built from its commit ([`previous`]),
//! plain HTTP/1.0 over loopback ([`http`]), and the real peers the tests talk to:
//! an SMTP sink ([`smtp`], aiosmtpd, also with logins over TLS), a throwaway PostgreSQL cluster
//! ([`pg`]), Prometheus ([`prometheus`]) and Chromium over the DevTools protocol ([`devtools`]);
//! the login probes' servers ([`slapd`], [`dovecot`], [`samba`], started as [`daemon`]s with
//! certificates from an openssl CA, [`pki`]); the systemd unit
//! checks ([`units`]) and the agent's spool read raw ([`spool`]).
//!
//! A missing peer fails the test with what to install (never a silent skip); nothing here
//! talks to anything but 127.0.0.0/8.

pub mod daemon;
pub mod devtools;
pub mod dovecot;
pub mod files;
pub mod http;
pub mod inventory;
pub mod pg;
pub mod pki;
pub mod ports;
pub mod previous;
pub mod process;
pub mod prometheus;
pub mod samba;
pub mod slapd;
pub mod smtp;
pub mod spool;
pub mod units;
