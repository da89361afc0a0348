//! CI's check that `e2e-bench` still runs (not a timed test): `--smoke`
//! (the generator's ceiling and one short generic-mode case per direction,
//! 64 sessions sent to round robin, 64-byte packets), its table complete,
//! its figures sane and every session's flow delivered.
//! Needs root and upfd/upfctl built next to the benchmark binary
//! (`cargo build -p upfd -p upfctl`, or `$UPF_BIN_DIR`); without them it
//! fails and says so.

use std::process::Command;

#[test]
fn e2e_smoke_runs_and_its_figures_are_sane() {
    let out_file = std::env::temp_dir().join(format!("mupf-e2e-smoke-{}.md", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_e2e-bench"))
        .arg("--smoke")
        .arg("--out")
        .arg(&out_file)
        .output()
        .expect("running e2e-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "e2e-bench --smoke failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let md = std::fs::read_to_string(&out_file).expect("the --out file");
    let _ = std::fs::remove_file(&out_file);
    assert_eq!(md, stdout, "--out must hold what stdout printed");
    assert!(md.starts_with("### "), "no title:\n{md}");
    assert!(md.contains("- command: `"), "no command line:\n{md}");
    let rows: Vec<Vec<&str>> = md
        .lines()
        .filter(|l| l.starts_with("| uplink") || l.starts_with("| downlink"))
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect();
    for dir in ["uplink", "downlink"] {
        for xdp in ["none (ceiling)", "generic"] {
            let row = rows
                .iter()
                .find(|r| r[0] == dir && r[4] == xdp)
                .unwrap_or_else(|| panic!("no {dir} row for {xdp}:\n{md}"));
            let mfr: f64 = row[7].parse().expect("max fwd pps is a number");
            assert!(
                (1_000.0..100_000_000.0).contains(&mfr),
                "{dir} {xdp}: max forwarding rate {mfr} pps is not plausible\n{md}\n{stderr}"
            );
            let offered: f64 = row[9].parse().expect("offered pps is a number");
            assert!(
                mfr <= offered * 1.001,
                "{dir} {xdp}: counted more than offered\n{md}"
            );
            if xdp != "none (ceiling)" {
                // The round robin reached every session through the gateway.
                assert_eq!(row[3], "64", "{dir}: sessions\n{md}");
                assert_eq!(row[12], "random", "{dir}: order\n{md}");
                assert_eq!(row[13], "hash", "{dir}: tables\n{md}");
                assert_eq!(
                    row[14], "64",
                    "{dir}: not every session delivered a correct frame\n{md}"
                );
            }
        }
    }
    eprintln!("{md}");
}
