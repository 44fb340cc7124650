//! Driftvakt collector: receives probe results from agents, keeps device and service state, and
//! computes availability against the yearly target. See the module docs for each part.

pub mod calendar;
pub mod cli_calendar;
pub mod cli_notify;
pub mod clock;
pub mod notify;
