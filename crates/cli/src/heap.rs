//! Process-wide heap settings for the `vmlmap` binary.
//!
//! The native engine allocates its activation, tape and im2col buffers fresh in every
//! layer. glibc serves blocks above its mmap threshold (128 KiB, adapting upwards) with
//! `mmap` and hands them back with `munmap` on free, so every network call page-faults and
//! zero-fills its buffers again: 13–15% of the CPU time went to the kernel in the batch-16
//! VJP and the training step (docs/performance.md). Raising the threshold to glibc's
//! maximum (32 MiB) and never trimming the heap keeps freed blocks for reuse: on the
//! project's 2-core machine, batch-16 forward 126 → 107 ms, forward + VJP 320 → 257 ms,
//! training step (batch 32) 890 → 735 ms (medians, `vmlmap bench-nfe`).
//!
//! Blocks above 32 MiB (a 256² network's activations, a batch-32 training step's
//! concatenations) still went to `mmap`, so the heap also never maps (`M_MMAP_MAX` 0: glibc
//! serves them from the heap, and keeps them): 256² forward 1.84 → 1.60 s, system time
//! 5.5 → 1.1 s over a `bench-nfe` run (2026-12-04). And the engine runs on rayon's workers
//! (`native::unet::on_pool`), whose allocations would each take a glibc arena of their own
//! and keep it: one arena (`M_ARENA_MAX` 1) holds the peak RSS of a training step at 282 MB
//! instead of 481–509 MB. The engine allocates per layer, not per value, so the one lock
//! is not contended.
//!
//! Only the binary sets this: a library should not change its host's allocator. Programs
//! that embed the vmlmap crates get the same by exporting
//! `MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_MMAP_MAX_=0
//! MALLOC_ARENA_MAX=1`.

/// glibc's largest mmap threshold on 64-bit targets (`DEFAULT_MMAP_THRESHOLD_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_MAX: libc::c_int = 32 << 20;

/// Keeps freed memory in the heap, unless the user set glibc's own variables (which then
/// win, as glibc reads them at start-up) or `VMLMAP_MALLOC=default`.
pub fn keep_freed_memory() {
    let user_set = [
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_MAX_",
        "MALLOC_ARENA_MAX",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some())
        || std::env::var("VMLMAP_MALLOC").is_ok_and(|v| v == "default");
    if user_set {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other
    // thread exists and takes plain integers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
