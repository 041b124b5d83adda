//! Links the release binary with the functions `wardops run` executes packed
//! together, in the order of `symbol-order.txt` (written by
//! `scripts/symbol-order.sh`). Linux maps a process's code from its file and,
//! on each page fault, the neighbouring pages too; code that runs, scattered
//! among code that never does, keeps most of the binary resident.
//!
//! Only for the release profile on x86_64 Linux, where rustc links with its
//! own lld (GNU ld has no `--symbol-ordering-file`), which also packs the
//! relative relocations. Names the binary no
//! longer has are skipped without a warning: a stale list costs packing, not
//! a build. `WARDOPS_SYMBOL_ORDER=off` links without it.
//!
//! The release binary's symbol table is stripped here, by the linker, not by
//! the profile's `strip`: cargo derives every crate's symbol names from the
//! profile (`-C metadata`), so a build with symbols for the profile
//! (`WARDOPS_SYMBOL_ORDER=profile`: no order, symbols kept) must have the same
//! profile as the image's.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=WARDOPS_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=WARDOPS_PACK_RELOCS");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_target = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let mode = env::var("WARDOPS_SYMBOL_ORDER").unwrap_or_default();
    if !release {
        return;
    }
    if mode != "profile" {
        println!("cargo:rustc-link-arg-bin=wardops=-Wl,--strip-all");
    }
    if !lld_target {
        return;
    }
    // The loader's relative relocations in their packed form (DT_RELR): about
    // 60,000 of them, 1.35 MiB read at every start and left resident, become
    // 22 KiB. It needs glibc 2.36 (the image's Debian 12); the kubectl
    // plugin's archive, for users' machines (RHEL 9 has 2.34), is built with
    // `WARDOPS_PACK_RELOCS=off` (scripts/dist.sh).
    if env::var("WARDOPS_PACK_RELOCS").as_deref() != Ok("off") {
        println!("cargo:rustc-link-arg-bin=wardops=-Wl,-z,pack-relative-relocs");
    }
    if mode == "off" || mode == "profile" {
        return;
    }
    let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = std::path::Path::new(&dir).join("symbol-order.txt");
    if !order.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin=wardops=-Wl,--symbol-ordering-file={}",
        order.display()
    );
    println!("cargo:rustc-link-arg-bin=wardops=-Wl,--no-warn-symbol-ordering");
}
