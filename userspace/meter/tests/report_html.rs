//! The HTML report renders in headless Chromium (Debian's `chromium`) to a
//! screenshot that is not blank, and its three charts are in the DOM with
//! something drawn in them. A missing Chromium fails the test (never skips).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use upf_meter::charges::{ChargeTable, FyPlan, PoiPlan, ReportSettings};
use upf_meter::report::{build, MemSource, ReportInput};
use upf_meter::{render, Dir, Row};

const CHROMIUM: &str = "/usr/bin/chromium";
const T0: i64 = 1_772_290_800; // 2026-03-01 00:00 JST

fn row(start: i64, secs: u32, mbps: f64, sessions: u32) -> Row {
    Row {
        start,
        secs,
        covered: secs,
        bytes: (mbps * 1e6 / 8.0 * secs as f64) as u64,
        packets: 1,
        max_bps: 0.0,
        p95_bps: 0.0,
        sessions,
    }
}

/// A daily shape: night trough, lunchtime peak, evening shoulder (Mbit/s).
fn shape(hour_of_day: f64, weekend: bool) -> f64 {
    let lunch = (-(hour_of_day - 12.5).powi(2) / 0.8).exp();
    let evening = (-(hour_of_day - 21.0).powi(2) / 4.0).exp();
    let night = if (2.0..6.0).contains(&hour_of_day) {
        0.3
    } else {
        1.0
    };
    (60.0 * night + if weekend { 40.0 * lunch } else { 140.0 * lunch } + 90.0 * evening).max(5.0)
}

/// Minute rows for March and April 2026, hour rows for the eleven months before.
fn source() -> MemSource {
    let mut minutes = Vec::new();
    for i in 0..61 * 1440i64 {
        let day = i / 1440;
        let h = (i % 1440) as f64 / 60.0;
        let weekend = (day + 6) % 7 >= 5; // 2026-03-01 is a Sunday
        let growth = 1.0 + 0.02 * day as f64 / 30.0;
        minutes.push(row(
            T0 + i * 60,
            60,
            shape(h, weekend) * growth * 1.25,
            20_000 + day as u32 * 40,
        ));
    }
    let mut src = MemSource::from_minutes(minutes);
    let mut hours = Vec::new();
    let first = T0 - 334 * 86_400; // 2025-04-01 00:00 JST
    for i in 0..334 * 24i64 {
        let day = i / 24;
        let weekend = (day + 1) % 7 >= 5; // 2025-04-01 is a Tuesday
        let growth = 1.02f64.powf(day as f64 / 30.0 - 11.0);
        hours.push(row(
            first + i * 3600,
            3600,
            shape((i % 24) as f64 + 0.5, weekend) * growth * 1.25,
            15_000,
        ));
    }
    hours.append(&mut src.hours);
    src.hours = hours;
    src
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("upf-meter-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs Chromium headless with `args` and a fresh profile; its stdout.
fn chromium(profile: &Path, args: &[&str]) -> Vec<u8> {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: this test needs Debian's chromium package \
         (scripts/setup.sh installs it; or apt-get install --no-install-recommends chromium)"
    );
    let out_path = profile.with_extension("stdout");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {CHROMIUM}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{CHROMIUM} {args:?} failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{CHROMIUM} {args:?} still running after 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read(&out_path).unwrap()
}

#[test]
fn the_html_report_renders_in_chromium_with_its_charts() {
    let plan = PoiPlan {
        host: Some("docomo".into()),
        fiscal_year: vec![
            FyPlan {
                fy: 2025,
                capacity_mbps: Some(400.0),
                demand_mbps: Some(340.0),
            },
            FyPlan {
                fy: 2026,
                capacity_mbps: Some(450.0),
                demand_mbps: None,
            },
        ],
    };
    let settings = ReportSettings::default();
    let charges = ChargeTable::shipped();
    let input = ReportInput {
        poi: "docomo-tokyo <POI & 1>",
        dir: Dir::Dl,
        settings: &settings,
        plan: &plan,
        charges: &charges,
        from: T0,
        to: T0 + 61 * 86_400,
        now: T0 + 61 * 86_400,
    };
    let report = build(&mut source(), &input).unwrap();
    assert_eq!(report.days.len(), 61);
    assert!(report.forecast.note.is_none(), "{:?}", report.forecast.note);
    assert_eq!(report.forecast.years.len(), 3);

    let dir = fresh_dir("report-html");
    let page = dir.join("report.html");
    std::fs::write(&page, render::html(&report)).unwrap();
    let url = format!("file://{}", page.display());

    // The screenshot is not blank: > 2 % of pixels not white, several colours.
    let png_path = dir.join("report.png");
    chromium(
        &dir.join("profile-shot"),
        &[
            "--window-size=1280,2000",
            &format!("--screenshot={}", png_path.display()),
            &url,
        ],
    );
    let decoder =
        png::Decoder::new(std::fs::File::open(&png_path).expect("chromium wrote no screenshot"));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let (w, h) = (info.width as usize, info.height as usize);
    assert_eq!((w, h), (1280, 2000));
    let mut not_white = 0usize;
    let mut colours = std::collections::HashSet::new();
    for px in buf[..w * h * channels].chunks(channels) {
        let (r, g, b) = (px[0], px[1], px[2]);
        if r < 245 || g < 245 || b < 245 {
            not_white += 1;
        }
        colours.insert((r >> 4, g >> 4, b >> 4));
    }
    let frac = not_white as f64 / (w * h) as f64;
    assert!(
        frac > 0.02,
        "screenshot nearly blank: {:.2} % not white",
        frac * 100.0
    );
    assert!(
        colours.len() >= 8,
        "screenshot has only {} colours",
        colours.len()
    );
    // The chart colours are on screen: the capacity line's red and the bars' blue.
    let near = |c: (u8, u8, u8)| colours.contains(&(c.0 >> 4, c.1 >> 4, c.2 >> 4));
    assert!(
        near((0xc0, 0x39, 0x2b)),
        "the capacity line is not on screen"
    );
    assert!(
        near((0x2e, 0x86, 0xc1)),
        "the profile's bars are not on screen"
    );

    // The DOM as Chromium built it holds the three charts, each with marks.
    let dom = String::from_utf8(chromium(&dir.join("profile-dom"), &["--dump-dom", &url])).unwrap();
    assert!(
        dom.contains("docomo-tokyo &lt;POI &amp; 1&gt;"),
        "the POI name is not escaped in the DOM"
    );
    for id in ["chart-daily", "chart-profile", "chart-forecast"] {
        let at = dom
            .find(&format!("<svg id=\"{id}\""))
            .unwrap_or_else(|| panic!("<svg id={id}> not in the DOM"));
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
        let marks =
            svg.matches("<path class=").count() + svg.matches("<rect class=\"bar\"").count();
        assert!(marks >= 2, "{id} has {marks} marks");
        assert!(svg.contains(" d=\"M"), "{id} draws no path");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
