//! The same seed and thread count give bit-identical weights; and since no sum is split across threads (the
//! matrix products split by output tiles, the element-wise passes by columns or elements), so does any other
//! thread count.

mod common;

use autoencoder::ndarray::Array2;
use autoencoder::rand::{rngs::StdRng, SeedableRng};
use autoencoder::{Activation, Adam, Autoencoder, Conv2d, ConvGradients, ConvTranspose2d, FitConfig, Init, Padding};

fn images(rows: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, 784), |(i, j)| ((i * 7 + j * 13) % 251) as f32 / 250.0)
}

/// An AE-16-like model trained for 2 epochs of 3 batches (the last one partial) on `threads` threads.
fn trained(threads: usize) -> Autoencoder {
    trained_with_noise(threads, 0.0)
}

/// [`trained`], with Gaussian input noise of this standard deviation (a denoising fit).
fn trained_with_noise(threads: usize, noise: f32) -> Autoencoder {
    autoencoder::set_num_threads(threads).unwrap();
    let x = images(600);
    let mut ae = Autoencoder::builder(784)
        .hidden(&[256, 64])
        .latent(16)
        .seed(3)
        .build()
        .unwrap();
    let config = FitConfig::new(2).batch_size(256).seed(5).input_noise(noise);
    ae.fit(x.view(), None, &mut Adam::new(1e-3), &config).unwrap();
    ae
}

/// One test function: the thread count is a process-wide setting.
#[test]
fn weights_are_bit_identical_for_a_seed_whatever_the_thread_count() {
    common::within(300, compare_thread_counts)
}

fn compare_thread_counts() {
    let two = trained(2);
    assert!(two == trained(2), "two runs on 2 threads differ");
    assert!(two == trained(1), "1 thread and 2 threads differ");
    assert!(two == trained(3), "3 threads and 2 threads differ");
    let untrained = Autoencoder::builder(784)
        .hidden(&[256, 64])
        .latent(16)
        .seed(3)
        .build()
        .unwrap();
    assert!(two != untrained, "training changed nothing");

    // the input noise of a denoising fit (split across threads on a 256 × 784 batch) is the same bits too
    let noisy = trained_with_noise(2, 0.5);
    assert!(
        noisy == trained_with_noise(1, 0.5),
        "denoising: 1 thread and 2 threads differ"
    );
    assert!(
        noisy == trained_with_noise(3, 0.5),
        "denoising: 3 threads and 2 threads differ"
    );
    assert!(noisy != two, "the input noise changed nothing");

    // GELU layers (whose backward sweeps split from a few thousand values) and a pair of products above 2^27
    // multiply-adds (129 × 1024 × 1024: dL/dx beside dL/dW, each split across all the threads)
    let wide_gelu = |threads: usize| {
        autoencoder::set_num_threads(threads).unwrap();
        let x = Array2::from_shape_fn((258, 1024), |(i, j)| ((i * 11 + j * 5) % 241) as f32 / 240.0);
        let mut ae = Autoencoder::builder(1024)
            .hidden(&[1024])
            .latent(8)
            .hidden_activation(Activation::Gelu)
            .seed(4)
            .build()
            .unwrap();
        let config = FitConfig::new(1).batch_size(129).seed(5);
        ae.fit(x.view(), None, &mut Adam::new(1e-3), &config).unwrap();
        ae
    };
    let two = wide_gelu(2);
    assert!(two == wide_gelu(1), "GELU 1024: 1 thread and 2 threads differ");
    assert!(two == wide_gelu(3), "GELU 1024: 3 threads and 2 threads differ");
    assert!(two == wide_gelu(4), "GELU 1024: 4 threads and 2 threads differ");

    // the same for the book's convolutional autoencoder (products split by columns or rows, patches per image)
    let cae = |threads: usize| {
        autoencoder::set_num_threads(threads).unwrap();
        let x = images(70);
        let mut cae = Autoencoder::conv_builder((28, 28, 1))
            .filters(&[8, 16])
            .latent(4)
            .seed(2)
            .build()
            .unwrap();
        let config = FitConfig::new(1).batch_size(32).seed(5);
        cae.fit(x.view(), None, &mut Adam::new(1e-3), &config).unwrap();
        cae
    };
    let two = cae(2);
    assert!(two == cae(1), "CAE: 1 thread and 2 threads differ");
    assert!(two == cae(3), "CAE: 3 threads and 2 threads differ");

    // A convolution's backward sums dL/dK and dL/db by fixed groups of images, each in passes that depend on the
    // batch only: batches smaller than, equal to and larger than the groups, both kinds of layer (the last one
    // computed directly, without patches), on any thread count.
    for batch in [1, 2, 3, 4, 5, 7, 9, 13, 33] {
        let reference = convolution_gradients(batch, 1);
        for threads in [2, 3, 8] {
            assert!(
                convolution_gradients(batch, threads) == reference,
                "convolution gradients, batch {batch}: {threads} threads and 1 thread differ"
            );
        }
    }

    // Inference: one sample at a time (the thin product on the calling thread), a few (the thin product, up to
    // a group of 6 rows), and batches of any size on any thread count (products split by columns, or the batch by
    // rows through the whole chain from 128 rows per thread) give each sample the same bits.
    let ae = trained(2);
    let x = images(1000);
    let reference = {
        autoencoder::set_num_threads(2).unwrap();
        (ae.encode(x.view()).unwrap(), ae.reconstruct(x.view()).unwrap())
    };
    for threads in [1, 2, 3] {
        autoencoder::set_num_threads(threads).unwrap();
        for rows in [1, 2, 3, 5, 6, 7, 13, 256, 383] {
            for start in [0, 500, 1000 - rows] {
                let part = x.slice(autoencoder::ndarray::s![start..start + rows, ..]);
                let (codes, images) = (ae.encode(part).unwrap(), ae.reconstruct(part).unwrap());
                let context = format!("{threads} threads, rows {start}..{}", start + rows);
                assert_eq!(
                    codes,
                    reference.0.slice(autoencoder::ndarray::s![start..start + rows, ..]),
                    "{context}"
                );
                assert_eq!(
                    images,
                    reference.1.slice(autoencoder::ndarray::s![start..start + rows, ..]),
                    "{context}"
                );
            }
        }
        assert_eq!(
            ae.encode(x.view()).unwrap(),
            reference.0,
            "{threads} threads, the whole batch"
        );
    }
}

/// The gradients of three convolutions (a strided one, a transposed one, and a transposed one at stride 1 to one
/// channel, computed directly) for a batch, on `threads` threads.
fn convolution_gradients(batch: usize, threads: usize) -> Vec<ConvGradients> {
    autoencoder::set_num_threads(threads).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let value = |seed: usize| move |(i, j): (usize, usize)| ((i * 37 + j * 11 + seed) % 23) as f32 / 11.0 - 1.0;
    let (gelu, same) = (Activation::Gelu, Padding::Same);
    let conv = Conv2d::new((9, 8, 32), 8, (3, 3), 2, same, gelu, Init::HeNormal, &mut rng).unwrap();
    let up = ConvTranspose2d::new((5, 4, 16), 8, (3, 3), 2, Padding::Valid, gelu, Init::HeNormal, &mut rng).unwrap();
    let last = ConvTranspose2d::new(
        (9, 11, 20),
        1,
        (3, 3),
        1,
        same,
        Activation::Sigmoid,
        Init::GlorotUniform,
        &mut rng,
    )
    .unwrap();
    let conv_trace = conv.forward_train(Array2::from_shape_fn((batch, conv.inputs()), value(1)).view());
    let dy = Array2::from_shape_fn((batch, conv.outputs()), value(2));
    let up_trace = up.forward_train(Array2::from_shape_fn((batch, up.inputs()), value(3)).view());
    let up_dy = Array2::from_shape_fn((batch, up.outputs()), value(4));
    let last_trace = last.forward_train(Array2::from_shape_fn((batch, last.inputs()), value(5)).view());
    let last_dy = Array2::from_shape_fn((batch, last.outputs()), value(6));
    vec![
        conv.backward(&conv_trace.unwrap(), dy.view()).unwrap(),
        up.backward(&up_trace.unwrap(), up_dy.view()).unwrap(),
        last.backward(&last_trace.unwrap(), last_dy.view()).unwrap(),
    ]
}
