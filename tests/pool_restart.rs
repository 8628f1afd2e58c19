//! A `fit` handed to a thread pool the moment it is made (right after `set_num_threads`) does not hang.
//!
//! The pool's threads each start a job of their own for good (the gate, the helpers that keep them awake), handed
//! out with `spawn_broadcast`, which returns before the threads have taken them. A thread that took the fit's copy
//! of the next batch first, then gave way between two rows (`rayon::yield_now`), ran its own helper job inside the
//! copy, for good: the copy never ended and the fit waited for it forever (a reviewer's program, 1 run in 25–70).
//! The race is narrow: this test did not hit it in 3 runs before the fix (`Pool::new` now waits until every thread
//! has taken its job); it stands as a watchdog over many new pools each taking a fit at once.

use std::sync::mpsc::channel;
use std::time::Duration;

use autoencoder::ndarray::Array2;
use autoencoder::{Adam, Autoencoder, FitConfig};

#[test]
fn a_fit_at_once_on_a_new_pool_does_not_hang() {
    let (done, finished) = channel();
    std::thread::spawn(move || {
        let x = Array2::from_shape_fn((64, 32), |(i, j)| ((i * 7 + j * 13) % 29) as f32 / 28.0);
        let config = FitConfig::new(1).batch_size(8).seed(1);
        for round in 0..3000 {
            // a new pool each time (the count changes), and a fit of 8 batches on it at once
            autoencoder::set_num_threads(1 + round % 4).unwrap();
            let mut ae = Autoencoder::builder(32)
                .hidden(&[16])
                .latent(4)
                .seed(2)
                .build()
                .unwrap();
            ae.fit(x.view(), None, &mut Adam::new(1e-3), &config).unwrap();
        }
        let _ = done.send(());
    });
    // the watchdog: 3,000 small fits take a few seconds
    assert!(
        finished.recv_timeout(Duration::from_secs(120)).is_ok(),
        "a fit on a freshly made pool hung (or 3,000 small fits took over 120 s)"
    );
}
