//! The release binary's link (x86_64 Linux, where rustc links with its own
//! lld):
//!
//! - The functions `wardops run` executes are packed together, in the order
//!   of `symbol-order.txt` (written by `scripts/symbol-order.sh`). Linux maps
//!   a process's code from its file and, on each page fault, the neighbouring
//!   pages too; code that runs, scattered among code that never does, kept
//!   most of the binary resident. Names the binary no longer has are skipped
//!   without a warning: a stale list costs packing, not a build.
//!   `WARDOPS_SYMBOL_ORDER=off` links without it.
//! - The loader's relative relocations are packed (DT_RELR): about 60,000 of
//!   them, 1.35 MiB read at every start and left resident, become 22 KiB. The
//!   binary then needs glibc 2.36, so only where the building machine has it
//!   (the image's Debian 12 does; `make plugin` and `make bench` run what they
//!   build). `WARDOPS_PACK_RELOCS=off` links without it: the kubectl plugin's
//!   archive (`scripts/dist.sh`), for users' machines (RHEL 9 has 2.34).
//! - The symbol table is stripped here, by the linker (GNU ld's and lld's
//!   `--strip-all`, on Linux), not by the profile's `strip`: cargo derives every crate's symbol names from
//!   the profile (`-C metadata`), so the build that `scripts/symbol-order.sh`
//!   profiles (`WARDOPS_SYMBOL_ORDER=profile`: no order, symbols kept) must
//!   have the image's profile. `WARDOPS_SYMBOL_ORDER=keep-symbols` links in
//!   order and keeps the symbol table: the image's layout, with names, to
//!   read which functions a running operator keeps resident.

use std::env;

#[path = "src/link.rs"]
mod link;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-changed=src/link.rs");
    println!("cargo:rerun-if-env-changed=WARDOPS_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=WARDOPS_PACK_RELOCS");
    if env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let mode = env::var("WARDOPS_SYMBOL_ORDER").unwrap_or_default();
    let keep_symbols = mode == "profile" || mode == "keep-symbols";
    if !keep_symbols && env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        link_arg("--strip-all");
    }
    if env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return;
    }
    if env::var("WARDOPS_PACK_RELOCS").as_deref() != Ok("off") && link::host_reads_packed_relocs() {
        link_arg("-z,pack-relative-relocs");
    }
    let order = std::path::Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("symbol-order.txt");
    if mode == "off" || mode == "profile" || !order.is_file() {
        return;
    }
    link_arg(&format!("--symbol-ordering-file={}", order.display()));
    link_arg("--no-warn-symbol-ordering");
}

/// One linker argument for the `wardops` binary.
fn link_arg(arg: &str) {
    println!("cargo:rustc-link-arg-bin=wardops=-Wl,{arg}");
}
