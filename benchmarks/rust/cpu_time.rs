//! The calling thread's CPU time (Linux `CLOCK_THREAD_CPUTIME_ID`): what it spent running, not
//! waiting for a core, so that timings stay meaningful on a machine shared with other work.
//! Included by the benchmarks and by `examples/profile_pipeline.rs` with `#[path]`.

#![allow(dead_code)] // each includer uses part of it

use criterion::measurement::{Measurement, ValueFormatter};

/// CPU time consumed by the calling thread so far, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A criterion measurement in thread CPU nanoseconds, shown by the given formatter.
pub struct ThreadCpuTime(pub &'static (dyn ValueFormatter + Sync));

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0
    }
}
