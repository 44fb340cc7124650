//! Whole-municipality scenarios, one test binary: a site in network namespaces (`rig_site`)
//! going dark end to end, the README's demo without the privilege to ping, and the
//! committee's follow-up stories.

mod demo_unprivileged;
mod e2e_site_dark;
mod followup;
mod intefunktion;
mod rig_site;
mod site_rig;
