//! SMTP submission login probe, as a user's mail client sends: greeting, EHLO, STARTTLS (or TLS
//! from the start), EHLO again, AUTH PLAIN or LOGIN with a test account, QUIT. No mail is sent.
//! Values: the time of the connect, the TLS handshake and the login, and the certificate's days
//! left; `auth_failed` when the account is refused (535 and the other 5xx to AUTH),
//! `protocol_error` when the server does not offer STARTTLS or AUTH or answers out of turn.

use super::account::{seconds, Account};
use super::textproto::{self, read_line, send, shown};
use super::{tls, FailureReason, Outcome, Prober, Target};
use crate::config::{SmtpAuth, SmtpCheck, TlsMode};
use base64::Engine;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};

pub struct SmtpProber {
    pub account: Account,
}

/// One SMTP reply: its code and the text of each line.
struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    fn text(&self) -> String {
        shown(&self.lines.join(" / "))
    }
}

impl Prober for SmtpProber {
    type Spec = SmtpCheck;

    async fn probe(&self, target: &Target<'_>, spec: &SmtpCheck, timeout: Duration) -> Outcome {
        super::account::within("smtp", timeout, self.session(target, spec)).await
    }
}

impl SmtpProber {
    async fn session(&self, target: &Target<'_>, spec: &SmtpCheck) -> Result<Outcome, Outcome> {
        let mode = spec.tls.unwrap_or(TlsMode::Starttls);
        let port = spec.port.unwrap_or(match mode {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
        });
        let helo = spec.helo.as_deref().unwrap_or("driftvakt-agent");
        let user = spec.username.clone().unwrap_or_default();
        let password = self.account.secret(spec.password.as_ref(), "password")?;
        let config = self.account.tls.get(
            spec.ca_file.as_deref(),
            spec.insecure_skip_verify.unwrap_or(false),
        )?;
        let mut out = Outcome::success();
        let started = Instant::now();
        let stream = textproto::connect(target, port).await?;
        out.number("smtp_connect_seconds", seconds(started));
        let started = Instant::now();
        let mut conn = match mode {
            TlsMode::Implicit => {
                let mut conn = textproto::secure(stream, target, config).await?;
                expect(&mut conn, 220, "greeting").await?;
                conn
            }
            TlsMode::Starttls => {
                let mut plain = BufReader::new(stream);
                expect(&mut plain, 220, "greeting").await?;
                let ehlo = step(&mut plain, &format!("EHLO {helo}"), 250, "EHLO").await?;
                if extension(&ehlo, "STARTTLS").is_none() {
                    return Err(Outcome::failure(
                        FailureReason::ProtocolError,
                        "the server does not offer STARTTLS",
                    ));
                }
                step(&mut plain, "STARTTLS", 220, "STARTTLS").await?;
                textproto::upgrade(plain, target, config).await?
            }
        };
        out.number("smtp_tls_seconds", seconds(started));
        tls::judge_certificate(
            &mut out,
            tls::peer_certificate(conn.get_ref()),
            self.account.now(),
            spec.cert_min_days,
        );
        let ehlo = step(&mut conn, &format!("EHLO {helo}"), 250, "EHLO").await?;
        let offered = extension(&ehlo, "AUTH").unwrap_or_default();
        let mechanism = choose(spec.auth, &offered)?;
        let started = Instant::now();
        authenticate(&mut conn, mechanism, &user, password.expose()).await?;
        out.number("smtp_login_seconds", seconds(started));
        step(&mut conn, "QUIT", 221, "QUIT").await?;
        Ok(out)
    }
}

/// The configured mechanism if offered, else PLAIN, else LOGIN.
fn choose(wanted: Option<SmtpAuth>, offered: &[String]) -> Result<SmtpAuth, Outcome> {
    let has = |m: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(m));
    let pick = match wanted {
        Some(SmtpAuth::Plain) if has("PLAIN") => Some(SmtpAuth::Plain),
        Some(SmtpAuth::Login) if has("LOGIN") => Some(SmtpAuth::Login),
        Some(_) => None,
        None if has("PLAIN") => Some(SmtpAuth::Plain),
        None if has("LOGIN") => Some(SmtpAuth::Login),
        None => None,
    };
    pick.ok_or_else(|| {
        Outcome::failure(
            FailureReason::ProtocolError,
            format!(
                "the server offers no usable AUTH mechanism after TLS (offered: {})",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(" ")
                }
            ),
        )
    })
}

/// AUTH PLAIN (one line) or AUTH LOGIN (two challenges); 235 is success.
async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    mechanism: SmtpAuth,
    user: &str,
    password: &str,
) -> Result<(), Outcome> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let last = match mechanism {
        SmtpAuth::Plain => {
            send(
                conn,
                &format!("AUTH PLAIN {}", b64(&format!("\0{user}\0{password}"))),
                "AUTH",
            )
            .await?;
            reply(conn, "AUTH PLAIN").await?
        }
        SmtpAuth::Login => {
            send(conn, "AUTH LOGIN", "AUTH").await?;
            auth_continue(conn, "AUTH LOGIN").await?;
            send(conn, &b64(user), "AUTH").await?;
            auth_continue(conn, "AUTH LOGIN user").await?;
            send(conn, &b64(password), "AUTH").await?;
            reply(conn, "AUTH LOGIN").await?
        }
    };
    auth_result(&last)
}

async fn auth_continue<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    what: &str,
) -> Result<(), Outcome> {
    let r = reply(conn, what).await?;
    if r.code == 334 {
        Ok(())
    } else {
        auth_result(&r).and_then(|_| {
            Err(Outcome::failure(
                FailureReason::ProtocolError,
                format!("{what}: {} {}", r.code, r.text()),
            ))
        })
    }
}

/// 235 is a login; 5xx (535 above all) a refused account; anything else a protocol error.
fn auth_result(r: &Reply) -> Result<(), Outcome> {
    match r.code {
        235 => Ok(()),
        500..=599 => Err(Outcome::failure(
            FailureReason::AuthFailed,
            format!("smtp AUTH refused: {} {}", r.code, r.text()),
        )),
        _ => Err(Outcome::failure(
            FailureReason::ProtocolError,
            format!("smtp AUTH: {} {}", r.code, r.text()),
        )),
    }
}

/// Sends `line` and expects the reply `code`.
async fn step<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    line: &str,
    code: u16,
    what: &str,
) -> Result<Vec<String>, Outcome> {
    send(conn, line, what).await?;
    expect(conn, code, what).await
}

async fn expect<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    code: u16,
    what: &str,
) -> Result<Vec<String>, Outcome> {
    let r = reply(conn, what).await?;
    if r.code == code {
        Ok(r.lines)
    } else {
        Err(Outcome::failure(
            FailureReason::ProtocolError,
            format!("smtp {what}: expected {code}, got {} {}", r.code, r.text()),
        ))
    }
}

/// One reply: lines `NNN-text` up to the last `NNN text`.
async fn reply<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    what: &str,
) -> Result<Reply, Outcome> {
    let mut lines = Vec::new();
    loop {
        let line = read_line(conn, what).await?;
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
        let (Some(code), sep) = (code, line.as_bytes().get(3).copied()) else {
            return Err(Outcome::failure(
                FailureReason::ProtocolError,
                format!("smtp {what}: not an SMTP reply: {}", shown(&line)),
            ));
        };
        lines.push(line.get(4..).unwrap_or("").to_string());
        if sep != Some(b'-') {
            return Ok(Reply { code, lines });
        }
    }
}

/// The parameters of an EHLO keyword (`AUTH PLAIN LOGIN` -> [PLAIN, LOGIN]), if offered.
fn extension(ehlo: &[String], keyword: &str) -> Option<Vec<String>> {
    ehlo.iter().skip(1).find_map(|l| {
        let mut words = l.split_ascii_whitespace();
        let first = words.next()?;
        let rest = || words.map(str::to_string).collect();
        if first.eq_ignore_ascii_case(keyword) {
            Some(rest())
        } else if first
            .to_ascii_uppercase()
            .starts_with(&format!("{}=", keyword.to_ascii_uppercase()))
        {
            // The old `AUTH=PLAIN LOGIN` form.
            let mut v: Vec<String> = vec![first[keyword.len() + 1..].to_string()];
            v.extend(rest());
            Some(v)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_mechanisms_are_read_from_ehlo() {
        let ehlo: Vec<String> = ["mail.example", "SIZE 1000", "AUTH LOGIN PLAIN", "STARTTLS"]
            .map(String::from)
            .to_vec();
        assert_eq!(extension(&ehlo, "auth").unwrap(), ["LOGIN", "PLAIN"]);
        assert_eq!(extension(&ehlo, "STARTTLS").unwrap(), Vec::<String>::new());
        assert!(extension(&ehlo, "SMTPUTF8").is_none());
        let offered = extension(&ehlo, "AUTH").unwrap();
        assert_eq!(choose(None, &offered).unwrap(), SmtpAuth::Plain);
        assert_eq!(
            choose(Some(SmtpAuth::Login), &offered).unwrap(),
            SmtpAuth::Login
        );
        assert!(choose(None, &[]).is_err());
    }
}
