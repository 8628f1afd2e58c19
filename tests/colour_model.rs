//! Colour in the models: images of 3 channels through every layer kind, both losses, training, model files and
//! checkpoints; and encoder-decoders whose output differs from their input (grey in, colour out), which
//! colorization needs.

mod common;

use autoencoder::ndarray::{Array2, Axis};
use autoencoder::rand::{rngs::StdRng, Rng, SeedableRng};
use autoencoder::{
    Activation, Adam, Autoencoder, Checkpoint, Decoder, Dense, Encoder, Error, FitConfig, FitData, Loss, Vae,
};
use common::{assert_contains, parameter_bits, Parts};

/// `n` RGB images of `side × side` pixels, rows in HWC order: a coloured square (its colour and place depend on
/// the row) on a dim background.
fn colour_images(n: usize, side: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x = Array2::from_shape_fn((n, side * side * 3), |_| rng.random_range(0.0..0.1_f32));
    // four colours of four different greys, so that the grey tells the colour
    let colours = [[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.1, 0.2, 0.95], [0.9, 0.9, 0.2]];
    for r in 0..n {
        let (top, left, colour) = (r % 3, (r / 3) % 3, colours[r % colours.len()]);
        for i in top..top + side / 2 {
            for j in left..left + side / 2 {
                for (c, value) in colour.iter().enumerate() {
                    x[[r, (i * side + j) * 3 + c]] = *value;
                }
            }
        }
    }
    x
}

/// The grey of each RGB pixel (the book's weights), rows `(n, side * side)`.
fn grey(rgb: &Array2<f32>) -> Array2<f32> {
    let pixels = rgb.ncols() / 3;
    Array2::from_shape_fn((rgb.nrows(), pixels), |(r, p)| {
        0.299 * rgb[[r, 3 * p]] + 0.587 * rgb[[r, 3 * p + 1]] + 0.114 * rgb[[r, 3 * p + 2]]
    })
}

/// A convolutional autoencoder of 8×8 RGB images (both convolution kinds, a dense code) learns them with either
/// loss: the test loss falls well below that of the mean image.
#[test]
fn a_colour_convolutional_autoencoder_learns_with_both_losses() {
    let (train, test) = (colour_images(120, 8, 1), colour_images(30, 8, 2));
    for loss in [Loss::Mse, Loss::BinaryCrossEntropy] {
        let mut cae = Autoencoder::conv_builder((8, 8, 3))
            .filters(&[8, 16])
            .latent(12)
            .seed(3)
            .build()
            .unwrap();
        assert_eq!((cae.inputs(), cae.outputs()), (192, 192));
        let mean = train.mean_axis(Axis(0)).unwrap();
        let baseline = loss
            .value(Array2::from_shape_fn(test.dim(), |(_, c)| mean[c]).view(), test.view())
            .unwrap();
        let config = FitConfig::new(100).batch_size(16).seed(4).loss(loss);
        let data = FitData::autoencoding(train.view()).with_validation(test.view(), test.view());
        let history = cae.fit_with(data, &mut Adam::new(3e-3), &config, &mut ()).unwrap();
        let last = *history.validation_loss.last().unwrap();
        // the loss of a perfect reconstruction: 0 for the MSE, the targets' own entropy for the cross-entropy
        let floor = loss.value(test.view(), test.view()).unwrap();
        assert!(
            last - floor < 0.5 * (baseline - floor),
            "{loss:?}: test loss {last} vs the mean image's {baseline} (floor {floor})"
        );
    }
}

/// A colour model saves and loads bit for bit, and a checkpoint of it resumes.
#[test]
fn a_colour_model_saves_loads_and_checkpoints() {
    let mut cae = Autoencoder::conv_builder((8, 8, 3))
        .filters(&[4])
        .latent(6)
        .seed(5)
        .build()
        .unwrap();
    let x = colour_images(20, 8, 6);
    let mut adam = Adam::new(1e-3);
    cae.fit(x.view(), None, &mut adam, &FitConfig::new(2).batch_size(8))
        .unwrap();
    let dir = common::scratch("colour-save");
    let path = dir.join("colour.safetensors");
    cae.save(&path).unwrap();
    let loaded = Autoencoder::load(&path).unwrap();
    assert_eq!(parameter_bits(&loaded), parameter_bits(&cae));
    let autoencoder::Layer::Conv2d(first) = &loaded.encoder().layers()[0] else {
        panic!("the first layer is a convolution")
    };
    assert_eq!(first.input_shape(), (8, 8, 3));
    assert_eq!(
        loaded.reconstruct(x.view()).unwrap(),
        cae.reconstruct(x.view()).unwrap()
    );
    let checkpoint = Checkpoint::new(cae.clone(), &adam, 2);
    let resumed = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    assert!(resumed.autoencoder == cae);
}

/// A colorizer: grey 8×8 images in, their colours out (an encoder-decoder, 64 inputs and 192 outputs). It trains
/// towards colour targets, beats the grey copied to R, G and B, and saves, loads and checkpoints as such.
#[test]
fn a_grey_to_colour_encoder_decoder_trains_saves_and_loads() {
    let (train, test) = (colour_images(150, 8, 7), colour_images(30, 8, 8));
    let (grey_train, grey_test) = (grey(&train), grey(&test));
    let mut colorizer = Autoencoder::conv_builder((8, 8, 1))
        .filters(&[8, 16])
        .latent(16)
        .output_channels(3)
        .seed(9)
        .build()
        .unwrap();
    assert_eq!((colorizer.inputs(), colorizer.outputs()), (64, 192));
    let mut adam = Adam::new(3e-3);
    let data = FitData::pairs(grey_train.view(), train.view()).with_validation(grey_test.view(), test.view());
    let history = colorizer
        .fit_with(data, &mut adam, &FitConfig::new(100).batch_size(16).seed(1), &mut ())
        .unwrap();
    let copied = Array2::from_shape_fn(test.dim(), |(r, c)| grey_test[[r, c / 3]]);
    let grey_mse = Loss::Mse.value(copied.view(), test.view()).unwrap();
    let colour_mse = *history.validation_loss.last().unwrap();
    assert!(
        colour_mse < 0.3 * grey_mse,
        "colourised {colour_mse} vs grey {grey_mse}"
    );
    assert_eq!(
        colorizer.evaluate(grey_test.view(), test.view(), Loss::Mse).unwrap(),
        colour_mse
    );

    // the file says what it holds, and loads as it was
    let bytes = colorizer.to_safetensors_bytes().unwrap();
    let mut parts = Parts::of(&bytes);
    assert_eq!(parts.meta().get("model").map(String::as_str), Some("encoder_decoder"));
    let loaded = Autoencoder::from_safetensors_bytes(&bytes).unwrap();
    assert_eq!(parameter_bits(&loaded), parameter_bits(&colorizer));
    assert_eq!((loaded.inputs(), loaded.outputs()), (64, 192));
    let checkpoint = Checkpoint::new(colorizer.clone(), &adam, 100);
    let resumed = Checkpoint::from_safetensors_bytes(&checkpoint.to_safetensors_bytes().unwrap()).unwrap();
    assert!(resumed.autoencoder == colorizer);

    // without that mark, a decoder that does not give the input's size back is a broken file
    parts.meta().remove("model");
    let err = Autoencoder::from_safetensors_bytes(&parts.bytes()).unwrap_err();
    assert_contains(
        &err.to_string(),
        &["192 outputs", "64 inputs", "must reconstruct its input"],
    );
    // and it is not a VAE
    let err = Vae::from_safetensors_bytes(&bytes).unwrap_err();
    assert_contains(&err.to_string(), &["Autoencoder::load"]);
}

/// What an encoder-decoder refuses: targets of the input's shape, and the per-sample reconstruction error (which
/// compares outputs with inputs). `Autoencoder::new` still refuses a decoder that does not give the input's size.
#[test]
fn an_encoder_decoder_checks_its_targets() {
    let mut rng = StdRng::seed_from_u64(1);
    let dense = |i, o, rng: &mut StdRng| Dense::new(i, o, Activation::Sigmoid, Default::default(), rng).unwrap();
    let encoder = Encoder::new(vec![dense(4, 2, &mut rng)]).unwrap();
    let decoder = Decoder::new(vec![dense(2, 12, &mut rng)]).unwrap();
    assert!(matches!(
        Autoencoder::new(encoder.clone(), decoder.clone()),
        Err(Error::Shape { .. })
    ));
    let mut model = Autoencoder::encoder_decoder(encoder, decoder).unwrap();
    let x = Array2::from_elem((5, 4), 0.5_f32);
    let err = model
        .train_step(x.view(), x.view(), Loss::Mse, &mut Adam::new(1e-3))
        .unwrap_err();
    assert_contains(&err.to_string(), &["(5, 12)", "(5, 4)"]);
    let t = Array2::from_elem((5, 12), 0.25_f32);
    assert!(model
        .train_step(x.view(), t.view(), Loss::Mse, &mut Adam::new(1e-3))
        .is_ok());
    assert!(model
        .fit(x.view(), None, &mut Adam::new(1e-3), &FitConfig::new(1))
        .is_err());
    let err = model.reconstruction_error(x.view()).unwrap_err();
    assert_contains(&err.to_string(), &["4 inputs to 12", "reconstruction_error"]);
    let bad_latent = Decoder::new(vec![dense(3, 12, &mut rng)]).unwrap();
    assert!(Autoencoder::encoder_decoder(model.encoder().clone(), bad_latent).is_err());
}
