//! A real SMTP server for the tests (aiosmtpd under Debian's Python: `tests/smtp/smtp_sink.py`,
//! started per test on a free port and killed on drop), and a minimal `.eml` reader for what
//! it received (headers, RFC 2047 subjects, multipart, base64 and quoted-printable, RFC 2231
//! file names).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const PYTHON: &str = "/usr/bin/python3";

/// A real SMTP server: `tests/smtp/smtp_sink.py` under Debian's Python with aiosmtpd.
pub struct SmtpPeer {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    /// Write 451, 550 or nothing here to switch refusing on and off.
    pub refuse_file: PathBuf,
}

impl SmtpPeer {
    /// Starts a server on a free port writing into `dir`.
    pub fn start(dir: &Path) -> SmtpPeer {
        Self::start_on(dir, crate::ports::free_port())
    }

    pub fn start_on(dir: &Path, port: u16) -> SmtpPeer {
        Self::start_with(dir, port, &[])
    }

    /// A submission server for the `smtp` login probe: logins (AUTH PLAIN and LOGIN, over TLS
    /// only) checked against `accounts` (`user:password` lines), STARTTLS required, or TLS from
    /// the first byte when `implicit`, with `cert` and `key`.
    pub fn start_login(
        dir: &Path,
        accounts: &Path,
        cert: &Path,
        key: &Path,
        implicit: bool,
    ) -> SmtpPeer {
        let mut args = vec![
            "--auth-file".into(),
            accounts.display().to_string(),
            "--tls-cert".into(),
            cert.display().to_string(),
            "--tls-key".into(),
            key.display().to_string(),
        ];
        if implicit {
            args.push("--implicit-tls".into());
        }
        Self::start_with(dir, crate::ports::free_port(), &args)
    }

    fn start_with(dir: &Path, port: u16, extra: &[String]) -> SmtpPeer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/smtp_sink.py");
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: these tests need Debian's Python with python3-aiosmtpd"
        );
        let refuse_file = dir.with_extension("refuse");
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir)
            .arg("--refuse-file")
            .arg(&refuse_file)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON} {}: {e}", script.display()));
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if !line.starts_with("READY") {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the SMTP test server did not start (is python3-aiosmtpd installed? \
                 `apt-get install python3-aiosmtpd`): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        SmtpPeer {
            child,
            port,
            dir: dir.to_path_buf(),
            refuse_file,
        }
    }

    pub fn refuse(&self, code: &str) {
        std::fs::write(&self.refuse_file, code).unwrap();
    }

    /// The messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<Eml> {
        read_eml_dir(&self.dir)
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every `.eml` in `dir`, sorted by file name.
pub fn read_eml_dir(dir: &Path) -> Vec<Eml> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Eml::parse(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// A parsed message: headers, decoded subject, and decoded leaf parts.
#[derive(Debug, Clone)]
pub struct Eml {
    pub headers: Vec<(String, String)>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// (content type, filename, decoded body) of attachments.
    pub attachments: Vec<(String, String, String)>,
}

impl Eml {
    pub fn parse(raw: &str) -> Eml {
        let raw = raw.replace("\r\n", "\n");
        let (headers, body) = split_headers(&raw);
        let mut eml = Eml {
            subject: decode_words(&header(&headers, "subject").unwrap_or_default()),
            headers: headers.clone(),
            text: String::new(),
            html: String::new(),
            attachments: Vec::new(),
        };
        eml.walk(&headers, body);
        eml
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    /// The SMTP recipients (the sink's `X-Envelope-To`) or else `To`.
    pub fn to(&self) -> String {
        self.header("x-envelope-to")
            .or_else(|| self.header("to"))
            .unwrap_or_default()
    }

    fn walk(&mut self, headers: &[(String, String)], body: &str) {
        let ct = header(headers, "content-type").unwrap_or_else(|| "text/plain".into());
        let lower = ct.to_ascii_lowercase();
        if lower.starts_with("multipart/") {
            let boundary = param(&ct, "boundary").expect("multipart without boundary");
            for part in body.split(&format!("--{boundary}")).skip(1) {
                if part.starts_with("--") {
                    break;
                }
                let part = part.strip_prefix('\n').unwrap_or(part);
                let (h, b) = split_headers(part);
                self.walk(&h, b);
            }
            return;
        }
        let cte = header(headers, "content-transfer-encoding").unwrap_or_default();
        let decoded = decode_body(body, &cte.to_ascii_lowercase());
        let disposition = header(headers, "content-disposition").unwrap_or_default();
        if disposition.starts_with("attachment") {
            let name = param(&disposition, "filename").unwrap_or_default();
            self.attachments.push((lower, name, decoded));
        } else if lower.starts_with("text/html") {
            self.html = decoded;
        } else {
            self.text = decoded;
        }
    }
}

fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == &name.to_ascii_lowercase())
        .map(|(_, v)| v.clone())
}

/// A header parameter, also when it is split into RFC 2231 continuations (`name*0=`,
/// `name*1=`, ...; percent-encoded after `charset''` where the key ends in `*`), as long file
/// names are.
fn param(value: &str, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = value
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    let name = name.to_ascii_lowercase();
    if let Some((_, v)) = pairs.iter().find(|(k, _)| *k == name) {
        return Some(v.clone());
    }
    let mut out = String::new();
    for n in 0.. {
        let plain = format!("{name}*{n}");
        let Some((k, v)) = pairs
            .iter()
            .find(|(k, _)| *k == plain || *k == format!("{plain}*"))
        else {
            break;
        };
        if k.ends_with('*') {
            let v = if n == 0 {
                v.splitn(3, '\'').nth(2).unwrap_or(v)
            } else {
                v
            };
            out.push_str(&percent_decode(v));
        } else {
            out.push_str(v);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_body(body: &str, cte: &str) -> String {
    let body = body.trim_end_matches('\n');
    match cte {
        "base64" => String::from_utf8(base64(&body.replace(['\n', ' '], ""))).unwrap(),
        "quoted-printable" => String::from_utf8(quoted_printable(body, false)).unwrap(),
        _ => body.to_string(),
    }
}

/// Decodes RFC 2047 encoded words (adjacent words join without the space between them).
pub fn decode_words(s: &str) -> String {
    let mut out = String::new();
    let mut last_was_word = false;
    for token in s.split(' ') {
        if let Some(inner) = token.strip_prefix("=?").and_then(|t| t.strip_suffix("?=")) {
            let mut it = inner.splitn(3, '?');
            let (_charset, enc, text) =
                (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            let bytes = if enc.eq_ignore_ascii_case("b") {
                base64(text)
            } else {
                quoted_printable(text, true)
            };
            if !out.is_empty() && !last_was_word {
                out.push(' ');
            }
            out.push_str(&String::from_utf8(bytes).unwrap());
            last_was_word = true;
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(token);
            last_was_word = false;
        }
    }
    out
}

/// Base64 with or without padding (encoded words and bodies both occur).
fn base64(s: &str) -> Vec<u8> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(s).expect("base64")
}

fn quoted_printable(s: &str, header: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'=' if b.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'_' if header => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}
