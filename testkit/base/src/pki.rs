//! A certificate authority made with the `openssl` CLI for one test, and server certificates
//! it signs for 127.0.0.1: valid for some days, or expired (valid in 2020 only), for the login
//! probes' peers (slapd, dovecot, aiosmtpd).

use crate::daemon::run;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How long a certificate is valid.
#[derive(Debug, Clone, Copy)]
pub enum Validity {
    /// From now for this many days.
    Days(u32),
    /// From 2020-01-01 to 2021-01-01: expired.
    Expired,
}

/// A CA in a folder: `ca.pem`, `ca.key`, and each issued `NAME.pem` and `NAME.key`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// Makes the CA in `dir`.
    pub fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let pki = Pki {
            dir: dir.to_path_buf(),
        };
        run(
            Command::new("openssl")
                .args(["req", "-x509", "-nodes", "-newkey", "ec"])
                .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "60"])
                .args(["-subj", "/CN=Driftvakt test CA"])
                .arg("-keyout")
                .arg(pki.key("ca"))
                .arg("-out")
                .arg(pki.pem("ca")),
            "openssl",
        );
        let db = dir.join("ca-db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("index.txt"), "").unwrap();
        std::fs::write(db.join("serial"), "1000\n").unwrap();
        let config = format!(
            "[ca]\ndefault_ca = dv\n[dv]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\n\
             serial = {db}/serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = supplied\n",
            db = db.display()
        );
        std::fs::write(db.join("ca.cnf"), config).unwrap();
        pki
    }

    pub fn pem(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    /// The CA's certificate (a probe's `ca_file`).
    pub fn ca(&self) -> PathBuf {
        self.pem("ca")
    }

    /// A server certificate `name` for 127.0.0.1 and localhost, signed by the CA. Its key is
    /// readable by everyone: daemons read it after dropping privileges (a test key only).
    pub fn issue(&self, name: &str, validity: Validity) -> (PathBuf, PathBuf) {
        let csr = self.dir.join(format!("{name}.csr"));
        run(
            Command::new("openssl")
                .args(["req", "-new", "-nodes", "-newkey", "ec"])
                .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
                .args(["-subj", "/CN=localhost"])
                .arg("-keyout")
                .arg(self.key(name))
                .arg("-out")
                .arg(&csr),
            "openssl",
        );
        let ext = self.dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            "basicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:localhost, IP:127.0.0.1\n",
        )
        .unwrap();
        let db = self.dir.join("ca-db");
        let mut cmd = Command::new("openssl");
        cmd.args(["ca", "-batch", "-notext", "-config"])
            .arg(db.join("ca.cnf"))
            .arg("-cert")
            .arg(self.pem("ca"))
            .arg("-keyfile")
            .arg(self.key("ca"))
            .arg("-in")
            .arg(&csr)
            .arg("-out")
            .arg(self.pem(name))
            .arg("-extfile")
            .arg(&ext);
        match validity {
            Validity::Days(d) => cmd.args(["-days", &d.to_string()]),
            Validity::Expired => cmd.args([
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20210101000000Z",
            ]),
        };
        run(&mut cmd, "openssl");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.key(name), std::fs::Permissions::from_mode(0o644)).unwrap();
        (self.pem(name), self.key(name))
    }
}
