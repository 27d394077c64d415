//! Long work off the interpreter's thread: the work runs in a thread of its own while the
//! caller's thread, with the GIL released, waits and checks for signals every 50 ms. On
//! Ctrl-C the [`Cancel`] flag is set, the run stops at its next network evaluation
//! (nothing is written), and `KeyboardInterrupt` is raised once the work thread has ended,
//! so that no thread of ours calls into an interpreter that is shutting down. A second
//! Ctrl-C while waiting raises at once.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use vmlmap_restore::Cancel;

/// Where the work thread leaves its result (or its panic).
type Slot<T> = Arc<(Mutex<Option<std::thread::Result<T>>>, Condvar)>;

/// Runs `work` to its end, or until Ctrl-C.
pub fn run<T: Send + 'static>(
    py: Python<'_>,
    cancel: &Cancel,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let slot: Slot<T> = Arc::new((Mutex::new(None), Condvar::new()));
    let theirs = slot.clone();
    std::thread::Builder::new()
        .name("vmlmap-work".into())
        .spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let (lock, done) = &*theirs;
            *lock.lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
            done.notify_all();
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    loop {
        match poll(py, &slot) {
            Some(Ok(v)) => return Ok(v),
            Some(Err(_)) => {
                return Err(PyRuntimeError::new_err(
                    "vmlmap's worker thread panicked (a bug: please report it)",
                ))
            }
            None => {
                if let Err(e) = py.check_signals() {
                    cancel.cancel();
                    // Wait for the work to stop; a second Ctrl-C returns at once.
                    while poll(py, &slot).is_none() {
                        py.check_signals()?;
                    }
                    return Err(e);
                }
            }
        }
    }
}

/// Waits up to 50 ms, with the GIL released, for the work's result, and takes it.
fn poll<T: Send + 'static>(py: Python<'_>, slot: &Slot<T>) -> Option<std::thread::Result<T>> {
    let waiter = slot.clone();
    py.detach(move || {
        let (lock, done) = &*waiter;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (mut guard, _) = done
            .wait_timeout_while(guard, Duration::from_millis(50), |s| s.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.take()
    })
}
