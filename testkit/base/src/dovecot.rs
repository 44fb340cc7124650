//! A throwaway IMAP server (Debian's `dovecot-imapd`) for the `imap` probe: its own
//! `dovecot.conf` in a temp folder, IMAP (STARTTLS) and IMAPS on free loopback ports, a
//! certificate from the test's [`Pki`](crate::pki::Pki), and one user in a passwd-file.

use crate::daemon::{open_dir, Daemon};
use crate::ports::free_port;
use std::path::Path;
use std::process::Command;

pub const DOVECOT: &str = "/usr/sbin/dovecot";
pub const USER: &str = "testanvandare";
pub const PASSWORD: &str = "Imap-losen-1";

/// A running dovecot; stopped when dropped.
pub struct Dovecot {
    daemon: Daemon,
    /// IMAP with STARTTLS.
    pub imap_port: u16,
    /// IMAPS.
    pub imaps_port: u16,
}

impl Dovecot {
    /// Starts dovecot in `dir` serving `cert` and `key`.
    pub fn start(dir: &Path, cert: &Path, key: &Path) -> Dovecot {
        open_dir(dir);
        let mail = dir.join("mail");
        std::fs::create_dir_all(&mail).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&mail, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let users = dir.join("users");
        std::fs::write(&users, format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n")).unwrap();
        let (imap_port, imaps_port) = (free_port(), free_port());
        let conf = dir.join("dovecot.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "base_dir = {d}/run\n\
                 state_dir = {d}/state\n\
                 log_path = /dev/stderr\n\
                 protocols = imap\n\
                 listen = 127.0.0.1\n\
                 ssl = yes\n\
                 ssl_cert = <{cert}\n\
                 ssl_key = <{key}\n\
                 disable_plaintext_auth = yes\n\
                 auth_mechanisms = plain login\n\
                 mail_location = maildir:{d}/mail/%u\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {users}\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=65534 gid=65534 home={d}/mail/%u\n}}\n\
                 service imap-login {{\n  chroot =\n\
                   inet_listener imap {{\n    port = {imap_port}\n  }}\n\
                   inet_listener imaps {{\n    port = {imaps_port}\n    ssl = yes\n  }}\n}}\n\
                 service anvil {{\n  chroot =\n}}\n",
                cert = cert.display(),
                key = key.display(),
                users = users.display(),
            ),
        )
        .unwrap();
        let daemon = Daemon::start_listening(
            "dovecot",
            Command::new(DOVECOT).arg("-F").arg("-c").arg(&conf),
            &dir.join("dovecot.log"),
            &[imap_port, imaps_port],
            "dovecot-imapd",
        );
        Dovecot {
            daemon,
            imap_port,
            imaps_port,
        }
    }

    /// Stops the server (its ports refuse afterwards).
    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}
