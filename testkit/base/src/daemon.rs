//! What the login peers (slapd, dovecot, smbd) share: a daemon in the foreground whose stop is
//! a SIGTERM (so it ends its own children) with SIGKILL after two seconds, waiting for its TCP
//! ports to accept (each in a process group of its own), and a folder that the daemons' unprivileged helpers can enter.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon started by a test; stopped (TERM, then KILL) when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub name: String,
    pub log: std::path::PathBuf,
}

impl Daemon {
    /// Starts `cmd` (stdout and stderr to `log`) and waits until every port in `ports` accepts
    /// on 127.0.0.1; panics with the log and `install` (what to install) when it does not.
    pub fn start(
        name: &str,
        cmd: &mut Command,
        log: &Path,
        ports: &[u16],
        install: &str,
    ) -> Daemon {
        let program = cmd.get_program().to_owned();
        assert!(
            Path::new(&program).exists(),
            "{} is missing: install Debian's `{install}` (scripts/test does)",
            Path::new(&program).display()
        );
        let out = std::fs::File::create(log).unwrap();
        // A process group of its own: smbd ends its children with kill(0, SIGTERM), which
        // would end the test process too.
        use std::os::unix::process::CommandExt;
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (install Debian's `{install}`)"));
        let mut d = Daemon {
            child: Some(child),
            name: name.to_string(),
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for &port in ports {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Some(status) = d.child.as_mut().unwrap().try_wait().unwrap() {
                    panic!("{name} exited with {status}:\n{}", d.log_text());
                }
                assert!(
                    Instant::now() < deadline,
                    "{name} did not listen on 127.0.0.1:{port} within 20 s:\n{}",
                    d.log_text()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        d
    }

    /// SIGTERM, at most two seconds for it to exit, then SIGKILL; waits for the ports to close.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(2);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Makes `dir` enterable by everyone (mode 0755): the daemons' helpers drop privileges.
pub fn open_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs a setup command; panics with its output when it fails.
pub fn run(cmd: &mut Command, install: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install Debian's `{install}`)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
