//! CI's smoke of the three fuzz targets (docs/fuzzing.md), as plain tests:
//! each target's harness, the same code libFuzzer drives
//! (`tests/fuzz/harness/`), runs over every input of its committed corpus
//! and every crash reproducer, then over a fixed number of inputs mutated
//! from the corpus by a seeded generator (bit flips, interesting bytes,
//! insertions, deletions, cuts, splices). A broken invariant panics and
//! fails the test, naming the input. The 10 M-execution libFuzzer runs are
//! recorded in docs/fuzzing.md; `scripts/test.sh` also runs libFuzzer
//! itself briefly on the two parser targets.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../fuzz/harness/gtpu_frame.rs"]
mod gtpu_frame;
#[path = "../fuzz/harness/pfcp_codec.rs"]
mod pfcp_codec;
#[path = "../fuzz/harness/pfcp_node.rs"]
mod pfcp_node;

/// libFuzzer's default `-max_len` for these targets.
const MAX_LEN: usize = 4096;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file of `corpus/<target>` and `artifacts/<target>`, sorted by name.
fn inputs(target: &str) -> (Vec<(PathBuf, Vec<u8>)>, usize) {
    let mut corpus = Vec::new();
    let mut reproducers = 0;
    for (dir, is_corpus) in [("corpus", true), ("artifacts", false)] {
        let d = fuzz_dir().join(dir).join(target);
        let Ok(rd) = fs::read_dir(&d) else {
            assert!(!is_corpus, "no corpus at {}: it is committed", d.display());
            continue;
        };
        let mut files: Vec<PathBuf> = rd.map(|e| e.expect("read_dir").path()).collect();
        files.sort();
        for f in files {
            let bytes = fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !is_corpus {
                reproducers += 1;
            }
            corpus.push((f, bytes));
        }
    }
    (corpus, reproducers)
}

/// Uniform in `0..n`, 0 when `n` is 0.
fn below(rng: &mut fastrand::Rng, n: usize) -> usize {
    rng.usize(..n.max(1))
}

const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x10, 0x40];

/// One to four mutations of a corpus input, some spliced with another.
fn mutate(rng: &mut fastrand::Rng, corpus: &[(PathBuf, Vec<u8>)]) -> Vec<u8> {
    let mut b = corpus[below(rng, corpus.len())].1.clone();
    for _ in 0..=below(rng, 4) {
        let len = b.len();
        match below(rng, 7) {
            0 if len > 0 => {
                let i = below(rng, len);
                b[i] ^= 1 << below(rng, 8);
            }
            1 if len > 0 => {
                let i = below(rng, len);
                b[i] = INTERESTING[below(rng, INTERESTING.len())];
            }
            2 => {
                let i = below(rng, len + 1);
                let n = 1 + below(rng, 8);
                let fill: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
                b.splice(i..i, fill);
            }
            3 if len > 0 => {
                let i = below(rng, len);
                let n = 1 + below(rng, (len - i).min(16));
                b.drain(i..i + n);
            }
            4 => b.truncate(below(rng, len + 1)),
            5 => {
                let other = &corpus[below(rng, corpus.len())].1;
                let cut = below(rng, len + 1);
                let from = below(rng, other.len() + 1);
                b.truncate(cut);
                b.extend_from_slice(&other[from..]);
            }
            _ if len > 1 => {
                // Copy a chunk of the input over another place in it.
                let src = below(rng, len);
                let n = 1 + below(rng, (len - src).min(32));
                let chunk = b[src..src + n].to_vec();
                let dst = below(rng, len);
                for (k, v) in chunk.into_iter().enumerate() {
                    if let Some(x) = b.get_mut(dst + k) {
                        *x = v;
                    }
                }
            }
            _ => b.push(rng.u8(..)),
        }
    }
    b.truncate(MAX_LEN);
    b
}

/// Every corpus input and reproducer, then `mutants` seeded mutants: each
/// through `run`; the first panic fails the test with the input in hex.
fn smoke(target: &str, min_corpus: usize, mutants: usize, run: impl Fn(&[u8])) {
    let (corpus, reproducers) = inputs(target);
    assert!(
        corpus.len() - reproducers >= min_corpus,
        "{target}: {} corpus inputs committed, expected at least {min_corpus}",
        corpus.len() - reproducers
    );
    let fails = |what: String, input: &[u8]| -> ! {
        panic!("fuzz target {target} fails on {what}: {input:02x?}")
    };
    for (path, bytes) in &corpus {
        if catch_unwind(AssertUnwindSafe(|| run(bytes))).is_err() {
            fails(path.display().to_string(), bytes);
        }
    }
    // Seeded: a failing mutant is the same on every run.
    let mut rng = fastrand::Rng::with_seed(0x6d76_6e6f_2d75_7066 ^ target.len() as u64);
    for i in 0..mutants {
        let m = mutate(&mut rng, &corpus);
        if catch_unwind(AssertUnwindSafe(|| run(&m))).is_err() {
            fails(format!("mutant {i}"), &m);
        }
    }
    eprintln!(
        "{target}: {} corpus inputs, {reproducers} reproducers, {mutants} mutants: no failure",
        corpus.len() - reproducers
    );
}

#[test]
fn gtpu_frame_target_holds_on_its_corpus_and_mutants() {
    smoke("gtpu_frame", 10, 200_000, gtpu_frame::run);
}

#[test]
fn pfcp_codec_target_holds_on_its_corpus_and_mutants() {
    smoke("pfcp_codec", 500, 100_000, pfcp_codec::run);
}

#[test]
fn pfcp_node_target_holds_on_its_corpus_and_mutants() {
    // libfuzzer-sys decodes a typed input the same way.
    smoke("pfcp_node", 300, 20_000, |bytes| {
        let u = arbitrary::Unstructured::new(bytes);
        if let Ok(ops) = <Vec<pfcp_node::Op> as arbitrary::Arbitrary>::arbitrary_take_rest(u) {
            pfcp_node::run(&ops);
        }
    });
}
