//! A replicated PostgreSQL that fails over by itself, for `cluster_autofailover`: Debian's
//! `pg_auto_failover` (`pg_autoctl`, package `postgresql-15-auto-failover`) with a monitor and
//! two data nodes on 127.0.0.1 and free ports, in a temp folder owned by the `postgres` OS user
//! (as [`driftvakt_collector_testkit::pg`], trust authentication on loopback, no TLS).
//!
//! Each `pg_autoctl` (the keeper) runs in a process group of its own, with the postgres it
//! starts: [`Formation::kill`] SIGKILLs the group, keeper and postgres at once, as a host that
//! dies (the keeper restarts a postgres killed alone).
//! The monitor's health checks are shortened (1 s period, 2 s until a node is unhealthy, 5 s
//! for a lost primary to demote) so a failover fits in a test; the data nodes keep
//! pg_auto_failover's replication defaults (synchronous: `synchronous_standby_names = 'ANY 1
//! (…)'` while the standby is healthy, `synchronous_commit = on`) and `fsync` on.
//! Everything is killed and removed on drop.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PG_AUTOCTL: &str = "/usr/bin/pg_autoctl";
const EXTENSION: &str = "/usr/lib/postgresql/15/lib/pgautofailover.so";
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The database the data nodes serve.
pub const DBNAME: &str = "driftvakt";

/// One `pg_autoctl run` (or `create … --run`): its process group.
struct Keeper {
    pgdata: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Keeper {
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The negative pid: the whole group (keeper, its services, postgres).
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
        }
    }
}

/// The monitor and the two data nodes.
pub struct Formation {
    monitor: Keeper,
    nodes: Vec<Keeper>,
    dir: tempfile::TempDir,
}

fn require(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's `postgresql-15-auto-failover` (pg_auto_failover \
         for PostgreSQL 15; scripts/test does it)"
    );
}

impl Formation {
    /// Monitor, then node 0 (the first primary), then node 1 (its synchronous standby); returns
    /// once node 1 is `secondary`.
    pub fn start() -> Formation {
        for p in [PG_AUTOCTL, EXTENSION, "/usr/lib/postgresql/15/bin/pg_ctl"] {
            require(p);
        }
        let dir = tempfile::Builder::new()
            .prefix("driftvakt-pgaf-")
            .tempdir()
            .unwrap();
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success(), "chown the rig folder to the postgres user");
        let keeper = |name: &str| Keeper {
            pgdata: dir.path().join(name),
            port: driftvakt_collector_testkit::ports::free_port(),
            child: None,
        };
        let mut f = Formation {
            monitor: keeper("monitor"),
            nodes: vec![keeper("node1"), keeper("node2")],
            dir,
        };
        f.create_monitor();
        for i in 0..2 {
            f.create_node(i);
        }
        f
    }

    /// `pg_autoctl ARGS` as the `postgres` user, its config and state inside the rig folder.
    fn autoctl(&self, args: &[&str]) -> Command {
        let home = self.dir.path();
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", PG_AUTOCTL])
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("PG_CONFIG", format!("{BIN}/pg_config"))
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `cmd` in its own process group, logging to `log`.
    fn spawn(mut cmd: Command, log: &Path) -> Child {
        let out = std::fs::File::create(log).unwrap();
        cmd.stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pg_autoctl: {e}"))
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn create_monitor(&mut self) {
        let (pgdata, port) = (self.monitor.pgdata.clone(), self.monitor.port.to_string());
        let out = self
            .autoctl(&["create", "monitor", "--pgctl", &format!("{BIN}/pg_ctl")])
            .arg("--pgdata")
            .arg(&pgdata)
            .args(["--pgport", &port, "--hostname", "127.0.0.1"])
            .args(["--auth", "trust", "--no-ssl"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_autoctl create monitor: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = pgdata.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(
            "pgautofailover.health_check_period = 1000\n\
             pgautofailover.health_check_timeout = 1000\n\
             pgautofailover.health_check_max_retries = 1\n\
             pgautofailover.health_check_retry_delay = 500\n\
             pgautofailover.node_considered_unhealthy_timeout = 2000\n\
             pgautofailover.primary_demote_timeout = 5000\n",
        );
        std::fs::write(&conf, text).unwrap();
        let mut cmd = self.autoctl(&["run", "--pgdata"]);
        cmd.arg(&pgdata);
        self.monitor.child = Some(Formation::spawn(cmd, &self.log("monitor")));
        self.wait("the monitor answers", Duration::from_secs(30), |f| {
            f.monitor_sql("SELECT 1").is_some()
        });
    }

    /// `pg_autoctl create postgres … --run` for node `i`; waits until it is the only node
    /// (node 0) or a synchronous standby (node 1) and node 0 the primary.
    fn create_node(&mut self, i: usize) {
        let (pgdata, port) = (self.nodes[i].pgdata.clone(), self.nodes[i].port.to_string());
        let monitor = format!(
            "postgres://autoctl_node@127.0.0.1:{}/pg_auto_failover?sslmode=disable",
            self.monitor.port
        );
        let name = format!("node{}", i + 1);
        let mut cmd = self.autoctl(&["create", "postgres", "--pgctl", &format!("{BIN}/pg_ctl")]);
        cmd.arg("--pgdata")
            .arg(&pgdata)
            .args([
                "--pgport",
                &port,
                "--hostname",
                "127.0.0.1",
                "--name",
                &name,
            ])
            .args(["--auth", "trust", "--no-ssl", "--monitor", &monitor])
            .args(["--dbname", DBNAME, "--run"]);
        self.nodes[i].child = Some(Formation::spawn(cmd, &self.log(&name)));
        // Alone, node 0 is `single`; node 1 joins as a synchronous `secondary`.
        let want = if i == 0 { "single" } else { "secondary" };
        self.wait(&format!("{name} is {want}"), Duration::from_secs(90), |f| {
            if i == 1 {
                // pg_basebackup waits for a spread checkpoint (minutes): ask for it now.
                f.node_sql(0, "CHECKPOINT");
            }
            f.state(i)
                .is_some_and(|(reported, goal)| reported == want && goal == want)
        });
        if i == 1 {
            self.wait("node1 is primary", Duration::from_secs(30), |f| {
                f.state(0)
                    .is_some_and(|(r, g)| r == "primary" && g == "primary")
            });
        }
    }

    /// Waits until `done`, failing with the keepers' logs.
    pub fn wait(&self, what: &str, limit: Duration, done: impl Fn(&Formation) -> bool) -> Duration {
        let start = Instant::now();
        while !done(self) {
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?}: {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        start.elapsed()
    }

    /// The monitor's view of the nodes and the tail of every keeper's log.
    pub fn logs(&self) -> String {
        let nodes = self.monitor_sql(
            "SELECT string_agg(nodename || ' ' || reportedstate || ' ' || goalstate, '; ') \
             FROM pgautofailover.node",
        );
        let mut out = format!("monitor: {nodes:?}\n");
        for name in ["monitor", "node1", "node2", "node1-again"] {
            let text = std::fs::read_to_string(self.log(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            out.push_str(&format!("--- {name}\n{tail}\n"));
        }
        out
    }

    fn psql(port: u16, db: &str, user: &str, sql: &str) -> Option<String> {
        let out = Command::new(format!("{BIN}/psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                user,
                "-d",
                db,
            ])
            .args(["-XAtq", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn monitor_sql(&self, sql: &str) -> Option<String> {
        Formation::psql(self.monitor.port, "pg_auto_failover", "autoctl_node", sql)
    }

    /// One statement on data node `i`'s database, as `postgres`.
    pub fn node_sql(&self, i: usize, sql: &str) -> Option<String> {
        Formation::psql(self.nodes[i].port, DBNAME, "postgres", sql)
    }

    /// Node `i`'s (reported, goal) state on the monitor.
    pub fn state(&self, i: usize) -> Option<(String, String)> {
        let sql = format!(
            "SELECT reportedstate || ' ' || goalstate FROM pgautofailover.node \
             WHERE nodename = 'node{}'",
            i + 1
        );
        let row = self.monitor_sql(&sql)?;
        let (r, g) = row.split_once(' ')?;
        Some((r.to_string(), g.to_string()))
    }

    /// The multi-host URL of the two data nodes, as `collector.database`.
    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{DBNAME}?target_session_attrs=read-write",
            self.nodes[0].port, self.nodes[1].port
        )
    }

    /// SIGKILL of data node `i`'s keeper and postgres, at once.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Node `i`'s keeper started again on its data (`pg_autoctl run`).
    pub fn restart(&mut self, i: usize) {
        let mut cmd = self.autoctl(&["run", "--pgdata"]);
        cmd.arg(&self.nodes[i].pgdata);
        let log = self.log(&format!("node{}-again", i + 1));
        self.nodes[i].child = Some(Formation::spawn(cmd, &log));
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        self.monitor.kill();
        // A postgres that outlived its group (it should not): stop it at once.
        for pgdata in self.nodes.iter().chain([&self.monitor]).map(|k| &k.pgdata) {
            if pgdata.join("postmaster.pid").exists() {
                let _ = Command::new("runuser")
                    .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl")])
                    .arg("-D")
                    .arg(pgdata)
                    .args(["-m", "immediate", "-w", "stop"])
                    .output();
            }
        }
    }
}
