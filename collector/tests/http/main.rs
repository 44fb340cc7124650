//! The collector's HTTP edge under hostile input, one test binary: ingest limits, the
//! hardening of the listener, and slow and hostile clients against the real binary.

mod hardening_ingest;
mod http_hardening;
mod http_hostile_clients;
