//! A real RADIUS server for the `radius` probe's tests: Debian's `freeradius` with a
//! throwaway configuration folder (its own `radiusd.conf`: one client, 127.0.0.1 with the
//! test's shared secret; one user with a clear-text password in a `users` file; PAP only) on
//! 127.0.0.1 and a free UDP port. Rejects are answered at once (`reject_delay = 0`).

use crate::daemon::Daemon;

pub const FREERADIUS: &str = "/usr/sbin/freeradius";

pub struct FreeradiusPeer {
    daemon: Daemon,
    pub port: u16,
}

impl FreeradiusPeer {
    /// Starts it with client 127.0.0.1 sharing `secret`, and `user` with `password`.
    pub fn start(secret: &str, user: &str, password: &str) -> FreeradiusPeer {
        let dir = Daemon::folder("freeradius");
        let root = dir.path().display().to_string();
        let port = free_udp_port();
        for sub in ["run", "log"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("dictionary"),
            "$INCLUDE /usr/share/freeradius/dictionary\n",
        )
        .unwrap();
        crate::files::owner_only(
            &dir.path().join("users"),
            &format!("{user} Cleartext-Password := \"{password}\"\n"),
        );
        let conf = format!(
            r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {root}/log
raddbdir = {root}
radacctdir = {root}/log
name = freeradius
confdir = {root}
modconfdir = {root}
certdir = {root}
cadir = {root}
run_dir = {root}/run
db_dir = {root}
libdir = /usr/lib/freeradius
pidfile = {root}/run/radiusd.pid
max_request_time = 5
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
  auth = yes
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
thread pool {{
  start_servers = 1
  max_servers = 2
  min_spare_servers = 1
  max_spare_servers = 2
}}
client local {{
  ipaddr = 127.0.0.1
  secret = "{secret}"
}}
modules {{
  pap {{
  }}
  files {{
    filename = {root}/users
  }}
}}
server default {{
  listen {{
    type = auth
    ipaddr = 127.0.0.1
    port = {port}
  }}
  authorize {{
    files
    pap
  }}
  authenticate {{
    Auth-Type PAP {{
      pap
    }}
  }}
}}
"#
        );
        crate::files::owner_only(&dir.path().join("radiusd.conf"), &conf);
        let args: Vec<String> = ["-f", "-d", &root, "-l", "stdout"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let daemon = Daemon::start(
            "freeradius",
            FREERADIUS,
            "freeradius",
            &args,
            dir,
            "Ready to process requests",
        );
        FreeradiusPeer { daemon, port }
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }

    /// What the server logged (its Auth lines say why a login failed).
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// A UDP port on 127.0.0.1 that nothing is bound to right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
