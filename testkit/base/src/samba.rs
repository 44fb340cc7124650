//! A throwaway SMB server (Debian's `samba`) for the `smb` probe: `smbd` in the foreground with
//! its own `smb.conf`, every state folder and the passdb in a temp folder, on a free loopback
//! port, two shares `P` and `G` in temp folders, and a service account added with `smbpasswd
//! -a` to that private passdb. Samba needs a Unix user under every account: the service
//! account's name is mapped (`username map`) to `nobody`, so the machine's users are not
//! touched.

use crate::daemon::{open_dir, Daemon};
use crate::ports::free_port;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const SMBD: &str = "/usr/sbin/smbd";
pub const USER: &str = "svc-driftvakt";
pub const PASSWORD: &str = "Smb-losen-1";
pub const WORKGROUP: &str = "KOMMUN";

/// A running smbd; stopped when dropped.
pub struct Samba {
    daemon: Daemon,
    pub port: u16,
    /// The folders behind the shares `P` and `G`.
    pub p: PathBuf,
    pub g: PathBuf,
}

impl Samba {
    /// Starts smbd in `dir` with the shares P and G (P with a folder `driftvakt`).
    pub fn start(dir: &Path) -> Samba {
        open_dir(dir);
        let (p, g) = (dir.join("P"), dir.join("G"));
        for share in [&p, &g] {
            std::fs::create_dir_all(share).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(share, std::fs::Permissions::from_mode(0o1777)).unwrap();
        }
        std::fs::create_dir_all(p.join("driftvakt")).unwrap();
        std::fs::set_permissions(
            p.join("driftvakt"),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        for sub in ["private", "lock", "state", "cache", "pid", "ncalrpc"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let port = free_port();
        let d = dir.display();
        std::fs::write(dir.join("users.map"), format!("nobody = {USER}\n")).unwrap();
        let conf = dir.join("smb.conf");
        std::fs::write(
            &conf,
            format!(
                "[global]\n  netbios name = DVTEST\n  workgroup = {WORKGROUP}\n\
                 server role = standalone server\n  security = user\n  map to guest = never\n\
                 smb ports = {port}\n  interfaces = 127.0.0.1\n  bind interfaces only = yes\n\
                 private dir = {d}/private\n  lock directory = {d}/lock\n\
                 state directory = {d}/state\n  cache directory = {d}/cache\n\
                 pid directory = {d}/pid\n  ncalrpc dir = {d}/ncalrpc\n\
                 log file = {d}/log.%m\n  passdb backend = tdbsam:{d}/private/passdb.tdb\n\
                 username map = {d}/users.map\n  load printers = no\n\
                 printcap name = /dev/null\n  disable spoolss = yes\n\
                 [P]\n  path = {p}\n  read only = no\n  valid users = nobody\n\
                 [G]\n  path = {g}\n  read only = no\n  valid users = nobody\n",
                p = p.display(),
                g = g.display(),
            ),
        )
        .unwrap();
        add_user(&conf);
        let daemon = Daemon::start_listening(
            "smbd",
            Command::new(SMBD)
                .args(["--foreground", "--no-process-group", "--debug-stdout", "-s"])
                .arg(&conf),
            &dir.join("smbd.log"),
            &[port],
            "samba",
        );
        Samba { daemon, port, p, g }
    }

    /// Stops the server (its port refuses afterwards).
    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// `smbpasswd -a` of the Unix user behind [`USER`] into the private passdb.
fn add_user(conf: &Path) {
    let mut child = Command::new("/usr/bin/smbpasswd")
        .arg("-c")
        .arg(conf)
        .args(["-a", "-s", "nobody"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run smbpasswd: {e} (install Debian's `samba`)"));
    write!(child.stdin.take().unwrap(), "{PASSWORD}\n{PASSWORD}\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "smbpasswd -a failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
