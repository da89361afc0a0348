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
echo "$passed passed, $failed failed"
exit "$rc"
