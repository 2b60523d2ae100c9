//! The binary's allocator: jemalloc, with two changes to how it serves the tunnel, and a watcher
//! that gives freed memory back when the process goes quiet.
//!
//! **Why not glibc's malloc.** A tunnel's tokio workers allocate on one thread and free on the
//! other all the time (a request's head is read on one worker, its response written on
//! another). glibc's per-thread caches hold only blocks up to 1 KiB, seven of each size, so
//! every larger block — a request's boxed futures, hyper's read buffers, a captured exchange —
//! goes through a heap's lock, and with two busy workers that lock is contended: under
//! `wrk -c64` a sixth of the server's samples were futex waits and wakes under `malloc` and
//! `free`, and with the dashboard's capture on, more. jemalloc's per-thread caches hold blocks
//! up to 32 KiB, and a block freed on another thread goes into the freeing thread's cache.
//! Measured against glibc (`docs/benchmarks.md`, change 18): server CPU per request 12.5
//! against 14.3 µs and about 10 % more requests per second plain; 18 against 28 µs and 37 %
//! more with the dashboard on; 110 against 133 MB holding 10 000 streams; 0.4 MiB more at
//! start and about 1 MiB more after traffic.
//!
//! **Zeroed blocks are zeroed here.** jemalloc zeroes a large block it reuses by handing its
//! pages back to the kernel and letting them fault in again as zero pages. yamux reads every
//! frame into a new zeroed buffer of up to 64 KiB (`vec![0; len]`), so in a download the server
//! took 1.9 million page faults where glibc took 3 000, and lost 30 % of its speed. Writing
//! the zeroes ourselves into a block jemalloc already has in memory costs a `memset` of memory
//! that is about to be overwritten anyway, which is what glibc's `calloc` does too.
//!
//! **One arena.** The tunnel has two or three busy threads; jemalloc's default of four arenas
//! per core only spreads their memory thinner (0.25 MiB less at start with one; no difference
//! in CPU per request, because the per-thread caches keep the arena's lock off the common
//! path).
//!
//! **Memory back when quiet.** jemalloc returns freed pages ten seconds after they were last
//! used. A watcher thread reads the process's CPU time every [`QUIET_CHECK`], and when a busy
//! process goes quiet it has every arena return its free pages at once, once per quiet spell:
//! nothing is given back while traffic flows, and an idle tunnel holds what it needs and no
//! more.
//!
//! This is process-wide policy, so it is set here by the binary and not by the library; an
//! application embedding `ferrotunnel` chooses its own allocator. jemalloc's environment
//! variable (`_RJEM_MALLOC_CONF`, jemalloc's `MALLOC_CONF` under the prefix this build gives
//! its symbols) still wins over [`JEMALLOC_CONF`].

use std::time::Duration;

/// How often the watcher reads the process's CPU time.
const QUIET_CHECK: Duration = Duration::from_secs(1);

/// The CPU time within one [`QUIET_CHECK`] under which the process counts as quiet: 1 % of a
/// core. An idle server or client (heartbeats, a watched dashboard) stays well under it.
const QUIET_CPU: Duration = Duration::from_millis(10);

/// jemalloc's options for this binary, read before `main` (see the module's documentation).
#[cfg(not(target_env = "msvc"))]
const JEMALLOC_CONF: &std::ffi::CStr = c"narenas:1";

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: jemalloc::ZeroingHere = jemalloc::ZeroingHere;

#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code)] // The binary's allocator; the library crates forbid `unsafe`.
mod jemalloc {
    use std::alloc::{GlobalAlloc, Layout};
    use std::ffi::c_char;
    use std::ops::Range;

    use tikv_jemallocator::Jemalloc;

    /// The sizes of zeroed block that are zeroed here rather than by jemalloc: from its first
    /// large size class, where it starts zeroing by faulting pages in, up to the largest frame
    /// yamux reads (1 MiB). Past that, lazily zeroed pages are worth their faults.
    const ZEROED_HERE: Range<usize> = 16 * 1024..1024 * 1024 + 1;

    /// jemalloc, except that a large zeroed block is taken as it is and zeroed with a `memset`.
    pub(super) struct ZeroingHere;

    // SAFETY: every call goes to jemalloc with the caller's own arguments. `alloc_zeroed` of a
    // large block takes a block from jemalloc's `alloc` for the same layout and writes zero to
    // all of its `layout.size()` bytes, which is what `alloc_zeroed` promises.
    unsafe impl GlobalAlloc for ZeroingHere {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract passes on unchanged.
            unsafe { Jemalloc.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if !ZEROED_HERE.contains(&layout.size()) {
                // SAFETY: as above.
                return unsafe { Jemalloc.alloc_zeroed(layout) };
            }
            // SAFETY: as above; a block that is not null has `layout.size()` bytes to write.
            unsafe {
                let block = Jemalloc.alloc(layout);
                if !block.is_null() {
                    block.write_bytes(0, layout.size());
                }
                block
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { Jemalloc.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as above.
            unsafe { Jemalloc.realloc(ptr, layout, new_size) }
        }
    }

    /// The address of a C string, as jemalloc's `malloc_conf` variable holds it.
    #[repr(transparent)]
    struct Conf(*const c_char);

    // SAFETY: it points at a string constant, which nothing writes.
    unsafe impl Sync for Conf {}

    /// jemalloc's `malloc_conf` (under this build's symbol prefix), which it reads when it
    /// starts, before the environment's options.
    #[unsafe(export_name = "_rjem_malloc_conf")]
    static MALLOC_CONF: Conf = Conf(super::JEMALLOC_CONF.as_ptr());

    /// Has every arena return its unused pages to the kernel now.
    pub(super) fn purge_arenas() {
        // `MALLCTL_ARENAS_ALL`: every arena.
        const NAME: &std::ffi::CStr = c"arena.4096.purge";
        // SAFETY: `arena.<i>.purge` reads and writes nothing of the caller's (all null, 0);
        // the name is a NUL-terminated string constant. A failure leaves the pages where they
        // are, which costs memory and nothing else.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                NAME.as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            );
        }
    }
}

/// Starts the watcher that gives memory back when the process goes quiet. Call it first in
/// `main`.
#[cfg(not(target_env = "msvc"))]
pub(crate) fn give_memory_back_when_quiet() {
    // Without the thread (the system refused one) only memory after traffic is at stake, so the
    // tunnel runs on; nothing can log it yet, as logging starts once the command is known.
    let _watcher = std::thread::Builder::new()
        .name("ferrotunnel-purge".into())
        .spawn(|| {
            let mut quiet = QuietWatch::new(process_cpu_time());
            loop {
                std::thread::sleep(QUIET_CHECK);
                if quiet.went_quiet(process_cpu_time()) {
                    jemalloc::purge_arenas();
                    // The purge's own CPU time is not traffic.
                    quiet.purged(process_cpu_time());
                }
            }
        });
}

/// The system's allocator, with its own policy; nothing to set.
#[cfg(target_env = "msvc")]
pub(crate) fn give_memory_back_when_quiet() {}

/// CPU time the whole process has used, all threads together.
#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code)]
fn process_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec`, which `now` is, and nothing else. The
    // process CPU clock always exists on Linux; were it to fail, `now` stays zero, the process
    // looks quiet throughout, and nothing is purged.
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
    /// Whether some check since the last purge found the process busy.
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

    /// Takes the next reading; true when the process was busy since the last purge and this
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

    /// Moves past the purge's own CPU time, so that it does not count as work.
    fn purged(&mut self, cpu: Duration) {
        self.last = cpu;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[cfg(not(target_env = "msvc"))]
    #[test]
    #[allow(unsafe_code)] // Calls the allocator as the standard library does.
    fn a_large_zeroed_block_is_zero_even_where_a_dirty_one_was_freed() {
        use std::alloc::{GlobalAlloc as _, Layout};

        for size in [16 * 1024, 64 * 1024, 1024 * 1024, 4 * 1024 * 1024] {
            let layout = Layout::from_size_align(size, 1).expect("a valid layout");
            for _ in 0..4 {
                // SAFETY: a layout of non-zero size; each block is written within its size and
                // freed once with its own layout.
                unsafe {
                    let dirty = ALLOCATOR.alloc(layout);
                    assert!(!dirty.is_null());
                    dirty.write_bytes(0xA5, size);
                    ALLOCATOR.dealloc(dirty, layout);
                    let zeroed = ALLOCATOR.alloc_zeroed(layout);
                    assert!(!zeroed.is_null());
                    let bytes = std::slice::from_raw_parts(zeroed, size);
                    assert!(bytes.iter().all(|&b| b == 0), "{size} bytes");
                    ALLOCATOR.dealloc(zeroed, layout);
                }
            }
        }
    }

    #[cfg(not(target_env = "msvc"))]
    #[test]
    #[allow(unsafe_code)] // Reads one of jemalloc's options.
    fn jemalloc_runs_with_the_binarys_options() {
        let mut narenas: std::ffi::c_uint = 0;
        let mut len = std::mem::size_of_val(&narenas);
        // SAFETY: `opt.narenas` is an `unsigned`, written to `narenas`, whose size `len` gives.
        let status = unsafe {
            tikv_jemalloc_sys::mallctl(
                c"opt.narenas".as_ptr(),
                (&raw mut narenas).cast(),
                &raw mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(status, 0);
        assert_eq!(narenas, 1, "JEMALLOC_CONF is {JEMALLOC_CONF:?}");
        jemalloc::purge_arenas();
    }

    #[test]
    fn a_busy_process_that_goes_quiet_is_purged_once() {
        let mut quiet = QuietWatch::new(ms(40));
        // Start-up counts as work: the first quiet check purges.
        assert!(quiet.went_quiet(ms(41)));
        assert!(!quiet.went_quiet(ms(42)));
        // Traffic: a second of 300 ms of CPU, then another.
        assert!(!quiet.went_quiet(ms(342)));
        assert!(!quiet.went_quiet(ms(642)));
        // Quiet again: one purge, then none for as long as it stays quiet.
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
    fn the_purge_itself_is_not_counted_as_work() {
        let mut quiet = QuietWatch::new(Duration::ZERO);
        assert!(!quiet.went_quiet(ms(500)));
        assert!(quiet.went_quiet(ms(501)));
        // Purging large arenas took 25 ms of CPU.
        quiet.purged(ms(526));
        assert!(!quiet.went_quiet(ms(527)));
    }
}
