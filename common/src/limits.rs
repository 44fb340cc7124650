//! How large the parts of a batch may be. The collector refuses a batch that exceeds any of these
//! with a 400 naming the field (`results[3].detail: 5000 characters, at most 2048`), so no
//! single request can grow the database out of proportion; the agent fits its own results to
//! them before it spools them ([`fit`]), so what a real agent sends is never refused for size.
//!
//! The bounds are generous for what probes produce (a switch with a few hundred interfaces has
//! series of a few hundred samples) and small against abuse.

use crate::wire::{Batch, ProbeResult, Value};

/// Characters of an agent id or a device id (target).
pub const ID: usize = 128;
/// Characters of a batch id (`{agent}-{incarnation}-{first}-{last}`).
pub const BATCH_ID: usize = 200;
/// Characters of a check name or an error kind.
pub const NAME: usize = 64;
/// Characters of a failure's detail.
pub const DETAIL: usize = 2048;
/// Findings per result, and characters of a finding's code and message.
pub const FINDINGS: usize = 64;
pub const FINDING_MESSAGE: usize = 1024;
/// Values per result, characters of a value's key, of a text value.
pub const VALUES: usize = 512;
pub const VALUE_TEXT: usize = 1024;
/// Samples per series, labels per sample, characters of a label's key and value.
pub const SAMPLES: usize = 10_000;
pub const LABELS: usize = 16;
pub const LABEL_VALUE: usize = 256;
/// Results per batch.
pub const RESULTS: usize = 50_000;

/// A part of a batch that exceeds its bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {what}")]
pub struct LimitError {
    /// Where: `batch_id`, `results[3].detail`, `results[0].values.if_oper_status[7].labels`.
    pub path: String,
    pub what: String,
}

/// Bidirectional formatting characters (embeddings, overrides, isolates and marks): text holding
/// them can read differently from what it is (an id that shows as `sw-1` but is not).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Why `s` cannot be a name of at most `max` characters (an error kind, a finding code, a
/// value's key), or `None`: it must be non-empty and hold no control characters (NUL included)
/// and no bidirectional formatting characters.
pub fn name_problem(s: &str, max: usize) -> Option<String> {
    let n = s.chars().count();
    if n > max {
        Some(format!("{n} characters, at most {max}"))
    } else if n == 0 {
        Some("must not be empty".to_string())
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters".to_string())
    } else if s.chars().any(is_bidi_control) {
        Some("must not contain bidirectional formatting characters".to_string())
    } else {
        None
    }
}

/// Why `s` cannot be an id (an agent's, a device's: the `target`, a check's name), or `None`:
/// what [`name_problem`] refuses, and `/` (ids are parts of paths: `/api/v1/devices/{id}`).
/// `max` is [`ID`] for agents and devices, [`NAME`] for checks. The collector's and the agent's
/// configuration checks use this same function, so an id the configuration accepts is never
/// refused on the wire.
pub fn id_problem(s: &str, max: usize) -> Option<String> {
    name_problem(s, max).or_else(|| s.contains('/').then(|| "must not contain `/`".to_string()))
}

fn chars(path: impl Into<String>, s: &str, max: usize, empty_ok: bool) -> Result<(), LimitError> {
    let n = s.chars().count();
    let what = if empty_ok {
        if n <= max {
            return Ok(());
        }
        format!("{n} characters, at most {max}")
    } else {
        match name_problem(s, max) {
            None => return Ok(()),
            Some(what) => what,
        }
    };
    Err(LimitError {
        path: path.into(),
        what,
    })
}

fn id(path: impl Into<String>, s: &str, max: usize) -> Result<(), LimitError> {
    match id_problem(s, max) {
        None => Ok(()),
        Some(what) => Err(LimitError {
            path: path.into(),
            what,
        }),
    }
}

fn count(path: impl Into<String>, n: usize, max: usize, of: &str) -> Result<(), LimitError> {
    if n <= max {
        return Ok(());
    }
    Err(LimitError {
        path: path.into(),
        what: format!("{n} {of}, at most {max}"),
    })
}

/// Checks a whole batch against the bounds; the first violation is returned. Ids follow
/// [`id_problem`], names [`name_problem`]; free text (details, messages, text values) may hold
/// line breaks. The collector uses [`check_envelope`] and [`check_result`] apart, so that one
/// bad result is refused alone.
pub fn check_batch(batch: &Batch) -> Result<(), LimitError> {
    check_envelope(batch)?;
    for (i, r) in batch.results.iter().enumerate() {
        check_result(&format!("results[{i}]"), r)?;
    }
    Ok(())
}

/// Checks what belongs to the batch as a whole: the agent, the batch id, the number of results.
pub fn check_envelope(batch: &Batch) -> Result<(), LimitError> {
    id("agent", &batch.agent, ID)?;
    chars("batch_id", &batch.batch_id, BATCH_ID, false)?;
    if batch.batch_id.chars().any(char::is_whitespace) {
        return Err(LimitError {
            path: "batch_id".into(),
            what: "must not contain white space".into(),
        });
    }
    count("results", batch.results.len(), RESULTS, "results")
}

/// Checks one result; `at` is its path in the batch.
pub fn check_result(at: &str, r: &ProbeResult) -> Result<(), LimitError> {
    id(format!("{at}.target"), &r.target, ID)?;
    id(format!("{at}.check"), &r.check, NAME)?;
    if let Some(e) = &r.error {
        chars(format!("{at}.error"), e, NAME, false)?;
    }
    if let Some(d) = &r.detail {
        chars(format!("{at}.detail"), d, DETAIL, true)?;
    }
    count(
        format!("{at}.findings"),
        r.findings.len(),
        FINDINGS,
        "findings",
    )?;
    for (j, f) in r.findings.iter().enumerate() {
        chars(format!("{at}.findings[{j}].code"), &f.code, NAME, false)?;
        chars(
            format!("{at}.findings[{j}].message"),
            &f.message,
            FINDING_MESSAGE,
            true,
        )?;
    }
    count(format!("{at}.values"), r.values.len(), VALUES, "values")?;
    for (key, v) in &r.values {
        chars(format!("{at}.values"), key, NAME, false)?;
        check_value(&format!("{at}.values.{key}"), v)?;
    }
    Ok(())
}

fn check_value(at: &str, v: &Value) -> Result<(), LimitError> {
    match v {
        Value::Bool(_) | Value::Number(_) => Ok(()),
        Value::Text(t) => chars(at, t, VALUE_TEXT, true),
        Value::Series(samples) => {
            count(at, samples.len(), SAMPLES, "samples")?;
            for (k, s) in samples.iter().enumerate() {
                let here = format!("{at}[{k}].labels");
                count(&here, s.labels.len(), LABELS, "labels")?;
                for (name, value) in &s.labels {
                    chars(&here, name, NAME, false)?;
                    chars(&here, value, LABEL_VALUE, true)?;
                }
            }
            Ok(())
        }
    }
}

/// Cuts `s` to at most `max` characters, ending in "…" when it was cut.
fn fit_text(s: &mut String, max: usize) {
    if s.chars().count() > max {
        *s = s.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
    }
}

/// Fits an agent's own result to the bounds: free text (detail, finding messages, text values,
/// label values) is cut, and what cannot be cut without changing its meaning (ids, names, counts
/// of findings, values and samples) is left for [`check_result`] to report.
pub fn fit(r: &mut ProbeResult) {
    if let Some(d) = &mut r.detail {
        fit_text(d, DETAIL);
    }
    for f in &mut r.findings {
        fit_text(&mut f.message, FINDING_MESSAGE);
    }
    for v in r.values.values_mut() {
        match v {
            Value::Text(t) => fit_text(t, VALUE_TEXT),
            Value::Series(samples) => {
                for s in samples {
                    for value in s.labels.values_mut() {
                        fit_text(value, LABEL_VALUE);
                    }
                }
            }
            Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Finding;

    fn result() -> ProbeResult {
        ProbeResult {
            target: "sw".into(),
            check: "icmp".into(),
            time: "2026-03-10T10:00:00Z".parse().unwrap(),
            ok: false,
            duration_ms: 1.0,
            error: Some("timeout".into()),
            detail: Some("no answer".into()),
            findings: vec![Finding {
                code: "ups_on_battery".into(),
                message: "På batteri".into(),
            }],
            values: Default::default(),
        }
    }

    fn batch(r: ProbeResult) -> Batch {
        Batch {
            agent: "a1".into(),
            batch_id: "a1-0123456789abcdef-1-1".into(),
            results: vec![r],
        }
    }

    #[test]
    fn an_ordinary_batch_passes() {
        assert_eq!(check_batch(&batch(result())), Ok(()));
    }

    #[test]
    fn each_bound_names_its_field() {
        let mut long = result();
        long.detail = Some("x".repeat(DETAIL + 1));
        let e = check_batch(&batch(long)).unwrap_err();
        assert_eq!(e.path, "results[0].detail");
        assert_eq!(
            e.what,
            format!("{} characters, at most {DETAIL}", DETAIL + 1)
        );

        let mut b = batch(result());
        b.batch_id = String::new();
        assert_eq!(
            check_batch(&b).unwrap_err().to_string(),
            "batch_id: must not be empty"
        );
        b.batch_id = "y".repeat(300_000);
        assert_eq!(check_batch(&b).unwrap_err().path, "batch_id");
        b.batch_id = "a b".into();
        assert_eq!(
            check_batch(&b).unwrap_err().what,
            "must not contain white space"
        );

        let mut text = result();
        text.values
            .insert("sys_descr".into(), Value::Text("z".repeat(5000)));
        assert_eq!(
            check_batch(&batch(text)).unwrap_err().path,
            "results[0].values.sys_descr"
        );
    }

    #[test]
    fn fit_cuts_free_text_so_the_result_passes() {
        let mut r = result();
        r.detail = Some("é".repeat(DETAIL * 2));
        r.findings[0].message = "line\nbreak".repeat(500);
        r.values
            .insert("sys_descr".into(), Value::Text("z".repeat(5000)));
        fit(&mut r);
        assert_eq!(check_result("r", &r), Ok(()));
        let d = r.detail.as_deref().unwrap();
        assert_eq!(d.chars().count(), DETAIL);
        assert!(d.ends_with('…'));
        assert!(r.findings[0].message.chars().count() <= FINDING_MESSAGE);
    }
}
