//! Returning the heap's free memory to the system after each burst of work.
//!
//! glibc's allocator gives memory back on its own only from the top of each
//! heap. A burst (the first listing of a city, a restart's reconcile of
//! every ward) frees most of what it allocated, but among objects that stay,
//! so the freed pages stay resident. Once the operator has been quiet for
//! [`QUIET`], `malloc_trim` hands every free page back (`MADV_DONTNEED`):
//! one call per burst, under a millisecond at 1,000 wards (`make bench`;
//! the operator logs each at debug level, with what it gave back).
//!
//! And the operator allocates from one heap ([`one_arena`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Work done so far: reconciles finished and cache changes handed on.
static WORK: AtomicU64 = AtomicU64::new(0);

/// How long no work must have been done before the heap is trimmed.
pub const QUIET: Duration = Duration::from_secs(2);

/// Counts a unit of work (a reconcile, a changed object).
pub fn worked() {
    WORK.fetch_add(1, Ordering::Relaxed);
}

/// What [`trim_when_quiet`] does on each tick: trims when no work was done
/// since the previous tick, and some since the last trim. `last` is the work
/// count seen at the previous tick, `trimmed` at the last trim.
fn should_trim(now: u64, last: &mut u64, trimmed: &mut u64) -> bool {
    let quiet = now == *last && now != *trimmed;
    *last = now;
    if quiet {
        *trimmed = now;
    }
    quiet
}

/// Trims the heap after each burst of work, until the process ends.
pub async fn trim_when_quiet() {
    let (mut last, mut trimmed) = (0, 0);
    let mut tick = tokio::time::interval(QUIET);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if should_trim(WORK.load(Ordering::Relaxed), &mut last, &mut trimmed) {
            // Measured only for the debug line: two reads of /proc otherwise spared.
            if !tracing::enabled!(tracing::Level::DEBUG) {
                trim();
                continue;
            }
            let (before, start) = (resident_kib(), std::time::Instant::now());
            trim();
            tracing::debug!(
                took_ms = start.elapsed().as_millis() as u64,
                released_kib = before.saturating_sub(resident_kib()),
                "heap trimmed"
            );
        }
    }
}

/// This process's resident memory in KiB (`/proc/self/statm`), 0 where
/// it cannot be read.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page_size() / 1024)
}

/// The size of a memory page, in bytes.
fn page_size() -> u64 {
    #[cfg(unix)]
    // SAFETY: sysconf reads a constant of the system.
    let bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    #[cfg(not(unix))]
    let bytes = 4096;
    u64::try_from(bytes).unwrap_or(4096)
}

/// Makes every thread allocate from the one main heap. glibc gives each
/// thread that meets another in the allocator an arena of its own (up to
/// eight per core), and what one arena frees serves no other: at 1,000
/// wards, the tokio workers' arenas held 2.5 MiB more after a restart
/// (`make bench`). The operator's few threads rarely allocate at once; the
/// gateway, which serves requests on several, keeps glibc's default. Called
/// before the runtime starts its threads.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets a parameter of the allocator, under its lock.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Gives the allocator's free pages back to the system.
fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_is_trimmed_once_after_each_burst() {
        let (mut last, mut trimmed) = (0, 0);
        let mut ticks = |work: &[u64]| {
            work.iter()
                .map(|&w| should_trim(w, &mut last, &mut trimmed))
                .collect::<Vec<_>>()
        };
        // Nothing done: nothing to give back.
        assert_eq!(ticks(&[0, 0]), [false, false]);
        // Busy for two ticks, then quiet: one trim, then none while quiet.
        assert_eq!(ticks(&[5, 9, 9, 9, 9]), [false, false, true, false, false]);
        // A single change in a quiet tick, then quiet again: one more.
        assert_eq!(ticks(&[10, 10, 10]), [false, true, false]);
    }

    /// How many of the whole pages inside `[start, start + len)` are
    /// resident (`mincore`), the first and last left out: the allocator
    /// writes its own bookkeeping at a free block's start.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_inside(start: usize, len: usize) -> usize {
        let page = usize::try_from(page_size()).unwrap();
        let first = start.next_multiple_of(page) + page;
        let end = (start + len) / page * page - page;
        if end <= first {
            return 0;
        }
        let mut resident = vec![0u8; (end - first) / page];
        // SAFETY: `resident` holds one byte per page of the range; a range
        // no longer mapped (the heap shrank) is an error, not a fault.
        let rc = unsafe {
            libc::mincore(
                first as *mut libc::c_void,
                end - first,
                resident.as_mut_ptr(),
            )
        };
        if rc != 0 {
            // ENOMEM: unmapped, so not resident.
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::ENOMEM)
            );
            return 0;
        }
        resident.iter().filter(|&&r| r & 1 == 1).count()
    }

    /// 64 MiB freed between blocks still in use is not resident once
    /// trimmed, and what is in use is untouched. Freed, without the trim, all
    /// of it stays resident in a thread's arena, and half of it in the main
    /// one (measured: 64 and 32 MiB). Read page by page, so that what other
    /// tests allocate meanwhile does not count.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_trim_gives_back_what_was_freed_among_what_is_kept() {
        const BLOCK: usize = 64 * 1024;
        let mut freed = Vec::new();
        let mut kept = Vec::new();
        for i in 0..1024u32 {
            // Under glibc's mmap threshold (128 KiB): from the heap.
            freed.push(vec![1u8; BLOCK]);
            kept.push(vec![i; 4]);
        }
        let blocks: Vec<usize> = freed.iter().map(|b| b.as_ptr() as usize).collect();
        let resident = || -> usize { blocks.iter().map(|&b| resident_inside(b, BLOCK)).sum() };
        let all = resident();
        drop(freed);
        let before = resident();
        trim();
        let after = resident();
        assert!(
            after < all / 20,
            "pages of the freed blocks resident: {all} in use, {before} freed, {after} trimmed"
        );
        assert!(kept.iter().enumerate().all(|(i, v)| v == &[i as u32; 4]));
    }
}
