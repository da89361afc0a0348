//! `upfctl import`, `synth` and `report` on a store of their own (no daemon,
//! no namespaces): bad input names its line and writes nothing, a period
//! without data says so, and missing capacities are missing, not zero.

mod common;

use std::process::Command;

use common::{bin, run};

struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("mupf-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

fn upfctl(args: &[&str]) -> (bool, String, String) {
    let out = run(Command::new(bin("upfctl")).args(args));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration with the POI's host but capacities for FY2025 only.
const CONFIG: &str = r#"[gateway]
n3_address = "10.1.1.1"

[[interface]]
name = "lo"
roles = ["n3", "n6"]

[[poi]]
name = "kddi-tokyo"
peers = ["10.9.0.0/16"]
capacity_ul_mbps = 200
capacity_dl_mbps = 2000
host = "kddi"
fiscal_year = [{ fy = 2025, capacity_mbps = 2000, demand_mbps = 1600 }]

[meter]
store = "sqlite:@DB@"
gateway = "gw-test"
"#;

#[test]
fn a_bad_import_names_its_line_and_imports_nothing() {
    let d = scratch("import");
    let db = d.0.join("m.db");
    let store = format!("sqlite:{}", db.display());
    let csv = d.0.join("year.csv");
    let (ok, _, err) = upfctl(&[
        "synth",
        "--store",
        &store,
        "--poi",
        "kddi-tokyo",
        "--from",
        "2026-05-01",
        "--to",
        "2026-05-02",
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines.len() > 100, "two days of minutes in both directions");
    // Line 50 (1-based) gets a negative value.
    let fields: Vec<&str> = lines[49].split(',').collect();
    let bad: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 3 {
                "-5".to_string()
            } else {
                f.to_string()
            }
        })
        .collect();
    lines[49] = bad.join(",");
    std::fs::write(&csv, lines.join("\n")).unwrap();
    let (ok, _, err) = upfctl(&[
        "import",
        "--store",
        &store,
        "--gateway",
        "gw-test",
        csv.to_str().unwrap(),
    ]);
    assert!(!ok, "a bad file is refused");
    assert!(err.contains("line 50"), "the error names the line: {err}");
    assert!(err.contains("nothing imported"), "{err}");
    // Nothing partial: the store has no data for the POI.
    let (ok, _, err) = upfctl(&[
        "report",
        "--store",
        &store,
        "--poi",
        "kddi-tokyo",
        "--fy",
        "2026",
    ]);
    assert!(!ok);
    assert!(err.contains("no data for POI \"kddi-tokyo\""), "{err}");
}

#[test]
fn reports_say_when_there_is_no_data_and_leave_missing_capacity_missing() {
    let d = scratch("nodata");
    let db = d.0.join("m.db");
    let cfg = d.0.join("upf.toml");
    std::fs::write(&cfg, CONFIG.replace("@DB@", db.to_str().unwrap())).unwrap();
    let c = cfg.to_str().unwrap();
    let (ok, out, err) = upfctl(&[
        "synth",
        "--config",
        c,
        "--poi",
        "kddi-tokyo",
        "--from",
        "2026-04-01",
        "--to",
        "2026-04-14",
        "--peak-mbps",
        "500",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("gw-test"), "written as meter.gateway: {out}");
    // A period without data.
    let (ok, _, err) = upfctl(&[
        "report",
        "--config",
        c,
        "--poi",
        "kddi-tokyo",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-30",
    ]);
    assert!(!ok);
    assert!(
        err.contains("no data for POI \"kddi-tokyo\" (dl) from 2026-06-01 to 2026-06-30"),
        "{err}"
    );
    // FY2026 has no capacities configured: its ratios are null, not 0 or inf.
    let (ok, out, err) = upfctl(&[
        "report",
        "--config",
        c,
        "--poi",
        "kddi-tokyo",
        "--from",
        "2026-04-01",
        "--to",
        "2026-04-14",
        "--format",
        "json",
    ]);
    assert!(ok, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reg = r["regulator"].as_array().unwrap();
    let fy = |y: i64| {
        reg.iter()
            .find(|x| x["fy"] == y)
            .unwrap_or_else(|| panic!("FY{y} in {reg:?}"))
    };
    let fy26 = fy(2026);
    assert!(fy26["busiest_mbps"].as_f64().unwrap() > 100.0, "{fy26}");
    for k in [
        "capacity_mbps",
        "demand_mbps",
        "ratio_capacity",
        "ratio_demand",
    ] {
        assert!(fy26[k].is_null(), "FY2026 {k} is missing: {fy26}");
    }
    // FY2025 has capacities but no traffic: the ratios are missing too.
    let fy25 = fy(2025);
    assert_eq!(fy25["capacity_mbps"].as_f64(), Some(2000.0));
    assert!(fy25["ratio_capacity"].is_null(), "{fy25}");
    // The table and CSV say so the same way.
    let (_, table, _) = upfctl(&[
        "report",
        "--config",
        c,
        "--poi",
        "kddi-tokyo",
        "--from",
        "2026-04-01",
        "--to",
        "2026-04-14",
    ]);
    assert!(table.contains("③ / ①"), "{table}");
    assert!(!table.contains("inf") && !table.contains("NaN"), "{table}");
    // The HTML page is self-contained with its charts.
    let html = d.0.join("r.html");
    let (ok, _, err) = upfctl(&[
        "report",
        "--config",
        c,
        "--poi",
        "kddi-tokyo",
        "--from",
        "2026-04-01",
        "--to",
        "2026-04-14",
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let page = std::fs::read_to_string(&html).unwrap();
    for id in ["chart-daily", "chart-profile", "chart-forecast"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id} in the page");
    }
    assert!(
        !page.contains("<script src") && !page.contains("<link "),
        "self-contained"
    );
}
