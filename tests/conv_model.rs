//! Convolutional autoencoders through the public API: `train_step` computes exactly the gradients that the layers'
//! own `forward_train` / `backward` give when chained by hand (which tests/conv_gradient_check.rs and
//! tests/reference_jax_conv.rs check against finite differences and XLA), a model learns, and it saves, loads and
//! checkpoints like a dense one.

mod common;

use autoencoder::ndarray::{Array2, ArrayView2};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::{
    Activation, Adam, Autoencoder, Checkpoint, Conv2d, ConvTranspose2d, Decoder, Dense, Encoder, FitConfig, Init,
    Layer, Loss, Padding, Sgd,
};
use common::parameter_bits;

/// 8x8x1 images: Conv2d(4, 3x3, stride 2) → Conv2d(4, 2x2) → Dense(6) | Dense(64) → ConvTranspose2d(3, 3x3, stride 2) →
/// ConvTranspose2d(1, 3x3, stride 1, sigmoid).
fn small_cae(seed: u64) -> Autoencoder {
    let mut rng = StdRng::seed_from_u64(seed);
    let (same, init) = (Padding::Same, Init::GlorotUniform);
    let encoder: Vec<Layer> = vec![
        Conv2d::new((8, 8, 1), 4, (3, 3), 2, same, Activation::Relu, init, &mut rng)
            .unwrap()
            .into(),
        Conv2d::new((4, 4, 4), 4, (2, 2), 1, same, Activation::Tanh, init, &mut rng)
            .unwrap()
            .into(),
        Dense::new(64, 6, Activation::Identity, init, &mut rng).unwrap().into(),
    ];
    let decoder: Vec<Layer> = vec![
        Dense::new(6, 64, Activation::Relu, init, &mut rng).unwrap().into(),
        ConvTranspose2d::new((4, 4, 4), 3, (3, 3), 2, same, Activation::Tanh, init, &mut rng)
            .unwrap()
            .into(),
        ConvTranspose2d::new((8, 8, 3), 1, (3, 3), 1, same, Activation::Sigmoid, init, &mut rng)
            .unwrap()
            .into(),
    ];
    Autoencoder::new(Encoder::new(encoder).unwrap(), Decoder::new(decoder).unwrap()).unwrap()
}

/// Blobs: a bright square at a place that depends on the row, on a dim background.
fn images(rows: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Array2::from_shape_fn((rows, 64), |_| rng.random_range(0.0..0.1_f32));
    for r in 0..rows {
        let (top, left) = (r % 5, (r / 5) % 5);
        for i in top..top + 3 {
            for j in left..left + 3 {
                x[[r, i * 8 + j]] = 0.9;
            }
        }
    }
    x
}

/// Each layer's weight and bias gradients, by the per-layer public API, chained by hand.
fn gradients_by_hand(ae: &Autoencoder, x: ArrayView2<f32>, loss: Loss) -> Vec<(Vec<f32>, Vec<f32>)> {
    enum Trace {
        Dense(autoencoder::DenseTrace),
        Conv(autoencoder::ConvTrace),
    }
    let layers: Vec<&Layer> = ae.encoder().layers().iter().chain(ae.decoder().layers()).collect();
    let mut traces = Vec::new();
    let mut a = x.to_owned();
    for layer in &layers {
        let (trace, output) = match layer {
            Layer::Dense(l) => {
                let t = l.forward_train(a.view()).unwrap();
                let y = t.output().clone();
                (Trace::Dense(t), y)
            }
            Layer::Conv2d(l) => {
                let t = l.forward_train(a.view()).unwrap();
                let y = t.output().clone();
                (Trace::Conv(t), y)
            }
            Layer::ConvTranspose2d(l) => {
                let t = l.forward_train(a.view()).unwrap();
                let y = t.output().clone();
                (Trace::Conv(t), y)
            }
        };
        traces.push(trace);
        a = output;
    }
    let mut grad = loss.gradient(a.view(), x).unwrap();
    let mut out = Vec::new();
    for (layer, trace) in layers.iter().zip(&traces).rev() {
        let (w, b, input) = match (layer, trace) {
            (Layer::Dense(l), Trace::Dense(t)) => {
                let g = l.backward(t, grad.view()).unwrap();
                (g.weights.iter().copied().collect(), g.bias.to_vec(), g.input)
            }
            (Layer::Conv2d(l), Trace::Conv(t)) => {
                let g = l.backward(t, grad.view()).unwrap();
                (g.kernel.iter().copied().collect(), g.bias.to_vec(), g.input)
            }
            (Layer::ConvTranspose2d(l), Trace::Conv(t)) => {
                let g = l.backward(t, grad.view()).unwrap();
                (g.kernel.iter().copied().collect(), g.bias.to_vec(), g.input)
            }
            _ => unreachable!(),
        };
        out.push((w, b));
        grad = input;
    }
    out.reverse();
    out
}

/// `train_step` with plain SGD moves each parameter by `-lr * gradient`: the gradient it used, recovered from the
/// change, is the one the layers' own backward passes give (to the rounding of the weight update).
#[test]
fn train_step_uses_the_layers_own_gradients() {
    for loss in [Loss::Mse, Loss::BinaryCrossEntropy] {
        for rows in [7, 16] {
            let mut ae = small_cae(1);
            let x = images(rows, 2);
            let expected = gradients_by_hand(&ae, x.view(), loss);
            let before: Vec<(Vec<f32>, Vec<f32>)> = ae
                .encoder()
                .layers()
                .iter()
                .chain(ae.decoder().layers())
                .map(|l| (l.weights().iter().copied().collect(), l.bias().to_vec()))
                .collect();
            let lr = 0.5_f32;
            ae.train_step(x.view(), x.view(), loss, &mut Sgd::new(f64::from(lr)))
                .unwrap();
            let after = ae.encoder().layers().iter().chain(ae.decoder().layers());
            for (k, ((layer, (w0, b0)), (gw, gb))) in after.zip(&before).zip(&expected).enumerate() {
                let w1: Vec<f32> = layer.weights().iter().copied().collect();
                for (what, old, new, want) in [("weight", w0, &w1, gw), ("bias", b0, &layer.bias().to_vec(), gb)] {
                    for (i, ((&o, &n), &g)) in old.iter().zip(new).zip(want).enumerate() {
                        let recovered = (o - n) / lr;
                        // the update rounds to the weight's ulp: allow a few of them, over lr
                        let slack = 4.0 * f32::EPSILON * o.abs().max(n.abs()) / lr + 1e-6;
                        assert!(
                            (recovered - g).abs() <= slack + 1e-4 * g.abs(),
                            "{loss} {rows} rows, layer {k} ({}) {what}[{i}]: train_step {recovered}, by hand {g}",
                            layer.kind()
                        );
                    }
                }
            }
        }
    }
}

/// A small convolutional autoencoder learns the blobs: the loss falls well below that of the mean image.
#[test]
fn a_convolutional_autoencoder_learns() {
    let mut ae = small_cae(3);
    let (train, test) = (images(200, 4), images(50, 5));
    let mean = train.mean_axis(autoencoder::ndarray::Axis(0)).unwrap();
    let baseline = (&test - &mean).mapv(|d| d * d).mean().unwrap();
    let config = FitConfig::new(40).batch_size(20).seed(6);
    let history = ae
        .fit(train.view(), Some(test.view()), &mut Adam::new(1e-2), &config)
        .unwrap();
    let last = *history.validation_loss.last().unwrap();
    assert!(
        last < 0.5 * baseline,
        "test MSE {last} vs the mean image's {baseline}: {:?}",
        history.validation_loss
    );
}

/// Conv models save and load bit for bit (file format 2: kinds, shapes, strides, paddings), checkpoints resume,
/// and the convolutions' settings survive.
#[test]
fn a_convolutional_model_saves_loads_and_checkpoints() {
    let mut ae = small_cae(7);
    let x = images(30, 8);
    let mut adam = Adam::new(1e-3);
    ae.fit(x.view(), None, &mut adam, &FitConfig::new(2).batch_size(10).seed(1))
        .unwrap();
    let dir = common::scratch("conv-model");
    let path = dir.join("cae.safetensors");
    ae.save(&path).unwrap();
    let loaded = Autoencoder::load(&path).unwrap();
    assert!(loaded == ae);
    assert_eq!(parameter_bits(&loaded), parameter_bits(&ae));
    assert_eq!(loaded.reconstruct(x.view()).unwrap(), ae.reconstruct(x.view()).unwrap());
    let kinds: Vec<&str> = loaded
        .encoder()
        .layers()
        .iter()
        .chain(loaded.decoder().layers())
        .map(Layer::kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "conv2d",
            "conv2d",
            "dense",
            "dense",
            "conv_transpose2d",
            "conv_transpose2d"
        ]
    );

    let checkpoint = Checkpoint::new(ae.clone(), &adam, 2);
    let resumed = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    assert!(resumed.autoencoder == ae);
}

/// Training on a transposed view of the batch (not rows in memory) gives the same weights as on the same batch in
/// standard layout.
#[test]
fn any_batch_layout_trains_the_same() {
    let x = images(12, 9);
    let column_major = x.t().as_standard_layout().into_owned().reversed_axes();
    let (mut a, mut b) = (small_cae(2), small_cae(2));
    a.train_step(x.view(), x.view(), Loss::Mse, &mut Sgd::new(0.1)).unwrap();
    b.train_step(column_major.view(), x.view(), Loss::Mse, &mut Sgd::new(0.1))
        .unwrap();
    assert!(a == b);
}

/// Inference writes into output buffers of any layout, for a model whose last layer is a convolution too (which
/// computes into standard-layout rows only): the same values as into a standard buffer, on the calling thread and
/// split across threads, and nothing written outside the view.
#[test]
fn inference_writes_into_buffers_of_any_layout() {
    use autoencoder::ndarray::{s, ShapeBuilder};
    let ae = small_cae(4);
    for (threads, rows) in [(1, 5), (2, 5), (2, 300)] {
        autoencoder::set_num_threads(threads).unwrap();
        let x = images(rows, 5);
        let want = ae.reconstruct(x.view()).unwrap();
        let mut column_major = Array2::from_elem((rows, 64).f(), f32::NAN);
        ae.reconstruct_into(x.view(), column_major.view_mut()).unwrap();
        assert_eq!(column_major, want, "{threads} threads, {rows} rows, column-major");
        let mut every_other = Array2::from_elem((rows, 128), f32::NAN);
        ae.reconstruct_into(x.view(), every_other.slice_mut(s![.., ..;2]))
            .unwrap();
        assert_eq!(
            every_other.slice(s![.., ..;2]),
            want,
            "{threads} threads, {rows} rows, strided"
        );
        assert!(
            every_other.slice(s![.., 1..;2]).iter().all(|v| v.is_nan()),
            "wrote outside the view"
        );
        let codes = ae.encode(x.view()).unwrap();
        let mut decoded = Array2::from_elem((rows, 64).f(), f32::NAN);
        ae.decode_into(codes.view(), decoded.view_mut()).unwrap();
        assert_eq!(decoded, want, "{threads} threads, {rows} rows, decode_into");
    }
    // and the errors name the call and what is wrong
    let x = images(3, 5);
    let err = ae
        .reconstruct_into(x.view(), Array2::zeros((2, 64)).view_mut())
        .unwrap_err();
    assert!(err.to_string().contains("reconstruct_into (output buffer)"), "{err}");
    let err = ae.decode(Array2::zeros((3, 5)).view()).unwrap_err();
    assert!(err.to_string().contains("decode (latent columns)"), "{err}");
}

/// Training buffers too large for memory are an error from `train_step`, not an abort, and the model trains on at
/// a batch that fits (run again in a child process limited to 512 MiB, where the 1.5 GiB of outputs and gradients
/// that a batch of 64 needs cannot be had).
#[test]
fn training_buffers_too_large_for_memory_are_an_error() {
    if std::env::var_os("CONV_MODEL_CHILD").is_none() {
        #[cfg(unix)]
        common::pass_again_in_512_mib("training_buffers_too_large_for_memory_are_an_error", "CONV_MODEL_CHILD");
        return;
    }
    // 1x1 kernels over a 64x64 image: 512 channels of 4,096 pixels out of the first layer (8 MB per image for
    // each of its output, pre-activation and gradient), one channel back out of the second
    let layer = |channels, filters| {
        let k = autoencoder::ndarray::Array4::from_elem((1, 1, channels, filters), 1e-4_f32);
        let bias = autoencoder::ndarray::Array1::zeros(filters);
        Conv2d::from_parts(k, bias, (64, 64, channels), 1, Padding::Same, Activation::Sigmoid).unwrap()
    };
    let mut ae = Autoencoder::new(
        Encoder::new(vec![layer(1, 512)]).unwrap(),
        Decoder::new(vec![layer(512, 1)]).unwrap(),
    )
    .unwrap();
    let x = Array2::from_elem((64, 4096), 0.5_f32);
    let message = ae
        .train_step(x.view(), x.view(), Loss::Mse, &mut Sgd::new(0.1))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("training buffers of a conv2d layer for batches of 64"),
        "{message}"
    );
    let small = x.slice(autoencoder::ndarray::s![..2, ..]);
    assert!(ae
        .train_step(small, small, Loss::Mse, &mut Sgd::new(0.1))
        .unwrap()
        .is_finite());
}
