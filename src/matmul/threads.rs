//! How many threads the matrix products use, and the crate's own thread pool that runs them.
//!
//! The count comes from, in order: [`set_num_threads`], the environment variable `AUTOENCODER_NUM_THREADS`, and
//! the number of cores ([`std::thread::available_parallelism`]). With one thread no pool is made and nothing
//! runs off the calling thread. The pool is the crate's own (not rayon's global one), so that an application's
//! own rayon work neither slows nor resizes it.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

use super::awake::Awake;
use super::gate::Gate;
use super::kernel::reserve_packing;
use crate::error::{Error, Result};

/// The environment variable that sets the thread count when [`set_num_threads`] was not called.
const ENV_VAR: &str = "AUTOENCODER_NUM_THREADS";

/// The configured thread count; 0 until it is first read or set.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The pool for the configured count (when above 1), made on first use.
static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);

/// The crate's rayon pool, its [`Gate`], through which work from outside enters it, and the helpers that keep its
/// other threads [`Awake`] while work runs.
struct Pool {
    threads: ThreadPool,
    gate: Arc<Gate>,
    awake: Arc<Awake>,
}

impl Pool {
    fn new(threads: usize) -> Option<Pool> {
        let awake = Arc::new(Awake::new());
        let threads = pool_threads(threads, &awake).ok()?;
        // Before the gate starts: from then on one thread is the gate's for good, and a `broadcast` (which needs
        // every thread) would wait for it forever. The first threads, up to the cores or 8, whichever is more,
        // make theirs now (so that a few threads more than the cores, taking turns on a busy machine, do not
        // allocate in the middle of training when one of them first runs a product); threads beyond make theirs
        // on their first product, so that a count far above the cores does not cost a megabyte per thread up front.
        let reserving = cores().max(8);
        threads.broadcast(|thread| {
            if thread.index() < reserving {
                reserve_packing();
            }
        });
        // Thread 0 runs the gate, threads 1 to `helpers` a helper each, for good; any further threads (more threads
        // than cores) stay rayon's ordinary ones. `spawn_broadcast` hands each thread its own job, which no other
        // thread can take (see `awake`).
        let helpers = threads.current_num_threads().min(cores()) - 1;
        let gate = Arc::new(Gate::new());
        let (gate_job, awake_job) = (Arc::clone(&gate), Arc::clone(&awake));
        // `spawn_broadcast` returns before the threads have taken their jobs. Until every one has, no work may reach
        // the pool: a thread that took a piece of it first, and gave way inside it (`give_way`), would take its own
        // job there, for good, and the work would never end (a fit at once on a new pool: 1 run in 25–70 hung).
        let started = Arc::new((Mutex::new(0_usize), Condvar::new()));
        let started_job = Arc::clone(&started);
        threads.spawn_broadcast(move |thread| {
            let (count, changed) = &*started_job;
            *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            changed.notify_all();
            match thread.index() {
                0 => gate_job.serve(),
                i if i <= helpers => awake_job.serve(),
                _ => {}
            }
        });
        let (count, changed) = &*started;
        let all = threads.current_num_threads();
        let count = count.lock().unwrap_or_else(PoisonError::into_inner);
        drop(
            changed
                .wait_while(count, |count| *count < all)
                .unwrap_or_else(PoisonError::into_inner),
        );
        Some(Pool { threads, gate, awake })
    }
}

/// A rayon pool of `threads` threads marked as the crate's ([`ON_POOL`]), each holding `awake` (whose sections
/// count the callers on the pool: see [`give_way`]).
fn pool_threads(threads: usize, awake: &Arc<Awake>) -> std::result::Result<ThreadPool, rayon::ThreadPoolBuildError> {
    let awake = Arc::clone(awake);
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("autoencoder-{i}"))
        .start_handler(move |_| {
            ON_POOL.set(true);
            POOL_AWAKE.set(Some(Arc::clone(&awake)));
        })
        .build()
}

impl Drop for Pool {
    fn drop(&mut self) {
        // lets the pool's threads end (the gate and helper jobs return; rayon's threads end when their jobs have)
        self.gate.close();
        self.awake.close();
    }
}

/// The most threads [`set_num_threads`] accepts.
pub const MAX_THREADS: usize = 256;

/// Sets the number of threads the matrix products (training and inference) use, from now on.
///
/// `1` keeps all work on the calling thread. The same seed and thread count give bit-identical results.
/// More threads than the machine has cores only slow training down (the threads take turns on the cores, and
/// every product waits for its slowest part), so the number of cores, the default, is the count to use.
/// Errors with [`Error::InvalidArgument`] for 0 and for more than [`MAX_THREADS`].
///
/// It may be called at any time, from any thread (a rayon task included): a product already running finishes
/// on the pool it started on, and the next one uses the new count.
///
/// ```
/// autoencoder::set_num_threads(1)?;
/// assert_eq!(autoencoder::num_threads(), 1);
/// assert!(autoencoder::set_num_threads(0).is_err());
/// assert!(autoencoder::set_num_threads(autoencoder::MAX_THREADS + 1).is_err());
/// # Ok::<(), autoencoder::Error>(())
/// ```
pub fn set_num_threads(threads: usize) -> Result<()> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::InvalidArgument(format!(
            "set_num_threads takes 1 to {MAX_THREADS} threads, not {threads} (this machine has {} cores)",
            cores()
        )));
    }
    let replaced = {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        match THREADS.swap(threads, Ordering::Relaxed) == threads {
            true => None,
            false => pool.take(), // made again, at the new size, on first use
        }
    };
    // Dropped outside the lock: a pool's drop waits for its gate to be free.
    drop(replaced);
    Ok(())
}

/// The number of cores, or 1 when it cannot be told.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The number of threads the matrix products use: as set by [`set_num_threads`], else the environment variable
/// `AUTOENCODER_NUM_THREADS`, else the number of cores.
///
/// ```
/// assert!(autoencoder::num_threads() >= 1);
/// ```
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let threads = default_threads();
            // A concurrent set_num_threads wins over the default.
            match THREADS.compare_exchange(0, threads, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => threads,
                Err(set) => set,
            }
        }
        threads => threads,
    }
}

/// `AUTOENCODER_NUM_THREADS` when it holds an integer from 1 to [`MAX_THREADS`], else the number of cores.
fn default_threads() -> usize {
    std::env::var(ENV_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=MAX_THREADS).contains(n))
        .unwrap_or_else(cores)
}

/// Set while a thread is making the pool.
static MAKING: AtomicBool = AtomicBool::new(false);

/// The pool to run products on, or `None` when they run on the calling thread (one thread, the pool could not be
/// made, or another caller is making it right now).
///
/// The pool is made without holding [`POOL`]'s lock: making it waits for rayon (a `broadcast` to its threads),
/// and a rayon worker that waits runs other tasks meanwhile on the same thread — such as another item of the
/// `par_iter` that called us, which comes here again. Holding the lock, that thread would wait for itself forever
/// (issue 9: the first `encode` from a `par_iter` never returned). Whoever finds the pool being made runs its
/// work on its own thread, with the same results.
fn pool() -> Option<Arc<Pool>> {
    let threads = num_threads();
    if threads <= 1 {
        return None;
    }
    if let Some(pool) = POOL.lock().unwrap_or_else(PoisonError::into_inner).clone() {
        return Some(pool);
    }
    if MAKING.swap(true, Ordering::Acquire) {
        return None;
    }
    let made = Pool::new(threads).map(Arc::new);
    let (pool, unused) = {
        let mut slot = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        // kept unless set_num_threads changed the count meanwhile (or someone else's pool got in first)
        if slot.is_none() && THREADS.load(Ordering::Relaxed) == threads {
            slot.clone_from(&made);
            (made, None)
        } else {
            (slot.clone(), made)
        }
    };
    MAKING.store(false, Ordering::Release);
    drop(unused); // outside the lock
    pool
}

/// Runs `work` on the crate's pool, so that the products inside it can split across its threads; on the calling
/// thread when there is one thread, when already on the pool, and where this thread's work may use one thread
/// only (inside [`on_this_thread`], or a half of [`join_sharing`] with one thread). On the pool, `work` runs under
/// the caller's limit, whatever the limit of the pool thread that takes it (a thread waiting inside a half of
/// [`join_sharing`] may take another caller's whole step from rayon's queue).
///
/// Entering the pool costs a hand-over to another thread and back (a few to tens of microseconds), so a training
/// step enters once for its forward, loss and backward passes together rather than once per product. The
/// hand-over goes through the pool's [`Gate`], which allocates nothing; only when another thread is using the
/// gate at that moment does it go through rayon's `install` (whose queue allocates a block per 63 jobs).
pub(crate) fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    if ON_POOL.get() || alone() {
        return work();
    }
    match pool() {
        Some(pool) => {
            // The pool's other threads stay awake while the work runs, to take its parts at once; the section
            // also counts the callers on the pool (see `give_way`).
            let _section = pool.awake.section();
            let callers = Limit::here();
            match pool.gate.try_run(move || callers.within(work)) {
                Ok(result) => result,
                Err(work) => pool.threads.install(work),
            }
        }
        None => work(),
    }
}

thread_local! {
    /// Whether this thread is one of the crate's pool threads (of the current pool or of one replaced by
    /// [`set_num_threads`]): then work runs where it is, without looking the pool up.
    static ON_POOL: Cell<bool> = const { Cell::new(false) };
}

thread_local! {
    /// On a pool thread, the pool's [`Awake`], whose sections count the callers whose work is on the pool.
    static POOL_AWAKE: RefCell<Option<Arc<Awake>>> = const { RefCell::new(None) };
}

thread_local! {
    /// The most threads this thread's work may split across: 1 inside [`on_this_thread`] (its products and sweeps
    /// stay on it), a share of the pool in each half of [`join_sharing`] (and the caller's again inside a
    /// [`Limit::within`] there); 0 for no limit.
    static LIMIT: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread's work stays on it: inside [`on_this_thread`], or in a half of [`join_sharing`] whose share
/// of the threads is one.
fn alone() -> bool {
    LIMIT.get() == 1
}

/// Runs `work` with this thread's work split across at most `limit` threads (0: no limit), the limit before put
/// back on return and on unwinding alike.
fn within_limit<R>(limit: usize, work: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            LIMIT.set(self.0);
        }
    }
    let _restore = Restore(LIMIT.replace(limit));
    work()
}

/// The most threads this thread's work may split across, as it is here: for a piece of work inside a half of
/// [`join_sharing`] to split across the caller's threads again ([`Limit::within`]).
///
/// A dense layer's `dL/dx` runs beside its `dL/dW` on half the threads, but the backward sweep of the layer below
/// that follows it does not need to: split, the thread that ran `dL/dW` takes its part once done (GELU models ran
/// 1.1–1.3× slower per step with the sweep on one thread).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limit(usize);

impl Limit {
    /// This thread's limit now.
    pub(crate) fn here() -> Limit {
        Limit(LIMIT.get())
    }

    /// Runs `work` under this limit, the one before put back on return and on unwinding.
    pub(crate) fn within<R>(self, work: impl FnOnce() -> R) -> R {
        within_limit(self.0, work)
    }
}

/// Runs `work` with every product, sweep, [`join`] and [`on_pool`] in it on the calling thread, whatever the thread
/// count: for work already split across the threads in larger pieces (each thread's share of a batch, through a
/// whole chain of layers).
pub(crate) fn on_this_thread<R>(work: impl FnOnce() -> R) -> R {
    within_limit(1, work)
}

/// The threads this thread's work may split across: [`num_threads`], 1 inside [`on_this_thread`], a share of them
/// inside a half of [`join_sharing`] (unless a [`Limit::within`] gave the caller's back).
fn threads_here() -> usize {
    match LIMIT.get() {
        0 => num_threads(),
        limit => limit.min(num_threads()),
    }
}

/// The threads a product of `m · k · n` multiply-adds should use: 1 when splitting it does not pay.
pub(crate) fn threads_for(multiply_adds: usize) -> usize {
    /// Below this many multiply-adds (`32 · 256 · 256`), handing half a product to another thread costs more than
    /// it saves (measured with `benches/matmul.rs` on the AE-16 shapes).
    const MIN_PARALLEL_WORK: usize = 32 * 256 * 256;
    let threads = threads_here();
    if threads <= 1 || multiply_adds < MIN_PARALLEL_WORK {
        1
    } else {
        threads
    }
}

/// Into how many parts (one per thread) to split an element-wise pass over `elements` values: 1 when the pass is
/// too small for a hand-over to another thread to pay. Run the parts with [`on_pool`] and [`join`].
pub(crate) fn parts_for(elements: usize) -> usize {
    /// A hand-over costs about a microsecond; an element-wise pass does a few thousand values in that time.
    const MIN_ELEMENTS_PER_PART: usize = 16 * 1024;
    parts_of_at_least(elements, MIN_ELEMENTS_PER_PART)
}

/// Into how many parts (one per thread) to split a pass over `elements` values, each part at least
/// `min_per_part` of them: [`parts_for`] with a threshold of the caller's.
pub(crate) fn parts_of_at_least(elements: usize, min_per_part: usize) -> usize {
    threads_here().min(elements / min_per_part.max(1)).max(1)
}

/// Runs one job waiting on the pool, if there is one, on this thread: for background work ([`join`]'s second
/// half, such as the copy of `fit`'s next batch) to give way, between small pieces, to the work it runs beside (the
/// halves its [`join`]s hand out, and any rayon work of the user's inside it, such as an optimizer's). Nothing
/// outside the crate's pool, or where this thread's work stays on it (inside [`on_this_thread`], or a half of
/// [`join_sharing`] with one thread).
///
/// Nothing either while another caller's work is on the pool too: rayon would run any job, another caller's whole
/// work included, and the background work, and the work beside it, would wait until that ended (a small model's
/// `fit` beside a large one's: 4–6× its time). The background work then runs in one piece, as it did before
/// giving way existed.
pub(crate) fn give_way() {
    if ON_POOL.get() && !alone() && alone_on_pool() {
        rayon::yield_now();
    }
}

/// Whether at most one caller's work is on this thread's pool (on a pool not the crate's: yes).
fn alone_on_pool() -> bool {
    POOL_AWAKE.with_borrow(|awake| awake.as_ref().is_none_or(|awake| awake.sections() <= 1))
}

/// Runs `a` and `b`, in parallel when on one of the crate's pool threads with more than one thread configured
/// (`a` on this thread, `b` for another to take), in sequence (`a` first) otherwise (also where this thread's
/// work may use one thread: inside [`on_this_thread`], or a half of [`join_sharing`] with one thread): never on
/// rayon's global pool or on another pool the caller may be running on.
pub(crate) fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if threads_here() > 1 && ON_POOL.get() {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// [`join`], with the work inside each of `a` and `b` split across half the threads (at least one) instead of all
/// of them: for two pieces of work of about the same size that each split well, such as a dense layer's `dL/dx` and
/// `dL/dW` products. On two threads, each runs whole on its own thread beside the other, rather than both halved,
/// each half handed over and the shared operand packed by both threads (AE-16's largest pair at batch 256: 0.83 ms,
/// 0.87–0.91 ms before; the epoch 0.97×).
pub(crate) fn join_sharing<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let share = (threads_here() / 2).max(1);
    join(|| within_limit(share, a), || within_limit(share, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::watchdog::within;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    /// Each half of a sharing join splits its work across half the threads the caller had (at least one), and the
    /// caller's own limit is back once it returns, on each of a few limits; off the pool and on a pool of the
    /// crate's kind, where the second half may run on another thread.
    #[test]
    fn each_half_of_a_sharing_join_splits_across_half_the_threads() {
        off_and_on_a_pool(halves_split_across_half_the_threads)
    }

    /// Runs `check` off the pool, then on a two-thread pool of the crate's kind (where a join's second half may
    /// run on the other thread), under a watchdog.
    fn off_and_on_a_pool(check: fn()) {
        within(30, move || {
            check();
            pool_threads(2, &Arc::new(Awake::new())).unwrap().install(check);
        })
    }

    fn halves_split_across_half_the_threads() {
        for limit in [1, 2, 3, 8] {
            within_limit(limit, || {
                let before = LIMIT.get();
                let share = (threads_here() / 2).max(1);
                let (a, b) = join_sharing(|| (LIMIT.get(), threads_here()), || (LIMIT.get(), threads_here()));
                assert_eq!((a.0, b.0), (share, share), "the limit in each half, under {limit}");
                assert!(a.1 <= share && b.1 <= share, "threads in each half, under {limit}");
                assert_eq!(LIMIT.get(), before, "the caller's limit back");
            });
        }
        let share = (num_threads() / 2).max(1);
        assert_eq!(
            join_sharing(threads_here, threads_here),
            (share, share),
            "with no limit"
        );
        assert_eq!(LIMIT.get(), 0, "no limit back");
        let inner = on_this_thread(|| join_sharing(threads_here, threads_here));
        assert_eq!(inner, (1, 1), "inside on_this_thread, one thread each");
    }

    /// A [`Limit`] taken before a sharing join gives its halves the caller's threads back, and each half's own
    /// limit is back after it.
    #[test]
    fn a_limit_taken_before_a_sharing_join_gives_a_half_the_callers_threads() {
        off_and_on_a_pool(limit_given_back_in_a_half)
    }

    fn limit_given_back_in_a_half() {
        for limit in [0, 2, 4] {
            within_limit(limit, || {
                let (callers, share) = (Limit::here(), (threads_here() / 2).max(1));
                let (a, b) = join_sharing(
                    || (callers.within(threads_here), threads_here()),
                    || (callers.within(|| LIMIT.get()), LIMIT.get()),
                );
                assert_eq!(a, (threads_here(), share.min(threads_here())), "under {limit}");
                assert_eq!(b, (limit, share), "under {limit}");
            });
        }
    }

    /// Runs on `pool` (two threads) a half that only the other thread can run, this one waiting up to `wait` for
    /// it, beside background work on that thread that gives way until the half has run (by the other thread, or by
    /// this one once the wait is over); whether the half ran while waited for.
    fn half_taken_while_giving_way(pool: &ThreadPool, wait: Duration) -> bool {
        let ran = AtomicBool::new(false);
        let ((waited, ()), ()) = pool.install(|| {
            rayon::join(
                || {
                    let (send, receive) = channel();
                    rayon::join(
                        move || receive.recv_timeout(wait),
                        || {
                            ran.store(true, Ordering::SeqCst);
                            let _ = send.send(());
                        },
                    )
                },
                || {
                    while !ran.load(Ordering::SeqCst) {
                        give_way();
                    }
                },
            )
        });
        waited.is_ok()
    }

    #[test]
    fn giving_way_runs_the_work_waiting_on_the_pool() {
        within(30, || {
            let pool = pool_threads(2, &Arc::new(Awake::new())).unwrap();
            for round in 0..50 {
                assert!(
                    half_taken_while_giving_way(&pool, Duration::from_secs(10)),
                    "round {round}: the background work did not give way"
                );
            }
        })
    }

    #[test]
    fn giving_way_leaves_alone_while_another_caller_is_on_the_pool() {
        within(30, || {
            let awake = Arc::new(Awake::new());
            let pool = pool_threads(2, &awake).unwrap();
            let (_first, _second) = (awake.section(), awake.section()); // two callers' work on the pool
            assert!(
                !half_taken_while_giving_way(&pool, Duration::from_millis(300)),
                "the background work gave way with another caller on the pool"
            );
        })
    }
}
