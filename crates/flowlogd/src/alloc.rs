//! Allocator tuning that keeps the resident set close to what the pipeline holds.
//!
//! glibc gives every thread that allocates concurrently its own arena (up to 8 per core) and
//! rarely returns their free pages; parse tasks, merge jobs and Parquet writers free large
//! Arrow buffers on different threads, so many arenas cost resident memory. Too few cost
//! time: a backfill runs about six allocating threads per core (async workers, parse and
//! read threads), and with one arena per core they queued on the arena locks (futex waits
//! in a `run --once` profile, a quarter of the cores idle). Four per core was 6–12 % faster
//! than one per core on 5 M and 20 M records for 2–5 % more peak RSS; eight per core
//! added another 8 % of RSS for no speed. `MALLOC_ARENA_MAX` in the environment wins.

/// Arenas per process: four per core.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let arenas = std::thread::available_parallelism().map_or(4, |n| 4 * n.get());
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // thread other than main exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas as libc::c_int);
        }
    }
}

/// Hands the allocator's free pages back to the system. A backfill's flush frees each
/// window's merged rows and hash tables on one thread after allocating them on others, and
/// glibc keeps those pages: without this, a flush of 80 M records grew the resident set
/// by hundreds of MiB of free memory.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
