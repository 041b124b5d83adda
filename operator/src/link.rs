//! Facts of the release binary's link: `build.rs` includes this file to
//! decide it, and the Dockerfile test calls it to check the binary built.

use std::process::Command;

/// The first glibc that reads packed relative relocations (DT_RELR).
pub const RELR_GLIBC: (u32, u32) = (2, 36);

/// This machine's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
pub fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let (major, minor) = text.trim().strip_prefix("glibc ")?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether a binary linked here with packed relative relocations starts here.
pub fn host_reads_packed_relocs() -> bool {
    host_glibc() >= Some(RELR_GLIBC)
}
