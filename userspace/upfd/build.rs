//! Builds the XDP program (nightly, bpfel-unknown-none, build-std) and leaves
//! the object in OUT_DIR for `include_bytes_aligned!`.
use anyhow::{anyhow, Context as _};

fn main() -> anyhow::Result<()> {
    let xdp_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xdp");
    let xdp_dir = xdp_dir.canonicalize().context("locating the xdp crate")?;
    let root = xdp_dir
        .to_str()
        .ok_or_else(|| anyhow!("non-UTF-8 path {xdp_dir:?}"))?;
    println!("cargo:rerun-if-changed={root}/fastpath");
    println!("cargo:rerun-if-changed={root}/../userspace/abi");
    let package = aya_build::Package {
        name: "upf-xdp",
        root_dir: root,
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::default()).context(
        "building the XDP program (run scripts/setup.sh if bpf-linker or rust-src is missing)",
    )
}
