//! The collector parses every ingest body with `serde_json::from_slice::<Batch>` (collector
//! `api.rs`) before anything else. Hostile or careless bodies (random bytes, and valid batches
//! cut, flipped and spliced) must never panic the parser, and every refusal must carry a line
//! and column for the 400 answer. Deterministic: a fixed-seed generator and a fixed budget.

use driftvakt_common::wire::{Batch, Finding, ProbeResult, Sample, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

fn valid_batch() -> Vec<u8> {
    let results = (0..3)
        .map(|i| ProbeResult {
            target: format!("ups-{i}"),
            check: "snmp".into(),
            time: "2026-03-17T17:00:00Z".parse().unwrap(),
            ok: i != 1,
            duration_ms: 12.5,
            error: (i == 1).then(|| "timeout".into()),
            detail: (i == 1).then(|| "no answer within 5s".into()),
            findings: vec![Finding {
                code: "ups_on_battery".into(),
                message: "UPS runs on battery".into(),
            }],
            values: [
                ("on_battery".to_string(), Value::Bool(true)),
                ("runtime_minutes".to_string(), Value::Number(42.0)),
                ("model".to_string(), Value::Text("Eaton 93E".into())),
                (
                    "if_oper_status".to_string(),
                    Value::Series(vec![Sample {
                        labels: [("ifName".to_string(), "Gi0/1".to_string())].into(),
                        value: 2.0,
                    }]),
                ),
            ]
            .into(),
        })
        .collect();
    serde_json::to_vec_pretty(&Batch {
        agent: "ulricehamn-1".into(),
        batch_id: "ulricehamn-1-0123456789abcdef-1-3".into(),
        results,
    })
    .unwrap()
}

/// Parses like the collector; a refusal must say where.
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    match serde_json::from_slice::<Batch>(body) {
        Ok(batch) => {
            // Whatever was accepted serialises and parses again.
            let again = serde_json::to_vec(&batch).unwrap();
            prop_assert!(serde_json::from_slice::<Batch>(&again).is_ok());
        }
        Err(e) => {
            prop_assert!(e.line() >= 1, "no line in {e}");
            prop_assert!(e.column() <= body.len() + 1, "column past the end in {e}");
            let text = e.to_string();
            prop_assert!(
                text.contains(" line ") && text.contains(" column "),
                "{text}"
            );
        }
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic_and_refusals_say_where() {
    runner(512)
        .run(&prop::collection::vec(any::<u8>(), 0..600), |b| check(&b))
        .unwrap();
}

#[test]
fn arbitrary_text_never_panics_and_refusals_say_where() {
    runner(512)
        .run(&any::<String>(), |s| check(s.as_bytes()))
        .unwrap();
}

/// One edit of a valid body.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, &'static str),
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "null",
        "true",
        "1e999",
        "-0",
        "\"x\"",
        "\u{0}",
        "\u{feff}",
        "é",
        "NaN",
        "\"results\": []",
        "\"extra\": 1",
        " ",
    ]);
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Flip(i, b)),
        (any::<prop::sample::Index>(), piece).prop_map(|(i, p)| Edit::Insert(i, p)),
        (any::<prop::sample::Index>(), 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (any::<prop::sample::Index>(), 1usize..80).prop_map(|(i, n)| Edit::Duplicate(i, n)),
    ]
}

fn apply(body: &mut Vec<u8>, e: &Edit) {
    let len = body.len();
    match e {
        Edit::Truncate(i) => body.truncate(i.index(len + 1)),
        Edit::Flip(i, b) if len > 0 => body[i.index(len)] = *b,
        Edit::Flip(..) => {}
        Edit::Insert(i, p) => {
            let at = i.index(len + 1);
            body.splice(at..at, p.bytes());
        }
        Edit::Delete(i, n) => {
            let at = i.index(len + 1);
            body.drain(at..(at + n).min(len));
        }
        Edit::Duplicate(i, n) => {
            let at = i.index(len + 1);
            let part = body[at..(at + n).min(len)].to_vec();
            body.splice(at..at, part);
        }
    }
}

#[test]
fn mutated_batches_never_panic_and_refusals_say_where() {
    let valid = valid_batch();
    check(&valid).unwrap();
    assert!(serde_json::from_slice::<Batch>(&valid).is_ok());
    runner(1024)
        .run(&prop::collection::vec(edit(), 1..6), |edits| {
            let mut body = valid.clone();
            for e in &edits {
                apply(&mut body, e);
            }
            check(&body)
        })
        .unwrap();
}
