//! Proves that a training step allocates nothing once its buffers exist: a counting global allocator (in this
//! test binary only) counts every allocation made while steps run, on every thread — the crate's code, its
//! matrix-product kernel, its thread pool and rayon's — and the count must be zero.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use autoencoder::ndarray::{s, Array2};
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{
    Activation, Adam, AdamW, Autoencoder, Decoder, Dense, Encoder, Error, FitConfig, Init, Loss, Optimizer, Sgd, Vae,
};

/// Counts allocations (and reallocations) while `COUNTING` is set.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

impl CountingAllocator {
    fn record(&self) {
        if COUNTING.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
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

/// How many allocations `work` made, on any thread.
fn allocations(work: impl FnOnce()) -> usize {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    work();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst)
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

/// Warms up with 2 steps at `batch` and 2 at a smaller batch (an epoch's last, partial batch), then counts the
/// allocations of 70 steps alternating between the two, on `threads` threads.
fn allocations_of_steps(threads: usize, batch: usize, smaller: usize) -> usize {
    allocations_of_steps_with(threads, batch, smaller, &mut Adam::new(1e-3))
}

/// [`allocations_of_steps`] with another optimizer.
fn allocations_of_steps_with(threads: usize, batch: usize, smaller: usize, adam: &mut impl Optimizer) -> usize {
    autoencoder::set_num_threads(threads).unwrap();
    let x = images(batch);
    let part = x.slice(s![..smaller, ..]);
    let mut ae = ae16();
    for input in [x.view(), x.view(), part, part] {
        ae.train_step(input, input, Loss::Mse, adam).unwrap();
    }
    allocations(|| {
        for step in 0..70 {
            let input = if step % 2 == 0 { x.view() } else { part };
            ae.train_step(input, input, Loss::Mse, adam).unwrap();
        }
    })
}

/// One test function, so that no other test thread allocates while counting is on.
#[test]
fn a_training_step_allocates_nothing_once_its_buffers_exist() {
    common::within(300, count_the_allocations_of_steps)
}

fn count_the_allocations_of_steps() {
    for (threads, batch, smaller) in [(1, 64, 40), (2, 256, 100), (2, 32, 8), (3, 96, 50)] {
        let counted = allocations_of_steps(threads, batch, smaller);
        assert_eq!(
            counted, 0,
            "{threads} threads: 70 steps at batches {batch} and {smaller} allocated {counted} times"
        );
    }

    // A convolutional model (the book's CAE-16 on 28x28 images): its patch matrices are made once, like the rest.
    for threads in [1, 2] {
        autoencoder::set_num_threads(threads).unwrap();
        let mut cae = Autoencoder::conv_builder((28, 28, 1))
            .latent(16)
            .seed(1)
            .build()
            .unwrap();
        let (x, mut adam) = (images(32), Adam::new(1e-3));
        let part = x.slice(s![..9, ..]);
        for input in [x.view(), part] {
            cae.train_step(input, input, Loss::Mse, &mut adam).unwrap();
        }
        let counted = allocations(|| {
            for step in 0..6 {
                let input = if step % 2 == 0 { x.view() } else { part };
                cae.train_step(input, input, Loss::Mse, &mut adam).unwrap();
            }
        });
        assert_eq!(
            counted, 0,
            "CAE-16 on {threads} threads: 6 steps allocated {counted} times"
        );
    }

    // Steps that keep a copy of the parameters and optimizer state to put back (SGD's weight decay is beyond the
    // O(1) bounds), and AdamW's decay, allocate nothing either.
    let sgd = &mut Sgd::new(0.01).with_momentum(0.9).with_weight_decay(1e-4);
    assert!(!sgd.update_stays_finite("encoder.0.weight", 1.0));
    assert_eq!(allocations_of_steps_with(2, 64, 40, sgd), 0, "SGD with weight decay");
    assert_eq!(allocations_of_steps_with(2, 64, 40, &mut AdamW::new(1e-3)), 0, "AdamW");

    // Nor do steps refused because their update turns weights infinite (a learning rate raised to 1e300 after
    // two good steps): the copy is put back.
    let x = images(32);
    let (mut ae, mut adam) = (ae16(), Adam::new(1e-3));
    for _ in 0..2 {
        ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    }
    adam.set_learning_rate(1e300);
    let refused = |ae: &mut Autoencoder, adam: &mut Adam| {
        let result = ae.train_step(x.view(), x.view(), Loss::Mse, adam);
        assert!(
            matches!(result, Err(Error::NonFinite { what: "update", .. })),
            "{result:?}"
        );
    };
    refused(&mut ae, &mut adam); // makes the copy's buffers
    let counted = allocations(|| (0..10).for_each(|_| refused(&mut ae, &mut adam)));
    assert_eq!(counted, 0, "10 refused steps allocated {counted} times");

    // A VAE (the book's VAE-2: 784-512-(2x2) | 2-512-784): its latent buffers and noise are made once too, whether
    // the noise is drawn by the step or given.
    for threads in [1, 2] {
        autoencoder::set_num_threads(threads).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let dense =
            |i, o, activation, rng: &mut StdRng| Dense::new(i, o, activation, Init::GlorotUniform, rng).unwrap();
        let encoder = vec![
            dense(784, 512, Activation::Relu, &mut rng),
            dense(512, 4, Activation::Identity, &mut rng),
        ];
        let decoder = vec![
            dense(2, 512, Activation::Relu, &mut rng),
            dense(512, 784, Activation::Sigmoid, &mut rng),
        ];
        let mut vae = Vae::new(Encoder::new(encoder).unwrap(), Decoder::new(decoder).unwrap()).unwrap();
        let (x, mut adam) = (images(64), Adam::new(1e-3));
        let part = x.slice(s![..20, ..]);
        let eps = Array2::from_shape_fn((20, 2), |(i, j)| (i as f32 - 2.0 * j as f32) / 10.0);
        for input in [x.view(), part] {
            vae.train_step(input, input, Loss::BinaryCrossEntropy, &mut adam, &mut rng)
                .unwrap();
        }
        let counted = allocations(|| {
            for step in 0..10 {
                let loss = Loss::BinaryCrossEntropy;
                match step % 3 {
                    0 => vae.train_step(x.view(), x.view(), loss, &mut adam, &mut rng),
                    1 => vae.train_step(part, part, loss, &mut adam, &mut rng),
                    _ => vae.train_step_with_noise(part, part, eps.view(), loss, &mut adam),
                }
                .unwrap();
            }
        });
        assert_eq!(
            counted, 0,
            "VAE-2 on {threads} threads: 10 steps allocated {counted} times"
        );
    }

    // `fit`: what an epoch allocates (its shuffled order, its history) does not grow with its number of steps.
    autoencoder::set_num_threads(2).unwrap();
    let x = images(960);
    let mut ae = ae16();
    let mut adam = Adam::new(1e-3);
    let epoch = |ae: &mut Autoencoder, adam: &mut Adam, rows: usize| {
        let config = FitConfig::new(1).batch_size(32).seed(1);
        allocations(|| {
            ae.fit(x.slice(s![..rows, ..]), None, adam, &config).unwrap();
        })
    };
    epoch(&mut ae, &mut adam, 960); // warm-up
    let (short, long) = (epoch(&mut ae, &mut adam, 320), epoch(&mut ae, &mut adam, 960));
    assert_eq!(
        short, long,
        "an epoch of 10 steps allocated {short} times, one of 30 steps {long} times"
    );
    // ... nor with input noise (a denoising fit): the noise is added in place, batch by batch, on both threads
    let noisy_epoch = |ae: &mut Autoencoder, adam: &mut Adam, rows: usize| {
        let config = FitConfig::new(1).batch_size(256).seed(1).input_noise(0.5);
        allocations(|| {
            ae.fit(x.slice(s![..rows, ..]), None, adam, &config).unwrap();
        })
    };
    noisy_epoch(&mut ae, &mut adam, 960); // warm-up
    let (short, long) = (
        noisy_epoch(&mut ae, &mut adam, 256),
        noisy_epoch(&mut ae, &mut adam, 768),
    );
    assert_eq!(
        short, long,
        "a denoising epoch of 1 step allocated {short} times, one of 3 steps {long} times"
    );

    // Inference into the caller's buffers: one sample at a time (on the calling thread) and batches of 1000 (on
    // the pool, split by rows), encode and reconstruct, once the calling thread's scratch has grown to the model;
    // on 3 threads and more, which pool thread takes which share of a batch changes from call to call, so the
    // calls are counted ten times.
    for threads in [1, 2, 3, 5] {
        autoencoder::set_num_threads(threads).unwrap();
        let ae = ae16();
        let x = images(1000);
        let (mut code, mut codes) = (Array2::zeros((1, 16)), Array2::zeros((1000, 16)));
        let (mut image, mut images_out) = (Array2::zeros((1, 784)), Array2::zeros((1000, 784)));
        let mut infer = || {
            for i in 0..20 {
                let one = x.slice(s![i..i + 1, ..]);
                ae.encode_into(one, code.view_mut()).unwrap();
                ae.reconstruct_into(one, image.view_mut()).unwrap();
                ae.decode_into(code.view(), image.view_mut()).unwrap();
            }
            ae.encode_into(x.view(), codes.view_mut()).unwrap();
            ae.reconstruct_into(x.view(), images_out.view_mut()).unwrap();
        };
        infer();
        let counted = (0..10).map(|_| allocations(&mut infer)).sum::<usize>();
        assert_eq!(
            counted, 0,
            "inference into buffers on {threads} threads allocated {counted} times"
        );
    }
}
