//! The memory allocator's settings for the long-running daemon.
//!
//! glibc's malloc gives a thread that finds the heap busy an arena of its
//! own (up to eight per core), and memory freed into one arena is never
//! reused by another. The controller's runtime threads take turns on the
//! same short-lived request buffers, so each arena grows to the burst of a
//! whole evaluation cycle: measured with 1,000 policies, the two worker
//! arenas held 9 MiB beside a 5 MiB main heap; one shared arena held
//! 11 MiB in all, with no change in CPU per cycle (BENCHMARKS.md, "Load
//! benchmark"). Small allocations mostly come from the per-thread cache
//! and never take the arena's lock, so sharing one costs little here.
//!
//! An operator's own `MALLOC_ARENA_MAX` (or `glibc.malloc.arena_max` in
//! `GLIBC_TUNABLES`) wins. Other C libraries (musl) have no arenas.

/// Limits glibc's malloc to one arena unless the environment already sets
/// the limit. Call before the runtime starts its threads. Returns whether
/// the limit was set here.
pub fn share_one_malloc_arena() -> bool {
    let set_by_operator = std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains("arena_max"));
    !set_by_operator && limit_arenas()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_arenas() -> bool {
    // SAFETY: mallopt only changes malloc's parameters; called before the
    // runtime's threads exist, it races with no allocation.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_arenas() -> bool {
    false
}
