//! A real SIP server for the `sip` probe's tests: Debian's `kamailio` (with
//! `kamailio-tls-modules`) on 127.0.0.1, UDP and TCP on one free port and TLS on another, with
//! the certificate and key the test gives. It answers OPTIONS to the server itself (a URI
//! without a user part) with `200 OK` and every other request with `404 Not Found`.

use crate::daemon::Daemon;

pub const KAMAILIO: &str = "/usr/sbin/kamailio";
pub const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules";

pub struct KamailioPeer {
    daemon: Daemon,
    /// UDP and TCP.
    pub port: u16,
    pub tls_port: u16,
}

impl KamailioPeer {
    /// Starts it serving `cert_pem` (a chain) and `key_pem` over TLS.
    pub fn start(cert_pem: &str, key_pem: &str) -> KamailioPeer {
        assert!(
            std::path::Path::new(&format!("{MODULES}/tls.so")).exists(),
            "{MODULES}/tls.so is missing: install Debian's `kamailio-tls-modules` package \
             (scripts/test does it)"
        );
        let dir = Daemon::folder("kamailio");
        let root = dir.path().display().to_string();
        let (port, tls_port) = (crate::ports::free_port(), crate::ports::free_port());
        std::fs::write(dir.path().join("cert.pem"), cert_pem).unwrap();
        crate::files::owner_only(&dir.path().join("key.pem"), key_pem);
        let tls = format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n\
             require_certificate = no\nprivate_key = {root}/key.pem\ncertificate = {root}/cert.pem\n"
        );
        std::fs::write(dir.path().join("tls.cfg"), tls).unwrap();
        let cfg = format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nfork=yes\nchildren=1\ntcp_children=1\n\
             auto_aliases=no\nlisten=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n\
             listen=tls:127.0.0.1:{tls_port}\nenable_tls=yes\nmpath=\"{MODULES}/\"\n\
             loadmodule \"tls.so\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
             modparam(\"tls\", \"config\", \"{root}/tls.cfg\")\n\
             request_route {{\n  if (method==\"OPTIONS\" && $rU == $null) {{ sl_send_reply(\"200\", \"OK\"); exit; }}\n  \
             sl_send_reply(\"404\", \"Not Found\");\n}}\n"
        );
        let path = dir.path().join("kamailio.cfg");
        std::fs::write(&path, cfg).unwrap();
        let args: Vec<String> = [
            "-f",
            &path.display().to_string(),
            "-DD",
            "-E",
            "-Y",
            &root,
            "-P",
            &format!("{root}/kamailio.pid"),
            "-w",
            &root,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // The workers' module start (sl, stateless) is logged once they listen.
        let daemon = Daemon::start(
            "kamailio",
            KAMAILIO,
            "kamailio",
            &args,
            dir,
            "could not bind tm module",
        );
        wait_tcp(port);
        wait_tcp(tls_port);
        KamailioPeer {
            daemon,
            port,
            tls_port,
        }
    }

    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

/// Waits (at most 10 s) until `port` on 127.0.0.1 accepts.
fn wait_tcp(port: u16) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < until,
            "kamailio does not accept on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
