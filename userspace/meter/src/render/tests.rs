use super::*;
use crate::charges::{ChargeTable, FyPlan, PoiPlan, ReportSettings};
use crate::report::{build, MemSource, ReportInput};
use crate::{Dir, Row};

const T0: i64 = 1_774_969_200; // 2026-04-01 00:00 JST

/// 45 days of minutes from 2026-04-01 (a lunchtime and an evening peak),
/// and a year of hour rows before it growing 2 % a month.
fn report(poi: &str, plan: &PoiPlan) -> Report {
    let mut minutes = Vec::new();
    for i in 0..45 * 1440i64 {
        let hour = (i % 1440) / 60;
        let mbps =
            40 + if hour == 12 {
                80
            } else if (19..22).contains(&hour) {
                50
            } else {
                0
            } + (i / 1440) % 7;
        minutes.push(Row {
            start: T0 + i * 60,
            secs: 60,
            covered: 60,
            bytes: mbps as u64 * 7_500_000,
            packets: 1,
            max_bps: 0.0,
            p95_bps: 0.0,
            sessions: 1000 + (i / 1440) as u32,
        });
    }
    let mut src = MemSource::from_minutes(minutes);
    let mut hist = Vec::new();
    for d in 0..365i64 {
        let month = d / 30;
        hist.push(Row {
            start: T0 - (365 - d) * 86_400 + 3 * 3600,
            secs: 3600,
            covered: 3600,
            bytes: (100.0 * 1.02f64.powi(month as i32) * 1e6 / 8.0 * 3600.0) as u64,
            packets: 1,
            max_bps: 0.0,
            p95_bps: 0.0,
            sessions: 900,
        });
    }
    hist.append(&mut src.hours);
    src.hours = hist;
    let settings = ReportSettings::default();
    let charges = ChargeTable::shipped();
    let input = ReportInput {
        poi,
        dir: Dir::Dl,
        settings: &settings,
        plan,
        charges: &charges,
        from: T0,
        to: T0 + 45 * 86_400,
        now: T0 + 45 * 86_400,
    };
    build(&mut src, &input).unwrap()
}

fn plan() -> PoiPlan {
    PoiPlan {
        host: Some("kddi".into()),
        fiscal_year: vec![
            FyPlan {
                fy: 2025,
                capacity_mbps: Some(300.0),
                demand_mbps: Some(250.0),
            },
            FyPlan {
                fy: 2026,
                capacity_mbps: Some(400.0),
                demand_mbps: None,
            },
        ],
    }
}

#[test]
fn text_aligns_columns_and_shows_missing_as_a_dash() {
    let r = report("tokyo-1", &plan());
    let t = text(&r);
    assert!(t.starts_with(
        "Capacity report: POI tokyo-1, downlink, 2026-04-01 .. 2026-05-15 (Asia/Tokyo)"
    ));
    // FY2024 has no capacity configured, FY2026 no demand: dashes, never 0 or inf.
    let line = t
        .lines()
        .find(|l| l.contains("\u{2462} / \u{2461}"))
        .unwrap();
    assert_eq!(line.matches(MISSING).count(), 2, "{line}");
    assert!(!t.contains("inf") && !t.contains("NaN"));
    // Each table's rows are as wide as its rule (right-aligned numbers).
    let lines: Vec<&str> = t.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains("busy hour") && l.contains("hour measured"))
        .unwrap();
    let width = lines[i + 1].chars().count();
    assert!(lines[i + 2..i + 10]
        .iter()
        .all(|l| l.chars().count() == width));
    assert!(t.contains("2026-04-01 Wed"));
    assert!(t.contains("method: exponential trend"));
}

#[test]
fn csv_sections_are_rectangular_and_missing_cells_empty() {
    let r = report("tokyo,1", &plan());
    let c = csv(&r);
    let mut width = 0;
    let mut sections = Vec::new();
    for line in c.lines() {
        if line.is_empty() {
            continue;
        }
        // Split on commas outside quotes.
        let mut n = 1;
        let mut quoted = false;
        for ch in line.chars() {
            match ch {
                '"' => quoted = !quoted,
                ',' if !quoted => n += 1,
                _ => {}
            }
        }
        if line.starts_with("section,") {
            width = n;
        } else {
            assert_eq!(n, width, "{line}");
            let name = line.split(',').next().unwrap();
            if sections.last() != Some(&name) {
                sections.push(name);
            }
        }
    }
    assert_eq!(
        sections,
        vec![
            "report",
            "summary",
            "days",
            "profile",
            "months",
            "fiscal_years",
            "regulator",
            "costs",
            "lines",
            "forecast_history",
            "forecast_monthly",
            "forecast_years"
        ]
    );
    assert!(c.contains("report,poi,\"tokyo,1\"\n"));
    let fy2026 = c
        .lines()
        .find(|l| l.starts_with("regulator,2026,"))
        .unwrap();
    let cells: Vec<&str> = fy2026.split(',').collect();
    // capacity 400, demand empty, ratio_demand empty.
    assert_eq!(cells[4], "400.000000");
    assert_eq!(cells[5], "");
    assert_eq!(cells[9], "");
    assert!(!cells[8].is_empty());
    assert_eq!(c.lines().filter(|l| l.starts_with("days,")).count(), 45);
}

#[test]
fn json_is_the_model_with_nulls() {
    let r = report("tokyo-1", &plan());
    let v: serde_json::Value = serde_json::from_str(&json(&r)).unwrap();
    assert_eq!(v["poi"], "tokyo-1");
    assert_eq!(v["regulator"][2]["fy"], 2026);
    assert!(v["regulator"][2]["ratio_demand"].is_null());
    assert!(v["regulator"][0]["ratio_capacity"].is_null());
    assert_eq!(v["days"].as_array().unwrap().len(), 45);
    assert_eq!(v["forecast"]["years"].as_array().unwrap().len(), 3);
}

#[test]
fn html_is_self_contained_escaped_and_has_three_charts() {
    let r = report("<script>alert('x')</script>&", &plan());
    let h = html(&r);
    assert!(!h.contains("<script>"));
    assert!(h.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"));
    assert!(
        !h.contains("http://") || h.matches("http://").count() == 3,
        "only the SVG namespace"
    );
    assert!(!h.contains("https://") && !h.contains("<link") && !h.contains("src="));
    for id in ["chart-daily", "chart-profile", "chart-forecast"] {
        let at = h
            .find(&format!("<svg id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} missing"));
        let end = at + h[at..].find("</svg>").unwrap();
        let svg = &h[at..end];
        assert!(
            svg.contains("<path class=") || svg.contains("<rect class=\"bar\""),
            "{id} empty"
        );
    }
    let daily = &h[h.find("id=\"chart-daily\"").unwrap()..];
    assert!(daily[..daily.find("</svg>").unwrap()].contains("class=\"capacity\" d=\"M"));
    let fc = &h[h.find("id=\"chart-forecast\"").unwrap()..];
    assert!(fc[..fc.find("</svg>").unwrap()].contains("class=\"band\" d=\"M"));
    let prof = &h[h.find("id=\"chart-profile\"").unwrap()..];
    assert_eq!(
        prof[..prof.find("</svg>").unwrap()]
            .matches(":00 weekdays ")
            .count(),
        24
    );
}

#[test]
fn formats_parse_and_numbers_group() {
    assert_eq!(Format::parse("HTML"), Some(Format::Html));
    assert_eq!(Format::parse("csv"), Some(Format::Csv));
    assert_eq!(Format::parse("pdf"), None);
    assert_eq!(grouped(1_199_000), "1,199,000");
    assert_eq!(grouped(999), "999");
    assert_eq!(yen(None, MISSING), MISSING);
    assert_eq!(pct(Some(0.125), ""), "12.5 %");
    assert_eq!(num(Some(f64::INFINITY), 2, MISSING), MISSING);
}
