//! Proves that a training step allocates nothing once its buffers exist: a counting global allocator (in this
//! test binary only) counts every allocation made while steps run, on every thread.
//!
//! Two allocators besides the crate's own code run inside a step, and are told apart rather than counted as the
//! crate's:
//! - the `gemm` crate allocates small bookkeeping (and, for some layouts, packing) buffers inside every product
//!   call; it has no API to pass them in. Allocations made while a `gemm` call is in progress are counted
//!   separately (`autoencoder::__internals::gemm_calls_in_progress`) and reported.
//! - with more than one thread, rayon's injector queue allocates one block per 63 jobs handed to the pool from
//!   outside; the test allows exactly that (`__internals::pool_entries`).
//!
//! Everything else — the crate's buffers, the optimizer state, the loss, the element-wise sweeps, the thread
//! pool's hand-overs — must allocate nothing: the count is asserted to be zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use autoencoder::__internals::{gemm_calls_in_progress, pool_entries};
use autoencoder::ndarray::{s, Array2};
use autoencoder::{Adam, Autoencoder, Loss};

/// Counts allocations while `COUNTING` is set, as the crate's or as `gemm`'s.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static OURS: AtomicUsize = AtomicUsize::new(0);
static GEMMS: AtomicUsize = AtomicUsize::new(0);

impl CountingAllocator {
    fn record(&self) {
        if COUNTING.load(Ordering::SeqCst) {
            if gemm_calls_in_progress() > 0 {
                GEMMS.fetch_add(1, Ordering::SeqCst);
            } else {
                OURS.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s guarantees are
// passed through unchanged (layouts, alignment, ownership of the returned blocks). The bookkeeping only reads
// and updates atomics, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.record();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.record();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.record();
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// What a run of steps allocated: the crate's own allocations, `gemm`'s, and the pool hand-overs made.
#[derive(Debug)]
struct Counts {
    ours: usize,
    gemm: usize,
    pool_entries: usize,
}

fn count(steps: impl FnOnce()) -> Counts {
    OURS.store(0, Ordering::SeqCst);
    GEMMS.store(0, Ordering::SeqCst);
    let entries = pool_entries();
    COUNTING.store(true, Ordering::SeqCst);
    steps();
    COUNTING.store(false, Ordering::SeqCst);
    Counts {
        ours: OURS.load(Ordering::SeqCst),
        gemm: GEMMS.load(Ordering::SeqCst),
        pool_entries: pool_entries() - entries,
    }
}

fn ae16() -> Autoencoder {
    Autoencoder::builder(784)
        .hidden(&[256, 64])
        .latent(16)
        .seed(7)
        .build()
        .unwrap()
}

fn images(rows: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, 784), |(i, j)| ((i * 131 + j * 31) % 256) as f32 / 255.0)
}

/// Warms up with 2 steps at `batch`, then counts 10 steps at `batch` and 10 at a smaller batch (an epoch's last
/// partial batch), on `threads` threads.
fn steps_after_warm_up(threads: usize, batch: usize, smaller: usize) -> (Counts, Counts) {
    autoencoder::set_num_threads(threads).unwrap();
    let x = images(batch);
    let mut ae = ae16();
    let mut adam = Adam::new(1e-3);
    for _ in 0..2 {
        ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    }
    let full = count(|| {
        for _ in 0..10 {
            ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
        }
    });
    let part = x.slice(s![..smaller, ..]);
    let partial = count(|| {
        for _ in 0..10 {
            ae.train_step(part, part, Loss::Mse, &mut adam).unwrap();
        }
    });
    (full, partial)
}

/// One test function, so that no other test thread allocates while counting is on.
#[test]
fn train_step_allocates_nothing_once_its_buffers_exist() {
    // One thread: no pool, so every allocation is either gemm's or the crate's.
    let (full, partial) = steps_after_warm_up(1, 64, 40);
    eprintln!("1 thread, 10 steps at batch 64: {full:?}; 10 steps at batch 40: {partial:?}");
    assert_eq!(
        full.ours, 0,
        "the crate allocated during 10 steps at batch 64: {full:?}"
    );
    assert_eq!(
        partial.ours, 0,
        "the crate allocated during 10 steps at batch 40: {partial:?}"
    );
    assert_eq!(
        full.pool_entries + partial.pool_entries,
        0,
        "one thread must not use the pool"
    );
    // gemm's own per-call buffers: a few per product, the same at every step (nothing grows with the steps).
    let products_per_step = 6 * 3 - 1; // forward, dW and dX for each of 6 layers, no dX for the first
    assert!(
        full.gemm <= 10 * 3 * products_per_step,
        "gemm allocated {} times in 10 steps",
        full.gemm
    );

    // Two threads: the pool's hand-overs may add rayon's injector blocks, at most one per 63 hand-overs.
    let (full, partial) = steps_after_warm_up(2, 256, 100);
    eprintln!("2 threads, 10 steps at batch 256: {full:?}; 10 steps at batch 100: {partial:?}");
    for (what, counts) in [("batch 256", &full), ("batch 100", &partial)] {
        let rayon_blocks = counts.pool_entries / 63 + 1;
        assert!(
            counts.ours <= rayon_blocks,
            "the crate allocated {} times in 10 steps at {what} ({} pool hand-overs allow {rayon_blocks}): {counts:?}",
            counts.ours,
            counts.pool_entries
        );
    }
}
