//! The crate called from inside rayon, as users parallelise: `par_iter` over models or batches, nested, on the
//! global pool and on pools of their own, with the thread count changed meanwhile. Every test runs under a
//! watchdog, so a deadlock fails it in seconds.
//!
//! The crate's pool is made on first use and made again after `set_num_threads` changes the count: each test
//! starts from "no pool yet" (the case that deadlocked), and the tests take turns, since the count is the
//! process's.

mod common;

use std::sync::{Mutex, MutexGuard, PoisonError};

use autoencoder::ndarray::Array2;
use autoencoder::{Adam, Autoencoder, FitConfig, Loss, Sgd};
use common::within;
use rayon::prelude::*;

/// Taken by each test for its whole run: the thread count is one setting for the whole process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The turn of one test, starting with no crate pool made yet, for `threads` threads. Under a watchdog too: after
/// a deadlock in an earlier test, the crate's pool could be stuck.
fn fresh_pool(threads: usize) -> MutexGuard<'static, ()> {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    within(10, move || {
        autoencoder::set_num_threads(1).unwrap(); // drops the pool, if there is one
        autoencoder::set_num_threads(threads).unwrap(); // the next product makes it
    });
    turn
}

fn model(seed: u64) -> Autoencoder {
    Autoencoder::builder(784)
        .hidden(&[256])
        .latent(16)
        .seed(seed)
        .build()
        .unwrap()
}

fn images(rows: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, 784), |(i, j)| ((i * 7 + j * 13) % 251) as f32 / 250.0)
}

/// Issue 9's reproduction: the first `encode` ever, from 8 items of a `par_iter`, never returned.
#[test]
fn first_use_from_par_iter_inference() {
    let _turn = fresh_pool(2);
    let (ae, x) = (model(0), images(1000));
    let codes: Vec<Array2<f32>> = within(60, move || {
        (0..8).into_par_iter().map(|_| ae.encode(x.view()).unwrap()).collect()
    });
    let expected = model(0).encode(images(1000).view()).unwrap();
    assert!(
        codes.iter().all(|z| *z == expected),
        "an encode in par_iter gave other numbers"
    );
}

/// Training many models at once, each in a `par_iter` item: the same deadlock, through `fit`.
#[test]
fn first_use_from_par_iter_training() {
    let _turn = fresh_pool(2);
    let trained: Vec<Autoencoder> = within(120, || {
        (0..16_u64)
            .into_par_iter()
            .map(|seed| {
                let mut ae = model(seed % 2);
                let config = FitConfig::new(1).batch_size(64).seed(1);
                ae.fit(images(200).view(), None, &mut Adam::new(1e-3), &config).unwrap();
                ae
            })
            .collect()
    });
    // the same seed gives the same weights, on whichever thread and however the pool was entered
    assert!(trained.iter().step_by(2).all(|ae| *ae == trained[0]));
    assert!(trained.iter().skip(1).step_by(2).all(|ae| *ae == trained[1]));
    assert!(trained[0] != trained[1] && trained[0] != model(0));
}

/// Encoding once on the main thread made the pool and hid the bug, until `set_num_threads` had it made again.
#[test]
fn after_set_num_threads_from_par_iter() {
    let _turn = fresh_pool(2);
    let (ae, x) = (model(0), images(300));
    let expected = ae.encode(x.view()).unwrap(); // makes the pool on this thread
    within(60, move || {
        for threads in [3, 2, 4, 2] {
            autoencoder::set_num_threads(threads).unwrap();
            let all_equal = (0..8).into_par_iter().all(|_| ae.encode(x.view()).unwrap() == expected);
            assert!(all_equal, "{threads} threads: other numbers");
        }
    });
}

/// `par_iter` inside `par_iter`, inside a pool of the user's own, with the thread count changed from inside
/// rayon tasks while others encode and train.
#[test]
fn nested_par_iter_and_own_pools_with_the_count_changing() {
    let _turn = fresh_pool(3);
    let expected = model(0).encode(images(200).view()).unwrap();
    within(120, move || {
        let users_pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        users_pool.install(|| {
            (0..4).into_par_iter().for_each(|outer| {
                (0..4).into_par_iter().for_each(|inner| {
                    if (outer + inner) % 3 == 0 {
                        autoencoder::set_num_threads(2 + (outer + inner) % 2).unwrap();
                    }
                    let z = model(0).encode(images(200).view()).unwrap();
                    assert!(z == expected, "other numbers at {outer}/{inner}");
                    let mut ae = model(1);
                    ae.train_step(images(64).view(), images(64).view(), Loss::Mse, &mut Sgd::new(0.1))
                        .unwrap();
                });
            });
        });
    });
}

/// `set_num_threads(1000)` used to be accepted (a megabyte of buffers per thread, a fit 150× slower): the count
/// is bounded, and the bound itself works, with the same weights as one thread.
#[test]
fn the_thread_count_is_bounded_and_the_bound_works() {
    let _turn = fresh_pool(2);
    let message = autoencoder::set_num_threads(1000).unwrap_err().to_string();
    assert!(
        message.contains("1000") && message.contains(&autoencoder::MAX_THREADS.to_string()),
        "{message}"
    );
    assert_eq!(autoencoder::num_threads(), 2, "a refused count was kept");
    let train = |threads: usize| {
        autoencoder::set_num_threads(threads).unwrap();
        let mut ae = model(2);
        let config = FitConfig::new(1).batch_size(128).seed(4);
        ae.fit(images(256).view(), None, &mut Adam::new(1e-3), &config).unwrap();
        ae
    };
    let (most, one) = within(120, move || (train(autoencoder::MAX_THREADS), train(1)));
    assert!(most == one, "{} threads and 1 thread differ", autoencoder::MAX_THREADS);
}
