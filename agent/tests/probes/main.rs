//! The network probes against real peers, one test binary: TCP, HTTP(S) with certificates
//! made in the test, ICMP on loopback and to a host in a network namespace (`rig_net`), and
//! the agent without the privilege to ping; DNS, SIP and RADIUS against unbound, kamailio and
//! FreeRADIUS started here (`services`); the login probes against slapd, dovecot, aiosmtpd and
//! smbd (`logins`).

mod http_functions;
mod icmp_unprivileged;
mod logins;
mod probes;
mod rig_net;
mod services;
