//! The PostgreSQL migration sequence: numbered exactly like SQLite's
//! ([`crate::store::sqlite::migrations::MIGRATIONS`]): migration `n` makes the same tables, columns and
//! changes as SQLite's `n`, in PostgreSQL's words (`BIGINT` for SQLite's integers, `BIGSERIAL`
//! for its row ids, `BYTEA` for blobs, `TEXT COLLATE "C"` so text sorts by bytes as in SQLite).
//! A unit test keeps the two sequences the same length: a migration appended to one must be
//! appended to the other.
//!
//! The version is kept in table `dv_schema` (one row), since PostgreSQL has no `user_version`;
//! from migration 15 on, with the schema's compatibility marker beside it
//! ([`crate::store::schema`]).
//! Each migration runs in one transaction with its version bump, under a transaction-scoped
//! advisory lock, so collectors opening the same database at once apply each exactly once.

use super::{Conn, Sql};
use crate::store::schema::{self, SchemaState};
use crate::store::StoreError;
use tokio_postgres::GenericClient;

/// Every migration, in order (see the module doc).
pub const MIGRATIONS: &[&str] = &[
    // 1: results, batches, outages, flaps, first/last seen, agents, pending re-derivations.
    r#"CREATE TABLE dv_results (
    id BIGSERIAL PRIMARY KEY,
    agent TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    check_name TEXT COLLATE "C" NOT NULL,
    time_ms BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    degraded BIGINT NOT NULL,
    cause TEXT COLLATE "C",
    raw TEXT COLLATE "C" NOT NULL,
    batch_id TEXT COLLATE "C" NOT NULL,
    UNIQUE (target, check_name, agent, time_ms)
);
CREATE INDEX dv_results_target_time ON dv_results (target, time_ms);
CREATE TABLE dv_batches (
    agent TEXT COLLATE "C" NOT NULL,
    batch_id TEXT COLLATE "C" NOT NULL,
    received_ms BIGINT NOT NULL,
    results BIGINT NOT NULL,
    PRIMARY KEY (agent, batch_id)
);
CREATE TABLE dv_outages (
    entity TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    kind TEXT COLLATE "C" NOT NULL,
    cause TEXT COLLATE "C",
    PRIMARY KEY (entity, id, start_ms, kind)
);
CREATE TABLE dv_flaps (
    device TEXT COLLATE "C" NOT NULL,
    agent TEXT COLLATE "C" NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (device, agent, start_ms)
);
CREATE TABLE dv_seen (
    device TEXT COLLATE "C" PRIMARY KEY,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL
);
CREATE TABLE dv_agents (
    agent TEXT COLLATE "C" PRIMARY KEY,
    last_seen_ms BIGINT NOT NULL
);
CREATE TABLE dv_pending (
    entity TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    from_ms BIGINT NOT NULL,
    PRIMARY KEY (entity, id)
);"#,
    // 2: operators' decisions on service windows.
    r#"CREATE TABLE calendar_secondary_activations (
    date          TEXT COLLATE "C" PRIMARY KEY,
    activated_by  TEXT COLLATE "C" NOT NULL,
    activated_at  TEXT COLLATE "C" NOT NULL
);
CREATE TABLE calendar_adhoc_windows (
    id            BIGSERIAL PRIMARY KEY,
    start_utc     TEXT COLLATE "C" NOT NULL,
    end_utc       TEXT COLLATE "C" NOT NULL,
    scope         TEXT COLLATE "C" NOT NULL,
    reason        TEXT COLLATE "C" NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    cancelled_by  TEXT COLLATE "C",
    cancelled_at  TEXT COLLATE "C"
);"#,
    // 3: the notifier: outbox, incidents, digests, on-call cases, schedule marks.
    r#"CREATE TABLE notify_outbox (
    id               BIGSERIAL PRIMARY KEY,
    idempotency_key  TEXT COLLATE "C" NOT NULL UNIQUE,
    kind             TEXT COLLATE "C" NOT NULL,
    recipient        TEXT COLLATE "C" NOT NULL,
    sender           TEXT COLLATE "C" NOT NULL,
    subject          TEXT COLLATE "C" NOT NULL,
    message_id       TEXT COLLATE "C" NOT NULL,
    raw              BYTEA NOT NULL,
    status           TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    due_at           TEXT COLLATE "C" NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT COLLATE "C",
    sent_at          TEXT COLLATE "C",
    oncall_case      TEXT COLLATE "C"
);
CREATE INDEX notify_outbox_due ON notify_outbox (status, due_at);
CREATE INDEX notify_outbox_recipient ON notify_outbox (recipient, created_at);
CREATE TABLE notify_incidents (
    key         TEXT COLLATE "C" PRIMARY KEY,
    incident    TEXT COLLATE "C" NOT NULL
);
CREATE TABLE notify_digest_items (
    id          BIGSERIAL PRIMARY KEY,
    digest_id   BIGINT NOT NULL,
    source      TEXT COLLATE "C" NOT NULL,
    line        TEXT COLLATE "C" NOT NULL
);
CREATE TABLE notify_oncall_cases (
    id            BIGSERIAL PRIMARY KEY,
    at            TEXT COLLATE "C" NOT NULL,
    device_id     TEXT COLLATE "C" NOT NULL,
    device_name   TEXT COLLATE "C" NOT NULL,
    kind          TEXT COLLATE "C" NOT NULL,
    municipality  TEXT COLLATE "C" NOT NULL,
    since         TEXT COLLATE "C" NOT NULL,
    UNIQUE (device_id, kind, since)
);
CREATE TABLE notify_schedule_marks (
    name  TEXT COLLATE "C" PRIMARY KEY,
    at    TEXT COLLATE "C" NOT NULL
);"#,
    // 4: what alerting has announced.
    r#"CREATE TABLE alerting_state (
    key    TEXT COLLATE "C" PRIMARY KEY,
    since  TEXT COLLATE "C" NOT NULL,
    event  TEXT COLLATE "C" NOT NULL
);"#,
    // 5: a batch's content digest.
    r#"ALTER TABLE dv_batches ADD COLUMN digest TEXT COLLATE "C";"#,
    // 6: when on-call acknowledged a page.
    r#"ALTER TABLE notify_oncall_cases ADD COLUMN acknowledged_at TEXT COLLATE "C";"#,
    // 7: incidents registered by hand and their updates.
    r#"CREATE TABLE manual_incidents (
    id              BIGSERIAL PRIMARY KEY,
    title           TEXT COLLATE "C" NOT NULL,
    description     TEXT COLLATE "C" NOT NULL,
    services        TEXT COLLATE "C" NOT NULL,
    municipalities  TEXT COLLATE "C" NOT NULL,
    start_utc       TEXT COLLATE "C" NOT NULL,
    end_utc         TEXT COLLATE "C",
    created_by      TEXT COLLATE "C" NOT NULL,
    created_at      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX manual_incidents_end ON manual_incidents (end_utc, start_utc);
CREATE TABLE manual_incident_updates (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES manual_incidents (id),
    at           TEXT COLLATE "C" NOT NULL,
    by           TEXT COLLATE "C" NOT NULL,
    text         TEXT COLLATE "C" NOT NULL
);
CREATE INDEX manual_incident_updates_incident ON manual_incident_updates (incident_id, at);"#,
    // 8: when the subject of an on-call case recovered.
    r#"ALTER TABLE notify_oncall_cases ADD COLUMN resolved_at TEXT COLLATE "C";"#,
    // 9: alert channels beside mail, and on-call pages.
    r#"ALTER TABLE notify_outbox ADD COLUMN channel TEXT COLLATE "C" NOT NULL DEFAULT 'mail';
CREATE TABLE notify_pages (
    id               BIGSERIAL PRIMARY KEY,
    incident_key     TEXT COLLATE "C" NOT NULL,
    since            TEXT COLLATE "C" NOT NULL,
    page             TEXT COLLATE "C" NOT NULL,
    step             BIGINT NOT NULL,
    next_at          TEXT COLLATE "C",
    acknowledged_at  TEXT COLLATE "C",
    acknowledged_by  TEXT COLLATE "C",
    closed_at        TEXT COLLATE "C",
    UNIQUE (incident_key, since)
);"#,
    // 10: updates an operator adds to a service disturbance the probes found.
    r#"CREATE TABLE service_updates (
    id          BIGSERIAL PRIMARY KEY,
    service_id  TEXT COLLATE "C" NOT NULL,
    since       TEXT COLLATE "C" NOT NULL,
    at          TEXT COLLATE "C" NOT NULL,
    by          TEXT COLLATE "C" NOT NULL,
    text        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX service_updates_service ON service_updates (service_id, at);"#,
    // 11: compact results (see SQLite's 11): names, series, observations, latest; every stored
    // result carried over; `dv_results` becomes a read-only view.
    r#"CREATE TABLE dv_names (
    id BIGSERIAL PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL UNIQUE
);
CREATE TABLE dv_series (
    id BIGSERIAL PRIMARY KEY,
    target BIGINT NOT NULL,
    check_name BIGINT NOT NULL,
    agent BIGINT NOT NULL,
    compact_ms BIGINT NOT NULL DEFAULT -9223372036854775808,
    late_ms BIGINT,
    UNIQUE (target, check_name, agent)
);
CREATE TABLE dv_obs (
    series BIGINT NOT NULL,
    time_ms BIGINT NOT NULL,
    flags BIGINT NOT NULL,
    cause BIGINT,
    until_ms BIGINT,
    count BIGINT,
    detail TEXT COLLATE "C",
    PRIMARY KEY (series, time_ms)
);
CREATE TABLE dv_latest (
    series BIGINT PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    raw TEXT COLLATE "C" NOT NULL
);
INSERT INTO dv_names (name)
    SELECT agent FROM dv_results UNION SELECT target FROM dv_results
    UNION SELECT check_name FROM dv_results
    UNION SELECT cause FROM dv_results WHERE cause IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO dv_series (target, check_name, agent)
    SELECT DISTINCT t.id, c.id, a.id FROM dv_results r
    JOIN dv_names t ON t.name = r.target
    JOIN dv_names c ON c.name = r.check_name
    JOIN dv_names a ON a.name = r.agent;
CREATE TEMP TABLE dv_series_names ON COMMIT DROP AS
    SELECT s.id AS id, t.name AS target, c.name AS check_name, a.name AS agent
    FROM dv_series s
    JOIN dv_names t ON t.id = s.target
    JOIN dv_names c ON c.id = s.check_name
    JOIN dv_names a ON a.id = s.agent;
INSERT INTO dv_obs (series, time_ms, flags, cause, detail)
    SELECT s.id, r.time_ms,
           (CASE WHEN r.ok != 0 THEN 1 ELSE 0 END) | (CASE WHEN r.degraded != 0 THEN 2 ELSE 0 END),
           n.id, CASE WHEN r.degraded != 0 THEN r.raw END
    FROM dv_results r
    JOIN dv_series_names s
      ON s.target = r.target AND s.check_name = r.check_name AND s.agent = r.agent
    LEFT JOIN dv_names n ON n.name = r.cause;
INSERT INTO dv_latest (series, time_ms, raw)
    SELECT DISTINCT ON (s.id) s.id, r.time_ms, r.raw
    FROM dv_results r
    JOIN dv_series_names s
      ON s.target = r.target AND s.check_name = r.check_name AND s.agent = r.agent
    ORDER BY s.id, r.time_ms DESC;
DROP TABLE dv_results;
CREATE INDEX dv_batches_received ON dv_batches (received_ms);
CREATE VIEW dv_results AS
    SELECT a.name AS agent, t.name AS target, c.name AS check_name, o.time_ms AS time_ms,
           o.flags & 1 AS ok, (o.flags >> 1) & 1 AS degraded, n.name AS cause,
           coalesce(o.until_ms, o.time_ms) AS until_ms, coalesce(o.count, 1) AS count
    FROM dv_obs o
    JOIN dv_series s ON s.id = o.series
    JOIN dv_names t ON t.id = s.target
    JOIN dv_names c ON c.id = s.check_name
    JOIN dv_names a ON a.id = s.agent
    LEFT JOIN dv_names n ON n.id = o.cause;"#,
    // 12: the cluster's heartbeats, leader lease and fenced sends (see SQLite's 12).
    r#"CREATE TABLE cluster_nodes (
    node          TEXT COLLATE "C" PRIMARY KEY,
    address       TEXT COLLATE "C" NOT NULL,
    started_ms    BIGINT NOT NULL,
    heartbeat_ms  BIGINT NOT NULL
);
CREATE TABLE cluster_lease (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    holder      TEXT COLLATE "C" NOT NULL,
    epoch       BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);
INSERT INTO cluster_lease (id, holder, epoch, expires_ms) VALUES (1, '', 0, 0);
ALTER TABLE notify_outbox ADD COLUMN send_epoch BIGINT;"#,
    // 13: the device behind an incident registered by hand (see the SQLite migration 13).
    r#"ALTER TABLE manual_incidents ADD COLUMN cause TEXT;"#,
    // 14: on-call cases registered by hand (see the SQLite migration 14).
    r#"CREATE TABLE oncall_manual_cases (
    id            BIGSERIAL PRIMARY KEY,
    municipality  TEXT COLLATE "C" NOT NULL,
    department    TEXT COLLATE "C" NOT NULL,
    start_utc     TEXT COLLATE "C" NOT NULL,
    end_utc       TEXT COLLATE "C" NOT NULL,
    title         TEXT COLLATE "C" NOT NULL,
    description   TEXT COLLATE "C" NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX oncall_manual_cases_start ON oncall_manual_cases (start_utc);"#,
    // 15: the schema's compatibility marker beside the version (see the SQLite migration 15).
    r#"ALTER TABLE dv_schema ADD COLUMN oldest_compatible BIGINT;"#,
    // 16: the inventory register's past (see the SQLite migration 16).
    r#"CREATE TABLE register_changes (
    id            BIGSERIAL PRIMARY KEY,
    device        TEXT COLLATE "C" NOT NULL,
    day           TEXT COLLATE "C" NOT NULL,
    municipality  TEXT COLLATE "C" NOT NULL,
    owner         TEXT COLLATE "C" NOT NULL,
    status        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX register_changes_device ON register_changes (device, day);"#,
    // 17: intefunktion cases registered by hand (see the SQLite migration 17).
    r#"CREATE TABLE intefunktion_cases (
    id            BIGSERIAL PRIMARY KEY,
    service_id    TEXT COLLATE "C" NOT NULL,
    municipality  TEXT COLLATE "C" NOT NULL,
    start_utc     TEXT COLLATE "C" NOT NULL,
    end_utc       TEXT COLLATE "C",
    title         TEXT COLLATE "C" NOT NULL,
    description   TEXT COLLATE "C" NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL
);
CREATE INDEX intefunktion_cases_start ON intefunktion_cases (start_utc);"#,
    // 18: the operator web's audit log (see the SQLite migration 18).
    r#"CREATE TABLE audit_log (
    id       BIGSERIAL PRIMARY KEY,
    at       TEXT COLLATE "C" NOT NULL,
    who      TEXT COLLATE "C" NOT NULL,
    action   TEXT COLLATE "C" NOT NULL,
    detail   TEXT COLLATE "C" NOT NULL,
    peer     TEXT COLLATE "C" NOT NULL,
    outcome  TEXT COLLATE "C" NOT NULL
);"#,
    // 19: the incident an intefunktion case is linked to (see the SQLite migration 19).
    r#"ALTER TABLE intefunktion_cases ADD COLUMN incident_id BIGINT;"#,
    // 20: accepted topology proposals (see the SQLite migration 20).
    r#"CREATE TABLE topology_accepted (
    device        TEXT COLLATE "C" PRIMARY KEY,
    parent        TEXT COLLATE "C" NOT NULL,
    accepted_at   TEXT COLLATE "C" NOT NULL
);"#,
];

/// The schema version this program writes (the same as SQLite's).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Serializes migrations between collectors (any constant; "dv" in ASCII).
const MIGRATION_LOCK: i64 = 0x6476;

/// The stored schema version (0 for an empty database).
pub async fn schema_version(c: &mut Conn) -> Result<i64, StoreError> {
    let exists = c
        .sql()
        .one("SELECT to_regclass('dv_schema') IS NOT NULL", &[])
        .await?;
    if !exists.try_get::<_, bool>(0)? {
        return Ok(0);
    }
    let row = c.sql().opt("SELECT version FROM dv_schema", &[]).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
}

/// The database's schema as this program finds it (version and compatibility marker).
pub async fn schema_state(c: &mut Conn) -> Result<SchemaState, StoreError> {
    let version = schema_version(c).await?;
    Ok(SchemaState {
        version,
        oldest_compatible: marker(c.sql(), version).await?,
        supported: SCHEMA_VERSION,
    })
}

/// The compatibility marker of a database at `version`, if it has one.
async fn marker<C: GenericClient>(
    mut sql: Sql<'_, C>,
    version: i64,
) -> Result<Option<i64>, StoreError> {
    if version < schema::MARKER_SINCE {
        return Ok(None);
    }
    let row = sql
        .opt("SELECT oldest_compatible FROM dv_schema", &[])
        .await?;
    Ok(row
        .map(|r| r.try_get::<_, Option<i64>>(0))
        .transpose()?
        .flatten())
}

/// Runs the migrations the database lacks, each in one transaction with its version bump and
/// compatibility marker. A newer database is left as it is when its marker lets this program
/// run on it ([`schema::check_newer`]).
pub async fn migrate(c: &mut Conn) -> Result<(), StoreError> {
    loop {
        let mut tx = c.tx().await?;
        tx.sql()
            .exec("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.sql()
            .batch("CREATE TABLE IF NOT EXISTS dv_schema (version BIGINT NOT NULL)")
            .await?;
        let row = tx.sql().opt("SELECT version FROM dv_schema", &[]).await?;
        let version: i64 = row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        if version > SCHEMA_VERSION {
            let oldest = marker(tx.sql(), version).await?;
            return schema::check_newer(version, oldest, SCHEMA_VERSION);
        }
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            return Ok(());
        };
        let next = version + 1;
        tx.sql().batch(sql).await?;
        tx.sql().exec("DELETE FROM dv_schema", &[]).await?;
        if next >= schema::MARKER_SINCE {
            tx.sql()
                .exec(
                    "INSERT INTO dv_schema (version, oldest_compatible) VALUES ($1, $2)",
                    &[&next, &schema::oldest_compatible(next)],
                )
                .await?;
        } else {
            tx.sql()
                .exec("INSERT INTO dv_schema (version) VALUES ($1)", &[&next])
                .await?;
        }
        tx.commit().await?;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_like_sqlite() {
        assert_eq!(
            super::MIGRATIONS.len(),
            crate::store::sqlite::migrations::MIGRATIONS.len(),
            "append the PostgreSQL migration with the same number as the SQLite one"
        );
    }
}
