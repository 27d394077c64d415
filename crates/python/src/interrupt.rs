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

/// Runs `work` to its end, or until Ctrl-C.
pub fn run<T: Send + 'static>(
    py: Python<'_>,
    cancel: &Cancel,
    work: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    let slot: Arc<(Mutex<Option<std::thread::Result<T>>>, Condvar)> =
        Arc::new((Mutex::new(None), Condvar::new()));
    let theirs = slot.clone();
    std::thread::Builder::new()
        .name("vmlmap-work".into())
        .spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let (lock, done) = &*theirs;
            if let Ok(mut s) = lock.lock() {
                *s = Some(out);
            }
            done.notify_all();
        })
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start a thread: {e}")))?;
    loop {
        let waiter = slot.clone();
        let finished = py.detach(move || {
            let (lock, done) = &*waiter;
            let guard = lock.lock().ok()?;
            let (mut guard, _) = done
                .wait_timeout_while(guard, Duration::from_millis(50), |s| s.is_none())
                .ok()?;
            guard.take()
        });
        match finished {
            Some(Ok(v)) => return Ok(v),
            Some(Err(_)) => {
                return Err(PyRuntimeError::new_err(
                    "vmlmap's worker thread panicked (a bug: please report it)",
                ))
            }
            None => {
                if let Err(e) = py.check_signals() {
                    cancel.cancel();
                    return match wait(py, &slot) {
                        Ok(()) => Err(e),
                        Err(again) => Err(again),
                    };
                }
            }
        }
    }
}

/// Waits for the cancelled work to end; a signal meanwhile is returned at once.
fn wait<T: Send>(
    py: Python<'_>,
    slot: &Arc<(Mutex<Option<std::thread::Result<T>>>, Condvar)>,
) -> PyResult<()> {
    loop {
        let waiter = slot.clone();
        let ended = py.detach(move || {
            let (lock, done) = &*waiter;
            let Ok(guard) = lock.lock() else {
                return true;
            };
            done.wait_timeout_while(guard, Duration::from_millis(50), |s| s.is_none())
                .map(|(g, _)| g.is_some())
                .unwrap_or(true)
        });
        if ended {
            return Ok(());
        }
        py.check_signals()?;
    }
}
