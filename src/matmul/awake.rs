//! The pool's other threads, kept awake while the crate's work runs on it.
//!
//! A training step is a chain of short parallel sections: a product split in two, a few serial microseconds (a
//! small layer, the loss), the next product. Left to rayon, a thread with nothing to do falls asleep after a few
//! dozen microseconds, and the next section must wake it: several microseconds of the splitting thread's time, and
//! tens before the woken one takes its half. At batch 32 that happened many times per step and again between steps.
//!
//! Instead, each of the pool's other threads (one fewer than the cores) runs one long-lived job, a *helper*, for the
//! pool's whole life. While any work [`section`](Awake::section) is running, and for [`LINGER`] after the last one
//! ended (the gap between two training steps), a helper runs the pool's pending jobs as they come (the halves that
//! `rayon::join` hands out, through `rayon::yield_now`) and yields its core between them; otherwise it sleeps until
//! the next section begins. AE-16 at batch 32 took about 0.75× the time per epoch this way (BENCHMARKS.md, "Threads
//! kept awake through a step").
//!
//! The cost: while a section runs, its helpers use their cores even when they have nothing to do, also when the
//! work blocks (a callback or an optimizer of the user's waiting on I/O). An idle program's helpers sleep.
//!
//! A helper is started on its own thread with `spawn_broadcast`, whose jobs no other thread can take: a thread
//! that waits inside a `join` runs other pending jobs, and were a helper's job among them, that thread would be
//! stuck in it for good.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long helpers stay awake after the last section ended: longer than the gap between two training steps of
/// `fit` (tens of microseconds), short enough that an idle program's threads soon sleep.
const LINGER: Duration = Duration::from_micros(200);

/// What the helpers of one pool share with the threads that hand it work.
pub(super) struct Awake {
    /// Sections running now.
    running: AtomicUsize,
    /// When the last section ended, in nanoseconds since `started`.
    last_end: AtomicU64,
    started: Instant,
    /// Helpers asleep, or about to be (counted under `lock`, before they look at `running` a last time).
    sleepers: AtomicUsize,
    closed: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Awake {
    pub(super) fn new() -> Awake {
        Awake {
            running: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
            started: Instant::now(),
            sleepers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    /// Marks work running on the pool until the returned guard is dropped: the helpers stay (or wake) up meanwhile.
    pub(super) fn section(&self) -> Section<'_> {
        // SeqCst with `serve`'s `sleepers` and `running`: either this call sees the helper counted as a sleeper and
        // wakes it, or the helper sees this section running and does not sleep.
        self.running.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.notify();
        }
        Section(self)
    }

    /// Wakes every sleeping helper. Taking the lock first means that a helper between its last look at `running`
    /// and its wait (which it does holding the lock) is already waiting when the signal comes.
    fn notify(&self) {
        drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
        self.wake.notify_all();
    }

    /// Whether the helpers should be awake: a section running, or the last one ended less than [`LINGER`] ago.
    fn wanted(&self) -> bool {
        self.running.load(Ordering::SeqCst) > 0 || {
            let since_start = self.started.elapsed().as_nanos();
            since_start < u128::from(self.last_end.load(Ordering::Relaxed)) + LINGER.as_nanos()
        }
    }

    /// A helper: runs on one pool thread until [`close`](Self::close).
    pub(super) fn serve(&self) {
        loop {
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            if self.wanted() {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
                continue;
            }
            let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let asleep = self
                .wake
                .wait_while(guard, |_| {
                    self.running.load(Ordering::SeqCst) == 0 && !self.closed.load(Ordering::Acquire)
                })
                .unwrap_or_else(PoisonError::into_inner);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(asleep);
        }
    }

    /// The sections running now: the callers whose work is on the pool.
    pub(super) fn sections(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Makes every helper return (the pool is going away).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify();
    }
}

/// Work running on the pool (see [`Awake::section`]); its end is recorded when dropped, also when the work panics.
pub(super) struct Section<'a>(&'a Awake);

impl Drop for Section<'_> {
    fn drop(&mut self) {
        let awake = self.0;
        let now = awake.started.elapsed().as_nanos();
        awake
            .last_end
            .store(u64::try_from(now).unwrap_or(u64::MAX), Ordering::Relaxed);
        awake.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::watchdog::within;
    use std::sync::mpsc::{channel, Sender};
    use std::sync::Arc;

    type Work = Box<dyn FnOnce() + Send>;

    /// A rayon pool of two threads laid out as the crate's: thread 0 runs the work it is sent (as the gate does),
    /// thread 1 a helper. The halves of a join made on thread 0 can only run there or on the helper.
    fn pool_with_helper() -> (rayon::ThreadPool, Arc<Awake>, Sender<Work>) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let awake = Arc::new(Awake::new());
        let serving = Arc::clone(&awake);
        let (send, receive) = channel::<Work>();
        let receive = Mutex::new(Some(receive));
        pool.spawn_broadcast(move |thread| match thread.index() {
            0 => {
                let receive = receive.lock().unwrap().take().unwrap();
                while let Ok(work) = receive.recv() {
                    work();
                }
            }
            _ => serving.serve(),
        });
        (pool, awake, send)
    }

    /// Runs `work` on thread 0 of [`pool_with_helper`]'s pool, inside a section, and returns its result.
    fn run<R: Send + 'static>(awake: &Awake, gate: &Sender<Work>, work: impl FnOnce() -> R + Send + 'static) -> R {
        let _section = awake.section();
        let (send, receive) = channel();
        gate.send(Box::new(move || send.send(work()).unwrap())).unwrap();
        receive.recv().unwrap()
    }

    #[test]
    fn the_helper_takes_the_halves_that_wait_for_it_and_returns_on_close() {
        within(60, || {
            let (pool, awake, gate) = pool_with_helper();
            for round in 0..300_u64 {
                if round % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(3)); // past LINGER: the helper goes to sleep
                }
                // The first half waits until the second has run: the join ends only if the helper takes it.
                let result = run(&awake, &gate, move || {
                    let (tx, rx) = channel();
                    rayon::join(
                        move || {
                            rx.recv_timeout(Duration::from_secs(20))
                                .expect("the helper never took the half");
                            round
                        },
                        || tx.send(()).unwrap(),
                    )
                });
                assert_eq!(result, (round, ()));
            }
            drop(gate); // thread 0 returns
            awake.close(); // the helper returns
            drop(pool);
        })
    }

    #[test]
    fn a_panic_in_a_section_still_ends_it() {
        within(20, || {
            let awake = Awake::new();
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _section = awake.section();
                panic!("inside the work");
            }));
            assert!(caught.is_err());
            assert_eq!(awake.running.load(Ordering::SeqCst), 0);
            std::thread::sleep(LINGER * 2);
            assert!(!awake.wanted());
        })
    }
}
