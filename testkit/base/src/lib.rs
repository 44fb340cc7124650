//! Driftvakt's test kit, shared by the agent's and the collector's integration tests (a
//! dev-dependency, and a dependency of the soak and bench harnesses; never linked into a binary
//! that ships).
//!
//! Everything a test needs that is not the code under test: free loopback ports ([`ports`]),
//! owner-only secret files ([`files`]), a collector inventory builder ([`inventory`]), the real
//! `driftvakt-collector` and `driftvakt-agent` binaries as child processes killed on drop
//! ([`process`]), the previous release's collector built from its commit ([`previous`]),
//! plain HTTP/1.0 over loopback ([`http`]), and the real peers the tests talk to:
//! an SMTP sink ([`smtp`], aiosmtpd, also with logins over TLS), a throwaway PostgreSQL cluster
//! ([`pg`]), Prometheus ([`prometheus`]), Chromium over the DevTools protocol ([`devtools`]), the
//! servers the `dns`, `sip` and `radius` probes meet: unbound ([`unbound`]), kamailio
//! ([`kamailio`]) and FreeRADIUS ([`freeradius`]), and the login probes' servers ([`slapd`],
//! [`dovecot`], [`samba`]) with certificates from an openssl CA ([`pki`]), each a [`daemon`] in
//! its own process group; the systemd unit
//! checks ([`units`]) and the agent's spool read raw ([`spool`]).
//!
//! A missing peer fails the test with what to install (never a silent skip); nothing here
//! talks to anything but 127.0.0.0/8.

pub mod daemon;
pub mod devtools;
pub mod dovecot;
pub mod files;
pub mod freeradius;
pub mod http;
pub mod inventory;
pub mod kamailio;
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
pub mod unbound;
pub mod units;
