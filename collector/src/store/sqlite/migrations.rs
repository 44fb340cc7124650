//! The one numbered migration sequence of the collector's database. Migration `n` (1-based) takes
//! the schema from version `n - 1` to `n`; the version is kept in `PRAGMA user_version`.
//!
//! Rules for the next engineer:
//! - never edit a migration that has been released; append a new one;
//! - a migration runs in one transaction with the version bump, so a crash leaves either the
//!   old or the new schema;
//! - release 0.1.0 wrote version 1 (the `dv_` tables) and created the calendar, notifier and
//!   alerting tables on the side with `CREATE TABLE IF NOT EXISTS`; migrations 2 to 4 bring those
//!   into the sequence with the same statements, so a 0.1.0 database (see
//!   `collector/tests/fixtures/release-0.1.0.db`) migrates with nothing lost;
//! - from migration 13 on a migration only adds (expand), so the previous release runs on the
//!   migrated schema beside this one; one that removes or tightens (contract) is listed in
//!   `store::schema`'s `CONTRACTS`, which raises the compatibility marker every migration
//!   writes from 15 on.

/// Every migration, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: results, batches, outages, flaps, first/last seen, agents, pending re-derivations.
    r"CREATE TABLE dv_results (
    id INTEGER PRIMARY KEY,
    agent TEXT NOT NULL,
    target TEXT NOT NULL,
    check_name TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    degraded INTEGER NOT NULL,
    cause TEXT,
    raw TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    UNIQUE (target, check_name, agent, time_ms)
);
CREATE INDEX dv_results_target_time ON dv_results (target, time_ms);
CREATE TABLE dv_batches (
    agent TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    results INTEGER NOT NULL,
    PRIMARY KEY (agent, batch_id)
);
CREATE TABLE dv_outages (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER,
    kind TEXT NOT NULL,
    cause TEXT,
    PRIMARY KEY (entity, id, start_ms, kind)
);
CREATE TABLE dv_flaps (
    device TEXT NOT NULL,
    agent TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (device, agent, start_ms)
);
CREATE TABLE dv_seen (
    device TEXT PRIMARY KEY,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL
);
CREATE TABLE dv_agents (
    agent TEXT PRIMARY KEY,
    last_seen_ms INTEGER NOT NULL
);
CREATE TABLE dv_pending (
    entity TEXT NOT NULL,
    id TEXT NOT NULL,
    from_ms INTEGER NOT NULL,
    PRIMARY KEY (entity, id)
);",
    // 2: operators' decisions on service windows.
    r"CREATE TABLE IF NOT EXISTS calendar_secondary_activations (
    date          TEXT PRIMARY KEY,
    activated_by  TEXT NOT NULL,
    activated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS calendar_adhoc_windows (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    start_utc     TEXT NOT NULL,
    end_utc       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    cancelled_by  TEXT,
    cancelled_at  TEXT
);",
    // 3: the notifier: outbox, incidents, digests, on-call cases, schedule marks.
    r"CREATE TABLE IF NOT EXISTS notify_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key  TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    sender           TEXT NOT NULL,
    subject          TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    raw              BLOB NOT NULL,
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    due_at           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    sent_at          TEXT,
    oncall_case      TEXT
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (status, due_at);
CREATE INDEX IF NOT EXISTS notify_outbox_recipient ON notify_outbox (recipient, created_at);
CREATE TABLE IF NOT EXISTS notify_incidents (
    key         TEXT PRIMARY KEY,
    incident    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_digest_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    digest_id   INTEGER NOT NULL,
    source      TEXT NOT NULL,
    line        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notify_oncall_cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    device_name   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    since         TEXT NOT NULL,
    UNIQUE (device_id, kind, since)
);
CREATE TABLE IF NOT EXISTS notify_schedule_marks (
    name  TEXT PRIMARY KEY,
    at    TEXT NOT NULL
);",
    // 4: what alerting has announced.
    r"CREATE TABLE IF NOT EXISTS alerting_state (
    key    TEXT PRIMARY KEY,
    since  TEXT NOT NULL,
    event  TEXT NOT NULL
);",
    // 5: a batch's content digest, so a known batch id with other content is a conflict rather
    // than a silent duplicate (batches stored before have none and stay duplicates).
    r"ALTER TABLE dv_batches ADD COLUMN digest TEXT;",
    // 6: when on-call acknowledged a page (it ends the billable time of the case).
    r"ALTER TABLE notify_oncall_cases ADD COLUMN acknowledged_at TEXT;",
    // 7: incidents registered by hand (faults no probe sees) and their updates; the index on
    // `end_utc` lets a status page list the ongoing ones with their latest update.
    r"CREATE TABLE manual_incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    services        TEXT NOT NULL,
    municipalities  TEXT NOT NULL,
    start_utc       TEXT NOT NULL,
    end_utc         TEXT,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX manual_incidents_end ON manual_incidents (end_utc, start_utc);
CREATE TABLE manual_incident_updates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER NOT NULL REFERENCES manual_incidents (id),
    at           TEXT NOT NULL,
    by           TEXT NOT NULL,
    text         TEXT NOT NULL
);
CREATE INDEX manual_incident_updates_incident ON manual_incident_updates (incident_id, at);",
    // 8: when the subject of an on-call case recovered (it ends the billable time).
    r"ALTER TABLE notify_oncall_cases ADD COLUMN resolved_at TEXT;",
    // 9: alert channels beside mail (the outbox row names its channel), and on-call pages with
    // their escalation step and acknowledgement.
    r"ALTER TABLE notify_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'mail';
CREATE TABLE notify_pages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_key     TEXT NOT NULL,
    since            TEXT NOT NULL,
    page             TEXT NOT NULL,
    step             INTEGER NOT NULL,
    next_at          TEXT,
    acknowledged_at  TEXT,
    acknowledged_by  TEXT,
    closed_at        TEXT,
    UNIQUE (incident_key, since)
);",
    // 10: updates an operator adds to a service disturbance the probes found ("Leverantören
    // felsöker, beräknas klart 14.00"); shown on the driftinfo pages and sent as "uppdatering".
    r"CREATE TABLE service_updates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id  TEXT NOT NULL,
    since       TEXT NOT NULL,
    at          TEXT NOT NULL,
    by          TEXT NOT NULL,
    text        TEXT NOT NULL
);
CREATE INDEX service_updates_service ON service_updates (service_id, at);",
    // 11: compact results. Names (agents, devices, checks, causes) interned in `dv_names`; one
    // series per (device, check, agent) with its compaction mark (rows before `compact_ms` are
    // runs; `late_ms` the earliest raw row stored before that mark since); `dv_obs` one row per result (`until_ms`/`count` NULL) or per compacted run; the
    // whole result only for results with findings (`detail`) and for each series' latest
    // (`dv_latest`); an index to forget old batch ids; `dv_results` becomes a read-only view
    // (one row per result or run) for the sqlite3 shell. Every stored result is carried over.
    r"CREATE TABLE dv_names (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE dv_series (
    id INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    check_name INTEGER NOT NULL,
    agent INTEGER NOT NULL,
    compact_ms INTEGER NOT NULL DEFAULT -9223372036854775808,
    late_ms INTEGER,
    UNIQUE (target, check_name, agent)
);
CREATE TABLE dv_obs (
    series INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    cause INTEGER,
    until_ms INTEGER,
    count INTEGER,
    detail TEXT,
    PRIMARY KEY (series, time_ms)
) WITHOUT ROWID;
CREATE TABLE dv_latest (
    series INTEGER PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    raw TEXT NOT NULL
);
INSERT OR IGNORE INTO dv_names (name)
    SELECT agent FROM dv_results UNION SELECT target FROM dv_results
    UNION SELECT check_name FROM dv_results
    UNION SELECT cause FROM dv_results WHERE cause IS NOT NULL;
INSERT INTO dv_series (target, check_name, agent)
    SELECT DISTINCT t.id, c.id, a.id FROM dv_results r
    JOIN dv_names t ON t.name = r.target
    JOIN dv_names c ON c.name = r.check_name
    JOIN dv_names a ON a.name = r.agent;
CREATE TEMP TABLE dv_series_names AS
    SELECT s.id AS id, t.name AS target, c.name AS check_name, a.name AS agent
    FROM dv_series s
    JOIN dv_names t ON t.id = s.target
    JOIN dv_names c ON c.id = s.check_name
    JOIN dv_names a ON a.id = s.agent;
INSERT INTO dv_obs (series, time_ms, flags, cause, detail)
    SELECT s.id, r.time_ms, (r.ok != 0) | ((r.degraded != 0) << 1), n.id,
           CASE WHEN r.degraded != 0 THEN r.raw END
    FROM dv_results r
    JOIN dv_series_names s
      ON s.target = r.target AND s.check_name = r.check_name AND s.agent = r.agent
    LEFT JOIN dv_names n ON n.name = r.cause;
INSERT INTO dv_latest (series, time_ms, raw)
    SELECT s.id, max(r.time_ms), r.raw
    FROM dv_results r
    JOIN dv_series_names s
      ON s.target = r.target AND s.check_name = r.check_name AND s.agent = r.agent
    GROUP BY s.id;
DROP TABLE dv_series_names;
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
    LEFT JOIN dv_names n ON n.id = o.cause;",
    // 12: a pair (or more) of collectors on one database: each node's heartbeat, the one leader
    // lease (holder, fencing epoch, expiry; one row, `holder` empty while nobody ever led) and
    // the epoch under which an outbox row's send began (NULL: claimed, not begun). See
    // `store::cluster` and the `cluster` module.
    r"CREATE TABLE cluster_nodes (
    node          TEXT PRIMARY KEY,
    address       TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    heartbeat_ms  INTEGER NOT NULL
);
CREATE TABLE cluster_lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
INSERT INTO cluster_lease (id, holder, epoch, expires_ms) VALUES (1, '', 0, 0);
ALTER TABLE notify_outbox ADD COLUMN send_epoch INTEGER;",
    // 13: an incident registered by hand may name the device behind it (its root cause), which
    // links it to the outages the probes saw of the same cause (`report::incidents`).
    r"ALTER TABLE manual_incidents ADD COLUMN cause TEXT;",
    // 14: on-call cases registered by hand (calls no alarm raised), billed to a municipality's
    // department (`store::oncall`).
    r"CREATE TABLE oncall_manual_cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    municipality  TEXT NOT NULL,
    department    TEXT NOT NULL,
    start_utc     TEXT NOT NULL,
    end_utc       TEXT NOT NULL,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX oncall_manual_cases_start ON oncall_manual_cases (start_utc);",
    // 15: the schema's compatibility marker (`store::schema`): the oldest schema version a
    // program must know to run on this database, one row, written by every migration from this
    // one on (the version itself stays in `user_version`). Expand only: release 14 runs on it.
    r"CREATE TABLE dv_schema (oldest_compatible INTEGER NOT NULL);",
    // 16: the inventory register's past (`store::register`): a device's municipality, owner
    // and status from a day on, so billing for a period uses the register as it was then.
    // Expand only: a new table.
    r"CREATE TABLE register_changes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device        TEXT NOT NULL,
    day           TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    owner         TEXT NOT NULL,
    status        TEXT NOT NULL
);
CREATE INDEX register_changes_device ON register_changes (device, day);",
    // 17: intefunktion cases registered by hand by the service desk, about one function (a
    // service of `kind: function`) of a municipality (`store::intefunktion`). Expand only.
    r"CREATE TABLE intefunktion_cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id    TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    start_utc     TEXT NOT NULL,
    end_utc       TEXT,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX intefunktion_cases_start ON intefunktion_cases (start_utc);",
    // 18: the operator web's audit log (`store::audit`): who changed what, when and from
    // where, refusals too; appended, never edited. Expand only: a new table.
    r"CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    who      TEXT NOT NULL,
    action   TEXT NOT NULL,
    detail   TEXT NOT NULL,
    peer     TEXT NOT NULL,
    outcome  TEXT NOT NULL
);",
    // 19: the incident (`manual_incidents.id`) the service desk linked an intefunktion case
    // to (`store::intefunktion`). Expand only: a nullable column.
    r"ALTER TABLE intefunktion_cases ADD COLUMN incident_id INTEGER;",
    // 20: topology proposals an operator accepted (`store::topology`): a device's parent as
    // reviewed, which wins over its `parent:` line (the YAML is not rewritten). Expand only.
    r"CREATE TABLE topology_accepted (
    device        TEXT PRIMARY KEY,
    parent        TEXT NOT NULL,
    accepted_at   TEXT NOT NULL
);",
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
