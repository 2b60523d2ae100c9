//! How glibc's malloc serves the process: how many heaps, how much freed memory each keeps for
//! reuse, and when it gives that memory back.
//!
//! Bulk transfers through the tunnel allocate and free a few hundred KiB of frame bodies again
//! and again: yamux copies what a stream writes into a new buffer per frame (64 KiB) and queues
//! up to eleven of them per stream, and every frame it reads arrives in a new buffer too. With
//! glibc's default trim threshold (128 KiB) each burst ends with the freed memory handed back to
//! the kernel (`madvise` on the worker threads' heaps), and the next burst faults every page in
//! again: about 70 000 page faults per GiB downloaded in the client, 110 000 in the server
//! with 8 streams, and a fifth of the download's speed. Keeping up to [`TRIM_THRESHOLD`] of
//! free memory on each heap removes them.
//!
//! What that costs is resident memory once the traffic is over: up to the threshold on each
//! heap, and the free chunks glibc never trims from the middle of a heap. So a watcher thread
//! reads the process's CPU time every [`QUIET_CHECK`], and when a busy process goes quiet it
//! asks glibc to return every free page (`malloc_trim`), once per quiet spell: nothing is given
//! back while traffic flows, and an idle tunnel holds what it needs and no more.
//!
//! And one heap for every thread, not one per thread (glibc's default, up to eight per core):
//! the tunnel's worker threads hand buffers to each other all the time, and each heap keeps its
//! own fragments. One heap halves the heap memory still resident after traffic (server 8.3 →
//! 4.4 MiB, client 6.2 → 2.2), with no cost in CPU per request or download speed that the
//! noise let show: glibc's per-thread caches serve small allocations without the heap's lock.
//!
//! This is process-wide policy, so it is set here by the binary and not by the library; an
//! application embedding `ferrotunnel` decides for itself. glibc's own variables in the
//! environment (`MALLOC_TRIM_THRESHOLD_`, `MALLOC_ARENA_MAX`) still win: with the first set,
//! nothing is trimmed by the watcher either.

use std::time::Duration;

/// The free memory at the top of a heap that glibc keeps instead of returning to the kernel:
/// the frames a session may hold for its streams in a bulk transfer, whose windows grow past
/// their first 256 KiB (the library's session window growth, 16 MiB; with 4 MiB kept here the
/// server took 150 000 page faults per GiB downloaded on one stream again).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

/// How often the watcher reads the process's CPU time.
const QUIET_CHECK: Duration = Duration::from_secs(1);

/// The CPU time within one [`QUIET_CHECK`] under which the process counts as quiet: 1 % of a
/// core. An idle server or client (heartbeats, a watched dashboard) stays well under it.
const QUIET_CPU: Duration = Duration::from_millis(10);

/// One heap for all threads, and up to [`TRIM_THRESHOLD`] of freed memory kept on it for reuse
/// while the process is busy and returned when it goes quiet; each unless the environment sets
/// glibc's own variable. Call it first in `main`, before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // The binary's FFI calls; the library crates forbid `unsafe`.
pub(crate) fn tune_allocator() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: as for `M_TRIM_THRESHOLD` below; no thread has allocated from a second heap
        // yet, since none but this one exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: `mallopt` only sets a parameter of the allocator, under the allocator's own lock;
    // it takes plain integers and touches no memory of ours. It fails (returns 0) only for an
    // unknown parameter, and then the default stays, which is harmless.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
    // Without the thread (the system refused one) only memory after traffic is at stake, so the
    // tunnel runs on; nothing can log it yet, as logging starts once the command is known.
    let _watcher = std::thread::Builder::new()
        .name("ferrotunnel-trim".into())
        .spawn(|| {
            let mut quiet = QuietWatch::new(process_cpu_time());
            loop {
                std::thread::sleep(QUIET_CHECK);
                if quiet.went_quiet(process_cpu_time()) {
                    // SAFETY: `malloc_trim` walks the allocator's own free lists under its
                    // locks and returns free pages to the kernel; no memory of ours changes.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                    // The trim's own CPU time is not traffic.
                    quiet.trimmed(process_cpu_time());
                }
            }
        });
}

/// Other allocators have their own policy; nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn tune_allocator() {}

/// CPU time the whole process has used, all threads together.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec`, which `now` is, and nothing else. The
    // process CPU clock always exists on Linux; were it to fail, `now` stays zero, the process
    // looks quiet throughout, and nothing is trimmed.
    unsafe {
        libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now);
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// Tells, from successive readings of the process's CPU time, when a busy process has gone
/// quiet: the moment to give freed memory back.
#[derive(Debug)]
struct QuietWatch {
    last: Duration,
    /// Whether some check since the last trim found the process busy.
    busy: bool,
}

impl QuietWatch {
    fn new(cpu: Duration) -> Self {
        Self {
            last: cpu,
            // Starting up allocates and frees too.
            busy: true,
        }
    }

    /// Takes the next reading; true when the process was busy since the last trim and this
    /// check found it quiet.
    fn went_quiet(&mut self, cpu: Duration) -> bool {
        let used = cpu.saturating_sub(self.last);
        self.last = cpu;
        if used >= QUIET_CPU {
            self.busy = true;
            return false;
        }
        std::mem::take(&mut self.busy)
    }

    /// Moves past the trim's own CPU time, so that it does not count as work.
    fn trimmed(&mut self, cpu: Duration) {
        self.last = cpu;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_busy_process_that_goes_quiet_is_trimmed_once() {
        let mut quiet = QuietWatch::new(ms(40));
        // Start-up counts as work: the first quiet check trims.
        assert!(quiet.went_quiet(ms(41)));
        assert!(!quiet.went_quiet(ms(42)));
        // Traffic: a second of 300 ms of CPU, then another.
        assert!(!quiet.went_quiet(ms(342)));
        assert!(!quiet.went_quiet(ms(642)));
        // Quiet again: one trim, then none for as long as it stays quiet.
        assert!(quiet.went_quiet(ms(645)));
        assert!(!quiet.went_quiet(ms(646)));
        assert!(!quiet.went_quiet(ms(650)));
    }

    #[test]
    fn steady_background_work_under_the_threshold_is_quiet() {
        let mut quiet = QuietWatch::new(Duration::ZERO);
        assert!(quiet.went_quiet(ms(9)));
        for second in 2..20 {
            assert!(!quiet.went_quiet(ms(9 * second)), "second {second}");
        }
    }

    #[test]
    fn the_trim_itself_is_not_counted_as_work() {
        let mut quiet = QuietWatch::new(Duration::ZERO);
        assert!(!quiet.went_quiet(ms(500)));
        assert!(quiet.went_quiet(ms(501)));
        // Trimming a large heap took 25 ms of CPU.
        quiet.trimmed(ms(526));
        assert!(!quiet.went_quiet(ms(527)));
    }
}
