//! A real DNS server for the `dns` probe's tests: Debian's `unbound` on 127.0.0.1 and a free
//! port (UDP and TCP), answering from a local zone the test gives and nothing else (no
//! recursion, no validation). [`UnboundPeer::stop`] stops it; dropped, it stops too.

use crate::daemon::Daemon;

pub const UNBOUND: &str = "/usr/sbin/unbound";

pub struct UnboundPeer {
    daemon: Daemon,
    pub port: u16,
}

impl UnboundPeer {
    /// Serves `zone` (static: names in it that have no data answer NXDOMAIN) with `records`,
    /// each as unbound's `local-data` writes one (`"www.kommun.test. IN A 192.0.2.10"`).
    pub fn start(zone: &str, records: &[&str]) -> UnboundPeer {
        let dir = Daemon::folder("unbound");
        let port = crate::ports::free_port();
        let data: String = records
            .iter()
            .map(|r| format!("  local-data: \"{r}\"\n"))
            .collect();
        let root = dir.path().display();
        let conf = format!(
            "server:\n  username: \"\"\n  chroot: \"\"\n  directory: \"{root}\"\n  \
             pidfile: \"{root}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  \
             interface: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  do-daemonize: no\n  \
             access-control: 127.0.0.0/8 allow\n  num-threads: 1\n  so-reuseport: no\n  \
             module-config: \"iterator\"\n  local-zone: \"{zone}\" static\n{data}\
             remote-control:\n  control-enable: no\n"
        );
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).unwrap();
        let args = vec!["-d".into(), "-c".into(), path.display().to_string()];
        let daemon = Daemon::start(
            "unbound",
            UNBOUND,
            "unbound",
            &args,
            dir,
            "start of service",
        );
        UnboundPeer { daemon, port }
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}
