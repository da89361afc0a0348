#!/usr/bin/env bash
# The whole test suite: formatting, clippy, unit tests, BPF_PROG_TEST_RUN
# table tests of the loaded XDP program, and end-to-end tests in network
# namespaces (generic and native XDP, tshark decoding the gateway's packets).
# Needs root (CI runs as root); a missing precondition fails loudly.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

[ "$(id -u)" = 0 ] || { echo "test.sh: the tests load XDP programs and create network namespaces: run as root" >&2; exit 1; }
bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy -q --workspace --all-targets -- -D warnings
echo "== build"
cargo build -q --workspace --bins

log=$(mktemp /tmp/mvno-upf-test.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "== cargo test"
set +e
# --no-fail-fast: every failing test is reported, not only the first binary's.
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
passed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^test result:' "$log" | sed -E 's/.* ([0-9]+) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi

# libFuzzer itself, briefly, on every target (docs/fuzzing.md): the
# committed corpus, then fresh inputs for a few seconds each. New inputs
# go to a scratch directory, never into the committed corpus; a crash leaves
# its input in tests/fuzz/artifacts/<target>/. pfcp_node (the PFCP node and
# the session core as one state machine) needs the `node` feature: the
# session core has no aya and no I/O, so its sanitizer build is cheap.
echo "== fuzz smoke (libFuzzer)"
fuzz_scratch=$(mktemp -d /tmp/mvno-upf-fuzz.XXXXXX)
trap 'rm -rf "$log" "$fuzz_scratch"' EXIT
extra_rc=0
fuzz_features() { [ "$1" = pfcp_node ] && echo "--features node" || true; }
fuzz_built=1
for t in gtpu_frame pfcp_codec pfcp_node; do
  # shellcheck disable=SC2046 # the feature flags are two words
  if ! cargo +nightly fuzz build --fuzz-dir tests/fuzz $(fuzz_features "$t") "$t" >>"$fuzz_scratch/build.log" 2>&1; then
    fuzz_built=0
  fi
done
if [ "$fuzz_built" = 1 ]; then
  for t in gtpu_frame pfcp_codec pfcp_node; do
    mkdir -p "$fuzz_scratch/$t"
    # shellcheck disable=SC2046
    if cargo +nightly fuzz run --fuzz-dir tests/fuzz $(fuzz_features "$t") "$t" "$fuzz_scratch/$t" "tests/fuzz/corpus/$t" -- \
        -max_total_time="${UPF_FUZZ_SMOKE_SECS:-10}" -timeout=10 -rss_limit_mb=2048 >"$fuzz_scratch/$t.log" 2>&1; then
      grep -E '^Done [0-9]+ runs' "$fuzz_scratch/$t.log" | sed "s/^/fuzz smoke: $t: /"
      passed=$((passed + 1))
    else
      tail -n 40 "$fuzz_scratch/$t.log"
      echo "fuzz smoke: $t FAILED (its input is in tests/fuzz/artifacts/$t/; docs/fuzzing.md says how to replay it)" >&2
      failed=$((failed + 1)); extra_rc=1
    fi
  done
else
  tail -n 40 "$fuzz_scratch/build.log"
  echo "fuzz smoke: building the fuzz targets FAILED" >&2
  failed=$((failed + 1)); extra_rc=1
fi

# The planner's CLI and the session core build without a BPF library
# (docs/ARCHITECTURE.md): nothing in their dependency trees may pull aya.
echo "== no aya below upfctl and upf-session"
for crate in upfctl upf-session upf-config upf-control; do
  if cargo tree -q -p "$crate" -e normal,build --prefix none | grep -q '^aya'; then
    cargo tree -q -p "$crate" -e normal,build -i aya >&2 || true
    echo "dependency check: $crate depends on aya (see the path above)" >&2
    failed=$((failed + 1)); extra_rc=1
  else
    echo "dependency check: $crate: no aya"
    passed=$((passed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$rc" = 0 ] || exit "$rc"
exit "$extra_rc"
