//! How much freed memory the process keeps for reuse (glibc's malloc only).
//!
//! Bulk transfers through the tunnel allocate and free a few hundred KiB of frame bodies again
//! and again: yamux copies what a stream writes into a new buffer per frame (64 KiB) and queues
//! up to eleven of them per stream, and every frame it reads arrives in a new buffer too. With
//! glibc's default trim threshold (128 KiB) each burst ends with the freed memory handed back to
//! the kernel (`madvise` on the worker threads' heaps), and the next burst faults every page in
//! again: about 70 000 page faults per GiB downloaded in the client, 110 000 in the server
//! with 8 streams, and a fifth of the download's speed. Keeping up to [`TRIM_THRESHOLD`] of
//! free memory on each heap removes them; what it costs is that much more resident memory
//! after a transfer, at most (see `docs/benchmarks.md`).
//!
//! This is process-wide policy, so it is set here by the binary and not by the library; an
//! application embedding `ferrotunnel` decides for itself. `MALLOC_TRIM_THRESHOLD_` in the
//! environment still wins.

/// The free memory at the top of a heap that glibc keeps instead of returning to the kernel:
/// the frames queued for 8 streams at once, with room to spare.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 4 * 1024 * 1024;

/// Keeps up to [`TRIM_THRESHOLD`] of freed memory per heap for reuse, unless the environment
/// sets glibc's own variable. Call it first in `main`, before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // The one FFI call of the binary; the library crates forbid `unsafe`.
pub(crate) fn keep_freed_memory_for_reuse() {
    if std::env::var_os("MALLOC_TRIM_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: `mallopt` only sets a parameter of the allocator, under the allocator's own lock;
    // it takes plain integers and touches no memory of ours. It fails (returns 0) only for an
    // unknown parameter, and then the default stays, which is harmless.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other allocators have their own policy; nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn keep_freed_memory_for_reuse() {}
