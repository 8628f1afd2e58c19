//! How work from outside the crate's thread pool enters it without allocating.
//!
//! rayon's `ThreadPool::install` pushes each job onto the pool's injector queue, which allocates a block for
//! every 63 jobs, so one training step in 63 would allocate. Instead, each pool runs one long-lived job, the
//! *gate*, on one of its threads. A caller hands the gate a reference to its work through a mutex and waits until
//! the gate reports the work done, the way `std::thread::scope` waits for its threads. The work runs on a pool
//! thread, so the products inside it split across the pool with `rayon::join`, exactly as under `install`. The
//! gate takes one caller's work at a time; a caller that finds it busy queues its work with `install` (see
//! `threads::on_pool`).

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Work handed to the gate: a caller's closure, with its lifetime erased (see [`Gate::try_run`]).
type Job = &'static mut (dyn FnMut() + Send);

enum State {
    /// Waiting for work.
    Idle,
    /// Work handed over and not yet taken.
    Handed(Job),
    /// Work taken by the gate and running.
    Running,
    /// The work returned (`None`) or panicked (`Some` of the payload).
    Done(Option<Box<dyn Any + Send>>),
    /// The pool is going away: the gate returns.
    Closed,
}

/// The meeting point of callers outside a pool and the gate job inside it.
pub(super) struct Gate {
    state: Mutex<State>,
    /// Signalled for the gate and for callers: work handed over, done, or closing.
    changed: Condvar,
    /// Signalled for [`close`](Self::close) alone, when the state returns to `Idle` (a separate condition
    /// variable, so that the gate's thread is not woken at every step for nothing).
    idle: Condvar,
    /// Whether a `close` waits on `idle`; read and written under the lock, so no signal is missed, and no step
    /// pays for signalling when nobody waits.
    closing: AtomicBool,
    /// Set with `Handed` and `Closed`, for the gate to see without taking the lock.
    pending: AtomicBool,
}

/// How long the gate watches for work before it sleeps.
const WATCH: Duration = Duration::from_micros(200);

impl Gate {
    pub(super) fn new() -> Gate {
        Gate {
            state: Mutex::new(State::Idle),
            changed: Condvar::new(),
            idle: Condvar::new(),
            closing: AtomicBool::new(false),
            pending: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock (work runs outside it), so poisoning cannot leave a bad state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The gate job: runs work handed over, one at a time, until [`close`](Self::close). Run it on a pool thread.
    pub(super) fn serve(&self) {
        let mut state = self.lock();
        loop {
            match std::mem::replace(&mut *state, State::Running) {
                State::Handed(job) => {
                    self.pending.store(false, Ordering::Release);
                    drop(state);
                    // `job` is moved into `catch_unwind` and dropped when it returns: the gate holds no reference
                    // to the caller's work once it reports `Done`.
                    let outcome = panic::catch_unwind(AssertUnwindSafe(job));
                    state = self.lock();
                    *state = State::Done(outcome.err());
                    self.changed.notify_all();
                }
                State::Closed => {
                    *state = State::Closed;
                    return;
                }
                waiting => {
                    *state = waiting;
                    // Training hands over work once per step, a few hundred microseconds apart: watch for it a
                    // little before sleeping, since a sleeping thread takes tens of microseconds to wake.
                    drop(state);
                    self.watch_for_work();
                    state = self.lock();
                    if matches!(*state, State::Idle | State::Done(_)) {
                        state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                }
            }
        }
    }

    /// Returns when work is handed over or closing begins, or after [`WATCH`] at the latest.
    fn watch_for_work(&self) {
        let started = Instant::now();
        while !self.pending.load(Ordering::Acquire) && started.elapsed() < WATCH {
            std::hint::spin_loop();
        }
    }

    /// Makes [`serve`](Self::serve) return once it has finished any work in hand and that work's caller has taken
    /// the outcome.
    ///
    /// It waits while the state is `Handed`, `Running` or `Done`, and closes only from `Idle` (or `Closed`): the
    /// caller of work in hand waits for `Done` and must see it, so nothing may overwrite `Done` but that caller.
    pub(super) fn close(&self) {
        let state = self.lock();
        self.closing.store(true, Ordering::Relaxed);
        let mut state = self
            .idle
            .wait_while(state, |state| !matches!(state, State::Idle | State::Closed))
            .unwrap_or_else(PoisonError::into_inner);
        *state = State::Closed;
        self.pending.store(true, Ordering::Release);
        self.changed.notify_all();
        self.idle.notify_all(); // another `close` may be waiting
    }

    /// Runs `work` on the gate's thread and returns its result (a panic in `work` resumes here). Gives `work`
    /// back, not run, when the gate is serving another caller or closed: the caller then enters the pool another
    /// way.
    pub(super) fn try_run<R: Send, F: FnOnce() -> R + Send>(&self, work: F) -> Result<R, F> {
        let mut state = self.lock();
        if !matches!(*state, State::Idle) {
            return Err(work);
        }
        let mut work = Some(work);
        let mut result = None;
        let mut call = || {
            if let Some(work) = work.take() {
                result = Some(work());
            }
        };
        let call: &mut (dyn FnMut() + Send + '_) = &mut call;
        // SAFETY: only the lifetime changes (same type, same layout), so the question is whether the reference
        // can outlive `call`, which lives in this stack frame. It cannot:
        // - the gate thread uses the reference only between taking it (`Handed` → `Running`) and reporting
        //   `Done`, after which it has dropped it (see `serve`);
        // - this function neither returns nor unwinds before it has seen `Done`: the wait below cannot panic (a
        //   poisoned lock is taken as is), and the abort below is not an unwind;
        // - nothing else can take `Done` from this caller. Only `serve` sets `Done`, only this caller replaces
        //   it (with `Idle`), and `close` — the one other writer of the state — waits until the state is `Idle`
        //   or `Closed` before it writes `Closed`, so it never overwrites `Handed`, `Running` or `Done`. That
        //   property of `close` is what this argument relies on; `tests::closing_never_strands_a_caller` checks it
        //   over thousands of interleavings. (`close` also runs only from `Pool::drop`, while every caller holds
        //   the pool alive through its `Arc` for the whole call.)
        // So every use of the reference happens while `call` is alive and borrowed by nothing else. `call` is
        // `Send` (it captures `&mut Option<F>` with `F: Send` and `&mut Option<R>` with `R: Send`), so using it
        // on the gate's thread is allowed.
        #[allow(unsafe_code)]
        let job = unsafe { std::mem::transmute::<&mut (dyn FnMut() + Send + '_), Job>(call) };
        *state = State::Handed(job);
        self.pending.store(true, Ordering::Release);
        self.changed.notify_all();
        let mut state = self
            .changed
            .wait_while(state, |state| !matches!(state, State::Done(_)))
            .unwrap_or_else(PoisonError::into_inner);
        let outcome = std::mem::replace(&mut *state, State::Idle);
        // `close` waits for `Idle`: wake it if it is waiting.
        if self.closing.load(Ordering::Relaxed) {
            self.idle.notify_all();
        }
        drop(state);
        match (outcome, result) {
            (State::Done(Some(panic)), _) => panic::resume_unwind(panic),
            (State::Done(None), Some(result)) => Ok(result),
            // Cannot happen (`Done(None)` is set only after `call` ran to its end); not unwound from, since
            // unwinding is what must never happen while the gate might hold `call`.
            _ => std::process::abort(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::watchdog::within;
    use std::sync::{Arc, Barrier};

    fn served() -> (Arc<Gate>, std::thread::JoinHandle<()>) {
        let gate = Arc::new(Gate::new());
        let server = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.serve())
        };
        (gate, server)
    }

    #[test]
    fn runs_work_on_the_serving_thread_and_returns_its_result() {
        within(20, || {
            let (gate, server) = served();
            let caller = std::thread::current().id();
            let mut data = vec![1, 2, 3];
            for round in 0..100 {
                let (sum, ran_on) = gate
                    .try_run(|| {
                        data.push(round); // borrows the caller's data mutably
                        (data.iter().sum::<i32>(), std::thread::current().id())
                    })
                    .unwrap_or_else(|_| panic!("the gate was busy"));
                assert_ne!(ran_on, caller);
                assert_eq!(sum, data.iter().sum::<i32>());
            }
            assert_eq!(data.len(), 103);
            gate.close();
            server.join().unwrap();
        })
    }

    #[test]
    fn a_panic_in_the_work_reaches_the_caller_and_the_gate_goes_on() {
        within(20, || {
            let (gate, server) = served();
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let _ = gate.try_run(|| panic!("inside the work"));
            }));
            let message = caught.unwrap_err();
            assert_eq!(message.downcast_ref::<&str>(), Some(&"inside the work"));
            assert_eq!(gate.try_run(|| 7).ok(), Some(7));
            gate.close();
            server.join().unwrap();
        })
    }

    /// Closes the gate while a caller's work sleeps for `work_ms` on it; the caller must get its result.
    fn close_while_working(work_ms: u64) {
        let (gate, server) = served();
        let started = Arc::new(Barrier::new(2));
        let caller = {
            let (gate, started) = (Arc::clone(&gate), Arc::clone(&started));
            std::thread::spawn(move || {
                let mut data = vec![0_u64; 1000];
                let sum = gate.try_run(|| {
                    started.wait();
                    std::thread::sleep(std::time::Duration::from_millis(work_ms));
                    data.iter_mut().for_each(|v| *v += 1); // the caller's frame, still alive
                    data.iter().sum::<u64>()
                });
                sum.ok()
            })
        };
        started.wait();
        gate.close(); // while the work runs
        assert_eq!(caller.join().unwrap(), Some(1000));
        server.join().unwrap();
    }

    #[test]
    fn closing_waits_for_the_work_in_hand() {
        within(20, || close_while_working(50))
    }

    /// The test above in a loop, with shorter work: `close` now often comes as the work finishes, which is when
    /// it used to overwrite `Done` and strand the caller (2 runs in 60 hung before `close` waited for `Idle`).
    #[test]
    fn closing_waits_for_the_work_in_hand_in_a_loop() {
        within(30, || {
            for _ in 0..300 {
                close_while_working(0);
            }
        })
    }

    /// Close races a caller's short work at thousands of different moments: before it is handed over, while
    /// it runs, between `Done` and the caller taking it, and after. Every caller either gets its result or gets
    /// its work back unrun (the gate was closed first), and the gate's thread always ends.
    #[test]
    fn closing_never_strands_a_caller() {
        within(60, || {
            let (mut ran, mut given_back) = (0, 0);
            for round in 0..4000_u64 {
                let (gate, server) = served();
                let start = Arc::new(Barrier::new(2));
                let caller = {
                    let (gate, start) = (Arc::clone(&gate), Arc::clone(&start));
                    std::thread::spawn(move || {
                        let mut value = round;
                        start.wait();
                        let outcome = gate.try_run(|| {
                            value += 1;
                            value * 2
                        });
                        outcome.map_err(|work| work())
                    })
                };
                start.wait();
                // a different delay each round, from none to a few microseconds, to sweep the interleavings
                for _ in 0..(round * 7919) % 3000 {
                    std::hint::spin_loop();
                }
                gate.close();
                match caller.join().unwrap() {
                    Ok(result) => {
                        assert_eq!(result, (round + 1) * 2);
                        ran += 1;
                    }
                    Err(result) => {
                        assert_eq!(result, (round + 1) * 2);
                        given_back += 1;
                    }
                }
                server.join().unwrap();
                assert!(gate.try_run(|| ()).is_err(), "ran on a closed gate");
            }
            assert_eq!(ran + given_back, 4000);
        })
    }

    #[test]
    fn a_busy_or_closed_gate_gives_the_work_back() {
        within(20, || {
            let (gate, server) = served();
            let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
            let busy = {
                let (gate, started, release) = (Arc::clone(&gate), Arc::clone(&started), Arc::clone(&release));
                std::thread::spawn(move || {
                    let _ = gate.try_run(|| {
                        started.wait();
                        release.wait();
                    });
                })
            };
            started.wait();
            assert_eq!(gate.try_run(|| 1).err().map(|work| work()), Some(1), "ran while busy");
            release.wait();
            busy.join().unwrap();
            gate.close();
            server.join().unwrap();
            assert!(gate.try_run(|| 2).is_err(), "ran on a closed gate");
        })
    }
}
