#!/usr/bin/env bash
# Installs everything mvno-upf needs to build and test, idempotently.
# Each step checks whether it is already done (and working) before acting.
# Safe to run again and again; CI runs it before the tests.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs Debian packages, loads XDP programs)"
command -v rustup >/dev/null || die "rustup not found: install the Rust toolchain (rustup) first"

export RUSTUP_AUTO_INSTALL=0
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export PATH="$CARGO_HOME/bin:$PATH"

# 1. The nightly toolchain (for the bpfel-unknown-none target) and rust-src.
rustup run nightly rustc --version >/dev/null 2>&1 \
  || die "the 'nightly' rustup toolchain is missing; it cannot be downloaded here (rustup toolchain install nightly)"
SYSROOT=$(rustup run nightly rustc --print sysroot)
if [ ! -f "$SYSROOT/lib/rustlib/src/rust/library/core/src/lib.rs" ]; then
  log "installing rust-src for nightly"
  if ! rustup component add rust-src --toolchain nightly >/dev/null 2>&1; then
    tarball=""
    for cand in "$here/../shared/toolchain"/rust-src-nightly-*.tar.xz; do
      [ -f "$cand" ] && tarball=$cand
    done
    [ -n "$tarball" ] || die "rust-src for nightly: rustup failed and no offline tarball in ../shared/toolchain"
    log "rustup unreachable, unpacking $tarball"
    tar -xJf "$tarball" -C "$SYSROOT/lib/rustlib/"
  fi
  [ -f "$SYSROOT/lib/rustlib/src/rust/library/core/src/lib.rs" ] || die "rust-src still missing after install"
fi

# 2. bpf-linker built against the nightly's own libLLVM (no system LLVM 22 on Debian 12).
llvm_so=$(ls "$SYSROOT"/lib/libLLVM.so.*-rust-* 2>/dev/null | head -n1 || true)
[ -n "$llvm_so" ] || die "nightly sysroot has no libLLVM.so.*: cannot build bpf-linker"
llvm_major=$(basename "$llvm_so" | sed -E 's/libLLVM\.so\.([0-9]+).*/\1/')
prefix="$CARGO_HOME/bpf-linker-llvm"
linker_ok() {
  command -v bpf-linker >/dev/null 2>&1 || return 1
  bpf-linker --version >/dev/null 2>&1 || return 1
  ldd "$(command -v bpf-linker)" | grep -q "$prefix/lib" || return 1
}
if ! linker_ok; then
  log "building bpf-linker 0.13.0 against $(basename "$llvm_so") (about 80 s)"
  mkdir -p "$prefix/lib"
  ln -sf "$llvm_so" "$prefix/lib/libLLVM.so"
  ln -sf "$llvm_so" "$prefix/lib/$(basename "$llvm_so")"
  LLVM_PREFIX="$prefix" cargo install --locked --force bpf-linker --version 0.13.0 \
    --no-default-features --features "llvm-$llvm_major" >&2
  linker_ok || die "bpf-linker installed but does not run (ldd $(command -v bpf-linker))"
fi

# 3. Debian tools used by the lab and the tests (chromium: the HTML report test renders its page headless;
#    g++: libfuzzer-sys builds libFuzzer for the fuzz smoke).
need_pkgs=()
for pair in tshark:tshark tcpdump:tcpdump ethtool:ethtool ip:iproute2 python3:python3 iperf3:iperf3 chromium:chromium c++:g++; do
  bin=${pair%%:*}; pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# PostgreSQL: the meter's store tests start a real server (initdb, pg_ctl) of their own.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_pkgs+=(postgresql)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# 4. bpffs (for pinning; harmless otherwise).
if ! mount | grep -q ' /sys/fs/bpf type bpf'; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || log "warning: could not mount bpffs on /sys/fs/bpf"
fi

# 5. cargo-fuzz, pinned: the fuzz targets in tests/fuzz (docs/fuzzing.md);
# scripts/test.sh runs libFuzzer briefly on the parser targets. libfuzzer-sys
# builds libFuzzer itself with the C++ compiler.
CARGO_FUZZ_VERSION=0.13.1
fuzz_version() { cargo fuzz --version 2>/dev/null | awk '{print $2}'; }
if [ "$(fuzz_version)" != "$CARGO_FUZZ_VERSION" ]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute)"
  cargo install --locked --force cargo-fuzz --version "$CARGO_FUZZ_VERSION" >&2
  [ "$(fuzz_version)" = "$CARGO_FUZZ_VERSION" ] \
    || die "cargo-fuzz $CARGO_FUZZ_VERSION installed but 'cargo fuzz --version' says '$(fuzz_version)'"
fi
command -v c++ >/dev/null || die "no C++ compiler (c++) after installing g++: libfuzzer-sys needs one"

log "ok: nightly $(rustup run nightly rustc --version | cut -d' ' -f2), $(bpf-linker --version), tshark $(tshark --version 2>/dev/null | head -n1 | awk '{print $3}'), cargo-fuzz $(fuzz_version)"
