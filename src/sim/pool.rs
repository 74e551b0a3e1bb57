//! A small worker pool on std threads: runs independent jobs on every core
//! and returns their results in the jobs' order. Sweeps and comparisons
//! use it; simulations are CPU-bound and share nothing but the trace.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many threads to use: every core the OS gives us.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Run `work` on each job on up to `threads` threads; results come back in
/// the order of `jobs`. Jobs are taken in order, so put long ones first.
pub fn run_all<J, R, F>(jobs: &[J], threads: usize, work: F) -> Vec<R>
where
    J: Sync,
    R: Send,
    F: Fn(&J) -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(jobs.len()).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.clamp(1, jobs.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(index) else {
                            break;
                        };
                        done.push((index, work(job)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            for (index, result) in worker.join().expect("a pool worker does not panic") {
                results[index] = Some(result);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.expect("every job was run"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_jobs_order() {
        let jobs: Vec<u64> = (0..100).collect();
        for threads in [1, 3, 8] {
            let squares = run_all(&jobs, threads, |&j| j * j);
            assert_eq!(squares, jobs.iter().map(|j| j * j).collect::<Vec<_>>());
        }
        assert!(run_all(&[] as &[u64], 4, |&j| j).is_empty());
    }
}
