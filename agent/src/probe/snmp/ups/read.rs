//! What the prober asks a UPS for: the configured or remembered MIB, or every MIB once to
//! detect it, then the chosen MIB's alarm columns.

use super::{answers, detect, scalars_for, spec, Mib};
use crate::probe::snmp::client::{ClientError, SnmpClient};
use crate::probe::snmp::profiles::Readings;
use crate::probe::snmp::read_objects;

/// Reads a UPS. `configured` is the check's `mib:`; `remembered` the MIB detected on an earlier
/// probe. Returns what was read and the MIB it speaks (`None`: no known UPS MIB answers, or the
/// configured one does not).
///
/// A remembered MIB that no longer answers (a new card, RFC 1628 switched off) is detected
/// again in the same probe.
pub async fn read<C: SnmpClient>(
    client: &C,
    configured: Option<Mib>,
    remembered: Option<Mib>,
) -> Result<(Readings, Option<Mib>), ClientError> {
    if let Some(mib) = configured {
        let s = spec(mib);
        let r = read_objects(client, &scalars_for(Some(mib)), s.columns).await?;
        let answered = answers(s, &r);
        return Ok((r, answered.then_some(mib)));
    }
    if let Some(mib) = remembered {
        let s = spec(mib);
        let r = read_objects(client, &scalars_for(Some(mib)), s.columns).await?;
        if answers(s, &r) {
            return Ok((r, Some(mib)));
        }
    }
    let mut r = read_objects(client, &scalars_for(None), &[]).await?;
    let Some(mib) = detect(&r) else {
        return Ok((r, None));
    };
    let columns = spec(mib).columns;
    if !columns.is_empty() {
        // The alarm tables are optional: a refused walk leaves them out.
        if let Ok(more) = read_objects(client, &[], columns).await {
            r.columns.extend(more.columns);
        }
    }
    Ok((r, Some(mib)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::snmp::client::{Answer, Oid, SnmpValue};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// An agent serving a fixed set of scalars and counting GETs.
    struct Agent {
        objects: BTreeMap<Oid, SnmpValue>,
        gets: Mutex<Vec<usize>>,
    }

    impl Agent {
        fn new(objects: &[(&str, SnmpValue)]) -> Agent {
            Agent {
                objects: objects
                    .iter()
                    .map(|(o, v)| (Oid::of(o), v.clone()))
                    .collect(),
                gets: Mutex::new(Vec::new()),
            }
        }
    }

    impl SnmpClient for Agent {
        async fn get(&self, oids: &[Oid]) -> Answer {
            self.gets.lock().unwrap().push(oids.len());
            Ok(oids
                .iter()
                .map(|o| {
                    let v = self.objects.get(o).cloned();
                    (o.clone(), v.unwrap_or(SnmpValue::NoSuchObject))
                })
                .collect())
        }
        async fn walk(&self, root: &Oid) -> Answer {
            Ok(self
                .objects
                .iter()
                .filter(|(o, _)| o.0.starts_with(&root.0))
                .map(|(o, v)| (o.clone(), v.clone()))
                .collect())
        }
    }

    fn apc_with_rfc1628_too() -> Agent {
        Agent::new(&[
            (
                "1.3.6.1.2.1.1.2.0",
                SnmpValue::ObjectId(Oid::of("1.3.6.1.4.1.318.1.3.2.12")),
            ),
            ("1.3.6.1.2.1.1.3.0", SnmpValue::TimeTicks(500)),
            ("1.3.6.1.2.1.33.1.2.3.0", SnmpValue::Integer(300)),
            (
                "1.3.6.1.4.1.318.1.1.1.2.2.3.0",
                SnmpValue::TimeTicks(1_800_000),
            ),
        ])
    }

    #[tokio::test]
    async fn the_sysobjectid_vendor_wins_when_its_mib_answers() {
        let agent = apc_with_rfc1628_too();
        let (r, mib) = read(&agent, None, None).await.unwrap();
        assert_eq!(mib, Some(Mib::Apc));
        assert!(r.scalar("apc_runtime_ticks").is_some());
        // Remembered: only the APC scalars and the system ones are asked for.
        let (_, mib) = read(&agent, None, Some(Mib::Apc)).await.unwrap();
        assert_eq!(mib, Some(Mib::Apc));
        let gets = agent.gets.lock().unwrap().clone();
        assert_eq!(gets[1], 2 + spec(Mib::Apc).scalars.len());
    }

    #[tokio::test]
    async fn rfc1628_when_the_vendor_mib_is_silent_and_redetect_when_it_stops() {
        let agent = Agent::new(&[
            (
                "1.3.6.1.2.1.1.2.0",
                SnmpValue::ObjectId(Oid::of("1.3.6.1.4.1.318.1.3.2.12")),
            ),
            ("1.3.6.1.2.1.33.1.2.3.0", SnmpValue::Integer(300)),
        ]);
        let (_, mib) = read(&agent, None, None).await.unwrap();
        assert_eq!(mib, Some(Mib::Rfc1628));
        // Remembered APC but APC is gone: detected again, in the same probe.
        let (_, mib) = read(&agent, None, Some(Mib::Apc)).await.unwrap();
        assert_eq!(mib, Some(Mib::Rfc1628));
    }

    #[tokio::test]
    async fn a_configured_mib_is_read_alone_and_none_when_silent() {
        let agent = apc_with_rfc1628_too();
        let (_, mib) = read(&agent, Some(Mib::Rfc1628), None).await.unwrap();
        assert_eq!(mib, Some(Mib::Rfc1628));
        let (r, mib) = read(&agent, Some(Mib::Liebert), None).await.unwrap();
        assert_eq!(mib, None);
        assert!(r.scalar("sys_uptime").is_some());
    }
}
