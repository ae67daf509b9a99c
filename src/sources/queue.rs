//! The one parallel work queue every source uses: items handed out in
//! batches, in order, from one atomic cursor, to a thread per core.
//!
//! Sources differ in what a worker keeps (an object reader with its
//! delta-base cache, a report) and in what one item costs, not in how work
//! is shared, so that lives here once: threads take the next batch when
//! they are done with theirs (an uneven batch does not hold the others
//! up), a worker can stop the queue (a time budget ran out, an error), and
//! a worker that panics is reported, never taken for one that found
//! nothing. One item, or one thread's worth, runs on the calling thread,
//! without spawning: a pre-commit hook with one staged file pays nothing.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// What a worker says after a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The worker takes another batch, if there is one.
    Continue,
    /// No worker takes another batch (those running finish theirs).
    Stop,
}

/// How many threads `items` items deserve, at least `per_thread` each, and
/// no more than the machine's cores.
pub(crate) fn worker_count(items: usize, per_thread: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.div_ceil(per_thread.max(1)))
        .max(1)
}

/// Runs `work` over `0..len` in batches of `batch` indices on `workers`
/// threads. Each thread starts with `start()`, passes it to `work` with
/// each batch it takes, and gives it back at the end: one entry per thread,
/// `None` for a thread that panicked. Batches are taken in order, so a
/// worker that reads objects reads them in the order given.
pub fn run<State, Start, Work>(
    len: usize,
    batch: usize,
    workers: usize,
    start: Start,
    work: Work,
) -> Vec<Option<State>>
where
    State: Send,
    Start: Fn() -> State + Sync,
    Work: Fn(&mut State, Range<usize>) -> Step + Sync,
{
    let batch = batch.max(1);
    let next = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let worker = || {
        let mut state = start();
        loop {
            let first = next.fetch_add(batch, Ordering::Relaxed);
            if first >= len || stopped.load(Ordering::Relaxed) {
                break;
            }
            if work(&mut state, first..(first + batch).min(len)) == Step::Stop {
                stopped.store(true, Ordering::Relaxed);
                break;
            }
        }
        state
    };
    if workers <= 1 {
        return vec![Some(worker())];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(worker)).collect();
        handles.into_iter().map(|h| h.join().ok()).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_index_is_handed_out_once_in_batches_in_order() {
        for workers in 1..=4 {
            let seen = run(1000, 7, workers, Vec::new, |got: &mut Vec<usize>, batch| {
                assert!(batch.len() <= 7);
                got.extend(batch);
                Step::Continue
            });
            let mut all: Vec<usize> = seen.into_iter().flatten().flatten().collect();
            // Each thread's batches come in increasing order.
            all.sort_unstable();
            assert_eq!(all, (0..1000).collect::<Vec<_>>(), "{workers} workers");
        }
    }

    #[test]
    fn stop_ends_the_queue_and_a_panic_is_not_a_result() {
        let states = run(
            10_000,
            1,
            1,
            || 0usize,
            |n, _| {
                *n += 1;
                if *n == 5 {
                    Step::Stop
                } else {
                    Step::Continue
                }
            },
        );
        assert_eq!(states, vec![Some(5)]);
        let states = run(
            100,
            10,
            2,
            || (),
            |_, batch| {
                if batch.start == 50 {
                    panic!("a worker fails");
                }
                Step::Continue
            },
        );
        assert!(states.iter().any(Option::is_none));
    }
}
