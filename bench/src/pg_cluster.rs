//! A throwaway PostgreSQL 15 for `collector-ingest --postgres`: `initdb` in a fresh temp folder
//! (data and unix socket inside it), started with `pg_ctl` as the `postgres` OS user (initdb
//! refuses root), listening on 127.0.0.1 only on a free port, trust authentication for its own
//! loopback connections, a database per run. fsync stays ON (the default), as on a real server,
//! so the figures are honest. Stopped (`pg_ctl stop -m fast`) and removed on drop; it never
//! touches a system cluster.

use crate::sys::free_port;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's `postgresql-15` puts its programs.
const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running throwaway cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
    next: usize,
}

fn program(name: &str) -> Result<PathBuf> {
    let path = Path::new(BIN).join(name);
    if !path.exists() {
        bail!(
            "{} is missing: install Debian's `postgresql` package (PostgreSQL 15)",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `cmd`; its output in the error when it fails.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot run"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `program args…` as the `postgres` OS user.
fn as_postgres(program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program);
    cmd
}

/// The `postgres` user's uid and gid.
fn postgres_ids() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output()?;
        if !out.status.success() {
            bail!("there is no `postgres` OS user: install Debian's `postgresql` package");
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

impl PgCluster {
    /// initdb + start (a few seconds).
    pub fn start() -> Result<PgCluster> {
        let dir = tempfile::Builder::new()
            .prefix("driftvakt-bench-pg-")
            .tempdir()?;
        let (uid, gid) = postgres_ids()?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        let data = dir.path().join("data");
        run(
            as_postgres(&program("initdb")?).arg("-D").arg(&data).args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--locale=C",
                "-E",
                "UTF8",
            ]),
            "initdb",
        )?;
        let cluster = PgCluster {
            port: free_port()?,
            dir,
            next: 0,
        };
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            cluster.port,
            cluster.dir.path().display()
        );
        run(
            as_postgres(&program("pg_ctl")?)
                .arg("-D")
                .arg(&data)
                .args(["-o", &options, "-l"])
                .arg(cluster.dir.path().join("log"))
                .args(["-w", "start"]),
            "pg_ctl start",
        )?;
        Ok(cluster)
    }

    /// A new empty database; its URL (no password: trust).
    pub fn create_database(&mut self) -> Result<String> {
        self.next += 1;
        let name = format!("bench{}", self.next);
        run(
            Command::new(program("createdb")?)
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", &name]),
            "createdb",
        )?;
        Ok(format!(
            "postgres://postgres@127.0.0.1:{}/{name}",
            self.port
        ))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Ok(pg_ctl) = program("pg_ctl") {
            let _ = as_postgres(&pg_ctl)
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "fast", "-w", "stop"])
                .output();
        }
    }
}
