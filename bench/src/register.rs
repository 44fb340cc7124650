//! `driftvakt-bench register`: the inventory register at region scale. Writes an inventory of
//! N devices with register facts (owners, purchase dates, warranties, statuses) and a history of
//! changes across 2026-T2 and 2026-T3 (moves between owners and sites, decommissions,
//! deliveries, devices leaving the YAML), recorded by the real `inventory billing` command on
//! each day; then times the commands an operator runs, in process through
//! `cli::inventory::run` (loading the YAML and opening the database included, the process
//! start not): `renewals --within 180d`, `billing --period 2026-T3` (CSV and JSON) and
//! `list --format csv`. Each is run `repeat` times; the median is reported.

use anyhow::Result;
use driftvakt_collector::cli::inventory::{run, InventoryAction, InventoryArgs, RegisterFormat};
use driftvakt_collector::cli::GlobalConfigArgs;
use driftvakt_collector::clock::SystemClock;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

const OWNERS: [&str; 6] = [
    "Barn och utbildning",
    "Vård och omsorg",
    "Kultur och fritid",
    "Samhällsbyggnad",
    "Socialtjänsten",
    "Kommunledningskontoret",
];
const CLASSES: [&str; 4] = ["screen", "access_point", "printer", "screen"];

/// One command's timing.
#[derive(Debug, Serialize)]
pub struct Timed {
    pub command: String,
    pub median_ms: f64,
    pub max_ms: f64,
    pub output_lines: usize,
}

/// The run's figures.
#[derive(Debug, Serialize)]
pub struct RegisterRow {
    pub devices: usize,
    pub history_rows: usize,
    pub commands: Vec<Timed>,
}

/// Which state of the history a device is in on step `step` (0..4).
fn device(i: usize, step: usize) -> Option<String> {
    // Step 3 (2026-09-20): 1 % leave the YAML.
    if step >= 3 && i % 100 == 1 {
        return None;
    }
    let moved = step >= 1 && i.is_multiple_of(20); // 5 % change owner on 2026-06-15
    let owner = OWNERS[(i + usize::from(moved)) % OWNERS.len()];
    let status = match i % 50 {
        2 if step >= 2 => "decommissioned", // 2 % decommissioned on 2026-07-10
        3 if step < 2 => "planned",         // 2 % delivered on 2026-07-10
        _ => "active",
    };
    let site = if step >= 3 && i.is_multiple_of(33) {
        (i + 1) % 10 // 3 % move to another site on 2026-09-20
    } else {
        i % 10
    };
    let purchased = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap()
        + chrono::Days::new((i as u64 * 7) % 2000);
    let warranty = purchased + chrono::Days::new(3 * 365);
    Some(format!(
        "  - {{ id: d{i:05}, class: {}, site: s{site}, address: 10.{}.{}.{}, status: {status}, \
         register: {{ serial: SN{i:08}, model: M{}, owner: \"{owner}\", purchased: {purchased}, \
         price: {}, depreciation_months: 60, warranty_until: {warranty} }} }}\n",
        CLASSES[i % CLASSES.len()],
        i / 65536,
        (i / 256) % 256,
        i % 256,
        i % 7,
        3000 + i % 5000,
    ))
}

fn write_inventory(dir: &Path, devices: usize, step: usize) -> Result<()> {
    let mut y = String::from(
        "collector:\n  database: register.db\nsnmp_credentials: \
         [{ id: c, version: v2c, community: { env: DV_BENCH_COMMUNITY } }]\nsites:\n",
    );
    for s in 0..10 {
        let m = if s < 5 { "Ulricehamn" } else { "Tranemo" };
        writeln!(y, "  - {{ id: s{s}, municipality: {m} }}")?;
    }
    y.push_str("devices:\n");
    for i in 0..devices {
        if let Some(d) = device(i, step) {
            y.push_str(&d);
        }
    }
    std::fs::write(dir.join("inventory.yaml"), y)?;
    Ok(())
}

fn args(dir: &Path, now: &str, action: InventoryAction) -> Result<InventoryArgs> {
    Ok(InventoryArgs {
        config: GlobalConfigArgs {
            config: Some(dir.join("inventory.yaml")),
            database: None,
        },
        now: Some(now.parse()?),
        action,
    })
}

fn command(a: &InventoryArgs) -> Result<String> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    run(a, Arc::new(SystemClock), &mut out, &mut err)
        .map_err(|e| anyhow::anyhow!("{e}: {}", String::from_utf8_lossy(&err)))?;
    Ok(String::from_utf8(out)?)
}

/// Builds the register and its history, then times the commands.
pub fn register(devices: usize, repeat: usize) -> Result<RegisterRow> {
    let dir = tempfile::tempdir()?;
    let billing = |period: &str, format| InventoryAction::Billing {
        period: period.into(),
        format,
    };
    for (step, day) in ["2026-05-01", "2026-06-15", "2026-07-10", "2026-09-20"]
        .iter()
        .enumerate()
    {
        write_inventory(dir.path(), devices, step)?;
        let now = format!("{day}T08:00:00Z");
        command(&args(
            dir.path(),
            &now,
            billing("2026-T2", RegisterFormat::Csv),
        )?)?;
    }
    let now = "2026-12-07T08:00:00Z";
    let history_rows = {
        let t3 = command(&args(
            dir.path(),
            now,
            billing("2026-T3", RegisterFormat::Json),
        )?)?;
        let v: serde_json::Value = serde_json::from_str(&t3)?;
        v["lines"].as_array().map_or(0, Vec::len) + v["changes"].as_array().map_or(0, Vec::len)
    };
    let runs = [
        (
            "inventory renewals --within 180d --format csv",
            InventoryAction::Renewals {
                within: "180d".into(),
                format: RegisterFormat::Csv,
            },
        ),
        (
            "inventory billing --period 2026-T3 --format csv",
            billing("2026-T3", RegisterFormat::Csv),
        ),
        (
            "inventory billing --period 2026-T3 --format json",
            billing("2026-T3", RegisterFormat::Json),
        ),
        (
            "inventory list --format csv",
            InventoryAction::List {
                format: RegisterFormat::Csv,
            },
        ),
    ];
    let mut commands = Vec::new();
    for (name, action) in runs {
        let a = args(dir.path(), now, action)?;
        let mut ms = Vec::new();
        let mut lines = 0;
        for _ in 0..repeat.max(1) {
            let t0 = Instant::now();
            let out = command(&a)?;
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            lines = out.lines().count();
        }
        ms.sort_by(f64::total_cmp);
        commands.push(Timed {
            command: name.into(),
            median_ms: ms[ms.len() / 2],
            max_ms: ms[ms.len() - 1],
            output_lines: lines,
        });
    }
    Ok(RegisterRow {
        devices,
        history_rows,
        commands,
    })
}

/// The figures as a Markdown table.
pub fn table(r: &RegisterRow) -> String {
    let mut t = format!(
        "{} devices, {} billing lines and changes in 2026-T3\n\n\
         | command | median ms | max ms | output lines |\n|---|---:|---:|---:|\n",
        r.devices, r.history_rows
    );
    for c in &r.commands {
        let _ = writeln!(
            t,
            "| `{}` | {:.0} | {:.0} | {} |",
            c.command, c.median_ms, c.max_ms, c.output_lines
        );
    }
    t
}
