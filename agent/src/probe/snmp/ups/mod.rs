//! The `ups` profile: the same readings and findings from whichever UPS MIB a device speaks.
//!
//! - [`rfc1628`], [`apc`], [`eaton`], [`mge`], [`liebert`]: each MIB's objects (numeric OIDs)
//!   and how its answers map onto one [`UpsState`]: runtimes converted to minutes (APC
//!   TimeTicks, Eaton and MGE seconds, RFC 1628 and Liebert minutes), charges to percent, each
//!   vendor's status codes onto RFC 1628's.
//! - [`evaluate`]: the values and findings from a [`UpsState`], the same for every MIB, with
//!   out-of-range values reported as unknown, never as findings.
//! - [`read`]: what the prober asks a UPS for. The first probe of a device reads every MIB's
//!   scalars in one GET and [`detect`]s the MIB: the one of the sysObjectID's vendor if it
//!   answers, else RFC 1628 if it answers, else any vendor MIB that answers. The prober
//!   remembers the choice per device and reads only that MIB afterwards (detecting again if it
//!   stops answering); `mib:` on the check skips detection.
//!
//! A UPS that answers SNMP but none of these MIBs reads successfully with no UPS values and a
//! warning ([`unknown_mib_warning`]) naming its sysObjectID and what to configure.

pub mod apc;
pub mod eaton;
pub mod evaluate;
pub mod liebert;
pub mod mge;
pub mod read;
pub mod rfc1628;

pub use evaluate::{Battery, SelfTest, UpsState};

use super::profiles::{read_uptime, Context, Object, Profile, Readings, SYS_OBJECT_ID, SYS_UPTIME};
use crate::config::UpsMib as Mib;
use crate::probe::Outcome;
use driftvakt_common::wire::Value;

/// The profile as the registry knows it; the prober reads UPSes through [`read`], which fills
/// the [`Readings`] with the objects of the MIB it chose (or of all, to detect).
pub const PROFILE: Profile = Profile {
    name: "ups",
    scalars: SYSTEM,
    columns: &[],
    fallback: &[],
    needs_fallback: super::profiles::never,
    read: read_ups,
};

/// The system objects every UPS read includes: sysObjectID (detection, the warning) and
/// sysUpTime (reboots).
pub const SYSTEM: &[Object] = &[
    Object::new("sys_object_id", SYS_OBJECT_ID),
    Object::new("sys_uptime", SYS_UPTIME),
];

/// One MIB: its objects, its vendor's enterprise OID and how its answers read.
#[derive(Debug, Clone, Copy)]
pub struct MibSpec {
    pub mib: Mib,
    /// Scalars, read with one GET; keys are unique across all MIBs.
    pub scalars: &'static [Object],
    /// Columns (alarm tables), walked once the MIB is chosen.
    pub columns: &'static [Object],
    /// sysObjectIDs under this OID are this vendor's (empty for RFC 1628).
    pub enterprise: &'static str,
    /// Maps the answers onto the common state.
    pub state: fn(&Readings) -> UpsState,
}

const SPECS: [MibSpec; 5] = [
    rfc1628::SPEC,
    apc::SPEC,
    eaton::SPEC,
    mge::SPEC,
    liebert::SPEC,
];

/// The objects and reading of `mib`.
pub fn spec(mib: Mib) -> &'static MibSpec {
    SPECS.iter().find(|s| s.mib == mib).unwrap_or(&SPECS[0])
}

/// Whether any of the MIB's scalars answered.
pub fn answers(spec: &MibSpec, r: &Readings) -> bool {
    spec.scalars.iter().any(|o| r.scalar(o.key).is_some())
}

/// The MIB to read from what answered: the sysObjectID vendor's if it answers, else RFC 1628
/// if it answers, else the first vendor MIB that answers.
pub fn detect(r: &Readings) -> Option<Mib> {
    let answering: Vec<Mib> = SPECS
        .iter()
        .filter(|s| answers(s, r))
        .map(|s| s.mib)
        .collect();
    let vendor = r.oid_text("sys_object_id").and_then(|oid| vendor_of(&oid));
    vendor
        .filter(|m| answering.contains(m))
        .or_else(|| answering.contains(&Mib::Rfc1628).then_some(Mib::Rfc1628))
        .or_else(|| answering.first().copied())
}

/// The vendor MIB whose enterprise a sysObjectID lies under.
pub fn vendor_of(sys_object_id: &str) -> Option<Mib> {
    SPECS
        .iter()
        .map(|s| (s.mib, s.enterprise))
        .find_map(|(m, e)| {
            let under = !e.is_empty()
                && sys_object_id
                    .strip_prefix(e)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
            under.then_some(m)
        })
}

/// The scalars to GET: the system objects and one MIB's, or every MIB's (to detect).
pub fn scalars_for(mib: Option<Mib>) -> Vec<Object> {
    let mut out = SYSTEM.to_vec();
    match mib {
        Some(m) => out.extend_from_slice(spec(m).scalars),
        None => SPECS.iter().for_each(|s| out.extend_from_slice(s.scalars)),
    }
    out
}

/// The profile's reading: the MIB in `ctx` (configured or detected by the prober), else the one
/// [`detect`] finds in `r`; with none, a success with a warning and no UPS values.
pub fn read_ups(r: &Readings, ctx: &Context, out: &mut Outcome) {
    read_uptime(r, out);
    let sys_object_id = r.oid_text("sys_object_id");
    if let Some(oid) = &sys_object_id {
        out.values
            .insert("sys_object_id".to_string(), Value::Text(oid.clone()));
    }
    let mib = ctx.ups_mib.or_else(|| detect(r));
    match mib.map(spec).filter(|s| answers(s, r)) {
        Some(s) => evaluate::evaluate(&(s.state)(r), ctx, out),
        None => out.detail = Some(unknown_mib_warning(sys_object_id.as_deref(), ctx.ups_mib)),
    }
}

/// The warning for a UPS that answers SNMP but no UPS MIB we know (or not the configured one).
pub fn unknown_mib_warning(sys_object_id: Option<&str>, configured: Option<Mib>) -> String {
    let oid = sys_object_id.unwrap_or("(not given)");
    let asked = match configured {
        Some(m) => format!(
            "the configured `mib: {}` answers none of its objects",
            m.as_str()
        ),
        None => "none of the known UPS MIBs answers (RFC 1628 UPS-MIB, APC PowerNet-MIB, \
                 Eaton XUPS-MIB, MGE-MIB, LIEBERT-GP-POWER-MIB)"
            .to_string(),
    };
    format!(
        "the UPS answers SNMP (sysObjectID {oid}) but {asked}, so its runtime and battery are \
         not known: enable RFC 1628 (UPS-MIB) on its network card, or set `mib:` on the snmp \
         check to the MIB it speaks (rfc1628, apc, eaton, mge, liebert)"
    )
}
