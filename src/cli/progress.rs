//! The progress bar of long simulations, sweeps and comparisons: drawn on
//! stderr only when asked (a terminal, no `--json`), fed from a counter the
//! work updates while it runs on its own thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `length` steps in `template`'s style, hidden unless `show`.
pub fn bar(length: u64, show: bool, template: &str) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(length), target);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Run `work` on a scoped thread, given a counter it advances; every 100 ms
/// the bar shows the counter divided by `per_step`. Cleared at the end.
pub fn with_progress<T: Send>(
    bar: &ProgressBar,
    per_step: u64,
    work: impl FnOnce(&AtomicU64) -> T + Send,
) -> T {
    let counter = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let result = work(&counter);
            done.store(true, Ordering::Release);
            result
        });
        while !done.load(Ordering::Acquire) {
            bar.set_position(counter.load(Ordering::Relaxed) / per_step.max(1));
            std::thread::park_timeout(Duration::from_millis(100));
        }
        worker.join().expect("the simulation does not panic")
    });
    bar.finish_and_clear();
    result
}
