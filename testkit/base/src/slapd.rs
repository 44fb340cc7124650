//! A throwaway OpenLDAP server (Debian's `slapd`) for the `ldap` probe: its own `slapd.conf`
//! and mdb database in a temp folder, LDAPS and plain LDAP (with StartTLS) on free loopback
//! ports, a certificate from the test's [`Pki`](crate::pki::Pki), and a directory with a
//! service account, a test account and two groups (the test account in `G-Personal` only).

use crate::daemon::{open_dir, run, Daemon};
use crate::ports::free_port;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const BASE: &str = "dc=kommun,dc=test";
pub const SERVICE_DN: &str = "cn=svc-driftvakt,ou=konton,dc=kommun,dc=test";
pub const SERVICE_PASSWORD: &str = "Tjanst-losen-1";
pub const TEST_DN: &str = "cn=testanvandare,ou=konton,dc=kommun,dc=test";
/// The group the test account is a member of.
pub const GROUP_DN: &str = "cn=G-Personal,ou=grupper,dc=kommun,dc=test";
/// A group the test account is not a member of.
pub const OTHER_GROUP_DN: &str = "cn=G-Ekonomi,ou=grupper,dc=kommun,dc=test";

/// A running slapd; stopped when dropped.
pub struct Slapd {
    daemon: Daemon,
    /// Plain LDAP (StartTLS).
    pub ldap_port: u16,
    /// LDAPS.
    pub ldaps_port: u16,
}

impl Slapd {
    /// Loads the directory into `dir/db` and starts slapd serving `cert` and `key`.
    pub fn start(dir: &Path, cert: &Path, key: &Path) -> Slapd {
        open_dir(dir);
        let db = dir.join("db");
        std::fs::create_dir_all(&db).unwrap();
        let conf = dir.join("slapd.conf");
        std::fs::write(&conf, config(dir, cert, key)).unwrap();
        let ldif = dir.join("directory.ldif");
        std::fs::write(&ldif, DIRECTORY.replace("{password}", SERVICE_PASSWORD)).unwrap();
        run(
            Command::new("/usr/sbin/slapadd")
                .arg("-f")
                .arg(&conf)
                .arg("-l")
                .arg(&ldif),
            "slapd",
        );
        let (ldap_port, ldaps_port) = (free_port(), free_port());
        let urls = format!("ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/");
        let daemon = Daemon::start_listening(
            "slapd",
            Command::new(SLAPD)
                .args(["-d", "0", "-f"])
                .arg(&conf)
                .args(["-h", &urls]),
            &dir.join("slapd.log"),
            &[ldap_port, ldaps_port],
            "slapd",
        );
        Slapd {
            daemon,
            ldap_port,
            ldaps_port,
        }
    }

    /// Stops the server (its ports refuse afterwards).
    pub fn stop(&mut self) {
        self.daemon.stop();
    }
}

fn config(dir: &Path, cert: &Path, key: &Path) -> String {
    let p = |p: PathBuf| p.display().to_string();
    format!(
        "include /etc/ldap/schema/core.schema\n\
         include /etc/ldap/schema/cosine.schema\n\
         include /etc/ldap/schema/inetorgperson.schema\n\
         modulepath /usr/lib/ldap\n\
         moduleload back_mdb\n\
         pidfile {pid}\n\
         TLSCertificateFile {cert}\n\
         TLSCertificateKeyFile {key}\n\
         database mdb\n\
         maxsize 10485760\n\
         suffix \"{BASE}\"\n\
         rootdn \"cn=admin,{BASE}\"\n\
         directory {db}\n\
         access to * by users read by anonymous auth\n",
        pid = p(dir.join("slapd.pid")),
        cert = cert.display(),
        key = key.display(),
        db = p(dir.join("db")),
    )
}

const DIRECTORY: &str = "dn: dc=kommun,dc=test
objectClass: dcObject
objectClass: organization
dc: kommun
o: Kommunen

dn: ou=konton,dc=kommun,dc=test
objectClass: organizationalUnit
ou: konton

dn: ou=grupper,dc=kommun,dc=test
objectClass: organizationalUnit
ou: grupper

dn: cn=svc-driftvakt,ou=konton,dc=kommun,dc=test
objectClass: inetOrgPerson
cn: svc-driftvakt
sn: Driftvakt
userPassword: {password}

dn: cn=testanvandare,ou=konton,dc=kommun,dc=test
objectClass: inetOrgPerson
cn: testanvandare
sn: Testanvändare

dn: cn=G-Personal,ou=grupper,dc=kommun,dc=test
objectClass: groupOfNames
cn: G-Personal
member: cn=testanvandare,ou=konton,dc=kommun,dc=test

dn: cn=G-Ekonomi,ou=grupper,dc=kommun,dc=test
objectClass: groupOfNames
cn: G-Ekonomi
member: cn=svc-driftvakt,ou=konton,dc=kommun,dc=test
";
