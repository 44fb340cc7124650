//! Every `driftvakt-collector …` command line of the README works as written, against the real
//! binary and a collector file in a temp folder:
//! - the lines of code blocks run for real, in README order (so `run` has made the database
//!   before `report` reads it), each with the collector's own file as `--config`;
//! - lines that elide arguments (a lone `...`) and commands quoted inside sentences are parsed
//!   (`--help` appended after all their arguments: an argument the command does not take, such
//!   as `--config` after a subcommand, fails as it would for a reader).
//!
//! Placeholders become values: `FILE` the temp collector file, `a|b` the first choice, `[…]`
//! is left out, `...` after an option a value for it (`--start ...` an RFC 3339 time).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_driftvakt-collector");

const CONFIG: &str = r#"collector:
  listen: 127.0.0.1:0
  database: data/collector.db
sites:
  - { id: s1, name: Stadshuset, municipality: Ulricehamn }
  - { id: t1, name: Kommunhuset, municipality: Tranemo }
devices:
  - { id: sw-1, class: switch, site: s1, address: 127.0.0.1, checks: [icmp] }
services:
  - { id: net, name: Nätet, members: [sw-1] }
  - { id: tranemo-utskrift, name: Utskrift, kind: function, function: printing, municipality: Tranemo, members: [sw-1] }
agents:
  - { id: a1, token_file: a1.token, sites: [s1] }
notify:
  outbox_dir: data/outbox
"#;

/// One README command as written, and whether it stood in a code block.
#[derive(Debug)]
struct Line {
    text: String,
    in_block: bool,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).unwrap()
}

/// The command lines: those in code blocks (joined over `\` line ends), and those quoted in
/// sentences (`` `driftvakt-collector report …` ``, also over a line break).
fn lines(readme: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    let mut paragraph = String::new();
    let quoted = |paragraph: &mut String, out: &mut Vec<Line>| {
        for (i, q) in paragraph.split('`').enumerate() {
            if i % 2 == 1 && q.contains("driftvakt-collector ") {
                out.push(Line {
                    text: q.to_string(),
                    in_block: false,
                });
            }
        }
        paragraph.clear();
    };
    for l in readme.lines() {
        if l.trim_start().starts_with("```") {
            quoted(&mut paragraph, &mut out);
            in_block = !in_block;
            continue;
        }
        if !in_block {
            if l.trim().is_empty() {
                quoted(&mut paragraph, &mut out);
            } else {
                paragraph.push_str(l.trim());
                paragraph.push(' ');
            }
            continue;
        }
        let l = l.trim();
        if !pending.is_empty() || l.contains("driftvakt-collector ") {
            pending.push_str(l.trim_end_matches('\\'));
            pending.push(' ');
            if !l.ends_with('\\') {
                out.push(Line {
                    text: std::mem::take(&mut pending),
                    in_block: true,
                });
            }
        }
    }
    quoted(&mut paragraph, &mut out);
    // `cargo test -p driftvakt-collector --test …` names the package, not a command.
    out.retain(|l| {
        let after = &l.text[l.text.find("driftvakt-collector ").unwrap() + 20..];
        let next = after.split_whitespace().next().unwrap_or("");
        next == "--" || !next.starts_with('-')
    });
    out
}

/// A value for an option written `--name ...`.
fn value_for(option: &str) -> &'static str {
    match option {
        "--start" => "2026-04-02T18:00:00+02:00",
        "--end" => "2026-04-02T20:00:00+02:00",
        "--from" => "2026-01-01",
        "--to" => "2026-12-31",
        _ => "Prov",
    }
}

/// Words as a shell splits them: whitespace outside double quotes separates, the quotes go.
fn shell_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in text.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

/// The arguments of a README line, placeholders filled in (`dir` is the temp folder), and
/// whether the line elides arguments (a lone `...`).
fn args(text: &str, dir: &Path, copies: &mut usize) -> (Vec<String>, bool) {
    let mut elided = false;
    let text = &text[text.find("driftvakt-collector ").unwrap() + "driftvakt-collector ".len()..];
    let text = text.split(" # ").next().unwrap();
    let text = text.split(" > ").next().unwrap();
    let mut out: Vec<String> = Vec::new();
    let mut optional = 0;
    let split = shell_words(text);
    let words: Vec<&str> = split.iter().map(String::as_str).collect();
    for (i, w) in words.iter().enumerate() {
        if w.starts_with('[') {
            optional += 1;
        }
        if optional > 0 {
            if w.ends_with(']') {
                optional -= 1;
            }
            continue;
        }
        let previous = i.checked_sub(1).map(|p| words[p]).unwrap_or("");
        let word = match *w {
            "--" if out.is_empty() => continue,
            "..." | "…" if previous.starts_with("--") => value_for(previous).to_string(),
            "..." | "…" => {
                elided = true;
                continue;
            }
            "FILE" => dir.join("c.yaml").display().to_string(),
            "NAME" => "anna".into(),
            "TEXT" => "Prov".into(),
            "RFC3339" => "2026-06-01T00:00:00Z".into(),
            "site:ID" => "site:s1".into(),
            "ID" if previous == "--service" => "net".into(),
            "ID" => "1".into(),
            w if w.starts_with("postgres://") || w.starts_with("/var/lib/") => {
                if previous == "--from" {
                    dir.join("data/collector.db").display().to_string()
                } else {
                    *copies += 1;
                    dir.join(format!("copy-{copies}.db")).display().to_string()
                }
            }
            w if w.contains('|') && !w.contains(':') => w.split('|').next().unwrap().into(),
            w => w.to_string(),
        };
        out.push(word);
    }
    // Every `--config X` is the temp collector file (the README names demo and /etc files).
    for i in 1..out.len() {
        if out[i - 1] == "--config" {
            out[i] = dir.join("c.yaml").display().to_string();
        }
    }
    if out.first().map(String::as_str) == Some("calendar") {
        // Activations and windows must lie ahead of "now": the README's dates are in 2026.
        out.extend(["--now".into(), "2026-01-01T00:00:00+00:00".into()]);
    }
    (out, elided)
}

/// `run` is started, must stay up two seconds (it makes the database), and is stopped.
fn run_server(args: &[String], dir: &Path) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!(
                "`driftvakt-collector {}` exited ({status}):\n{err}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let token = dir.path().join("a1.token");
    std::fs::write(&token, "readme-token-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[test]
fn every_collector_command_in_the_readme_works_as_written() {
    let text = readme();
    let lines = lines(&text);
    assert!(
        lines.iter().filter(|l| l.in_block).count() >= 15,
        "the README's command lines were not found: {lines:#?}"
    );
    let (_keep, dir) = setup();
    let mut copies = 0;
    let mut failures = Vec::new();
    for line in &lines {
        let (mut args, elided) = args(&line.text, &dir, &mut copies);
        if args.first().map(String::as_str) == Some("run") {
            eprintln!("driftvakt-collector {} (stopped after 2 s)", args.join(" "));
            run_server(&args, &dir);
            continue;
        }
        if elided || !line.in_block {
            args.push("--help".into());
        }
        eprintln!("driftvakt-collector {}", args.join(" "));
        let out = Command::new(BIN)
            .current_dir(&dir)
            .args(&args)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "README: `{}`\n  ran: driftvakt-collector {}\n  {}",
                line.text.trim(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn config_goes_before_or_after_the_subcommand() {
    let (_keep, dir) = setup();
    let config = dir.join("c.yaml").display().to_string();
    let forms: [&[&str]; 4] = [
        &["incident", "list", "--config", &config],
        &["incident", "--config", &config, "list"],
        &["notify", "outbox", "--config", &config],
        &["notify", "--config", &config, "outbox"],
    ];
    for args in forms {
        let out = Command::new(BIN)
            .current_dir(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "driftvakt-collector {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The outbox is read from the collector's own database (`collector.database`).
    assert!(dir.join("data/collector.db").exists());
}
