//! Progress of long work, alike in every command: a bar on a terminal; otherwise (a
//! background job writing a log) a line at most every 10 seconds and at the end.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};

/// How often a log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: ProgressBar,
    name: &'static str,
    /// `None` on a terminal; else when the last log line was written.
    log: Option<Instant>,
    started: Instant,
}

impl Progress {
    /// `what` names the unit counted (`steps`, `samples`, ...).
    pub fn new(name: &'static str, len: u64, what: &str) -> Self {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{name} {{bar:30}} {{pos}}/{{len}} {what} {{msg}} {{elapsed}} eta {{eta}}"
            ))
            .expect("valid template"),
        );
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self {
            bar,
            name,
            log: (!terminal).then(Instant::now),
            started: Instant::now(),
        }
    }

    /// Position `pos` of `len`, with a message.
    pub fn set(&mut self, pos: u64, len: u64, msg: &str) {
        self.bar.set_length(len);
        self.bar.set_position(pos);
        self.bar.set_message(msg.to_string());
        if let Some(last) = &mut self.log {
            if last.elapsed() >= LOG_EVERY || pos == len {
                *last = Instant::now();
                eprintln!(
                    "{}: {pos}/{len} {msg} ({:.0} s)",
                    self.name,
                    self.started.elapsed().as_secs_f64()
                );
            }
        }
    }

    /// Runs `f` (which prints) without tearing the bar.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
