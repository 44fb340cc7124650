//! IMAP login probe, as a user's mail client logs in: greeting, CAPABILITY, STARTTLS (or TLS
//! from the start), LOGIN with a test account, LOGOUT. Values: the time of the connect, the
//! TLS handshake and the login, and the certificate's days left; `auth_failed` when the
//! account is refused, `protocol_error` when the server does not speak IMAP as expected.

use super::account::{seconds, Account};
use super::textproto::{self, read_line, send, shown};
use super::{tls, FailureReason, Outcome, Prober, Target};
use crate::config::{ImapCheck, TlsMode};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};

pub struct ImapProber {
    pub account: Account,
}

impl Prober for ImapProber {
    type Spec = ImapCheck;

    async fn probe(&self, target: &Target<'_>, spec: &ImapCheck, timeout: Duration) -> Outcome {
        super::account::within("imap", timeout, self.session(target, spec)).await
    }
}

impl ImapProber {
    async fn session(&self, target: &Target<'_>, spec: &ImapCheck) -> Result<Outcome, Outcome> {
        let mode = spec.tls.unwrap_or(TlsMode::Implicit);
        let port = spec.port.unwrap_or(match mode {
            TlsMode::Implicit => 993,
            TlsMode::Starttls => 143,
        });
        let user = spec.username.clone().unwrap_or_default();
        let password = self.account.secret(spec.password.as_ref(), "password")?;
        let config = self.account.tls.get(
            spec.ca_file.as_deref(),
            spec.insecure_skip_verify.unwrap_or(false),
        )?;
        let mut out = Outcome::success();
        let started = Instant::now();
        let stream = textproto::connect(target, port).await?;
        out.number("imap_connect_seconds", seconds(started));
        let started = Instant::now();
        let mut conn = match mode {
            TlsMode::Implicit => {
                let mut conn = textproto::secure(stream, target, config).await?;
                greeting(&mut conn).await?;
                conn
            }
            TlsMode::Starttls => {
                let mut plain = BufReader::new(stream);
                greeting(&mut plain).await?;
                let caps = command(&mut plain, "a1", "CAPABILITY", "CAPABILITY").await?;
                if !caps.iter().any(|c| has_capability(c, "STARTTLS")) {
                    return Err(Outcome::failure(
                        FailureReason::ProtocolError,
                        "the server does not offer STARTTLS",
                    ));
                }
                command(&mut plain, "a2", "STARTTLS", "STARTTLS").await?;
                textproto::upgrade(plain, target, config).await?
            }
        };
        out.number("imap_tls_seconds", seconds(started));
        tls::judge_certificate(
            &mut out,
            tls::peer_certificate(conn.get_ref()),
            self.account.now(),
            spec.cert_min_days,
        );
        let started = Instant::now();
        let login = format!("LOGIN {} {}", quoted(&user)?, quoted(password.expose())?);
        command(&mut conn, "a3", &login, "LOGIN").await?;
        out.number("imap_login_seconds", seconds(started));
        command(&mut conn, "a4", "LOGOUT", "LOGOUT").await?;
        Ok(out)
    }
}

/// The server's first line: `* OK` (or `* PREAUTH`); `* BYE` and anything else refuse.
async fn greeting<S: AsyncRead + Unpin>(conn: &mut BufReader<S>) -> Result<(), Outcome> {
    let line = read_line(conn, "imap greeting").await?;
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("* OK") || upper.starts_with("* PREAUTH") {
        Ok(())
    } else {
        Err(Outcome::failure(
            FailureReason::ProtocolError,
            format!("imap greeting: {}", shown(&line)),
        ))
    }
}

/// Sends `tag command` and reads until the tagged answer; returns the untagged lines. `NO` to
/// LOGIN is `auth_failed`; any other `NO` or `BAD` is `protocol_error`. `step` names the
/// command in messages (never the LOGIN line with its password).
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    tag: &str,
    command: &str,
    step: &str,
) -> Result<Vec<String>, Outcome> {
    send(conn, &format!("{tag} {command}"), step).await?;
    let mut untagged = Vec::new();
    loop {
        let line = read_line(conn, step).await?;
        let Some(rest) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) else {
            untagged.push(line);
            continue;
        };
        let status = rest.split(' ').next().unwrap_or("").to_ascii_uppercase();
        return match status.as_str() {
            "OK" => Ok(untagged),
            "NO" if step == "LOGIN" => Err(Outcome::failure(
                FailureReason::AuthFailed,
                format!("imap LOGIN refused: {}", shown(rest)),
            )),
            _ => Err(Outcome::failure(
                FailureReason::ProtocolError,
                format!("imap {step}: {}", shown(rest)),
            )),
        };
    }
}

/// Whether an untagged `* CAPABILITY …` line lists `cap`.
fn has_capability(line: &str, cap: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    words.next() == Some("*")
        && words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("CAPABILITY"))
        && words.any(|w| w.eq_ignore_ascii_case(cap))
}

/// An IMAP quoted string; CR, LF and NUL cannot be sent in one (`config_error`).
fn quoted(s: &str) -> Result<String, Outcome> {
    if s.contains(['\r', '\n', '\0']) {
        return Err(Outcome::failure(
            FailureReason::ConfigError,
            "imap: the user name or password holds a line break or NUL",
        ));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_quotes_and_backslashes_and_refuses_line_breaks() {
        assert_eq!(quoted(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert!(quoted("a\r\nb").is_err());
    }

    #[test]
    fn capabilities_are_read_from_the_untagged_line() {
        assert!(has_capability(
            "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED",
            "starttls"
        ));
        assert!(!has_capability("* OK STARTTLS", "STARTTLS"));
    }
}
