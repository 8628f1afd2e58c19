//! A model (and a checkpoint) saved here loads in Python's `safetensors.numpy.load_file` with the same bits,
//! and the file Python writes back from those arrays loads here to the same model.
//!
//! Runs `tests/python/check_safetensors.py` with `$AUTOENCODER_PYTHON`, else `python3`. When that Python lacks
//! `safetensors` or `numpy`, the test fails if `CI` is set (`.ci/run` installs them) and is skipped otherwise.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use autoencoder::ndarray::{Array1, Array2};
use autoencoder::{Activation, Adam, Autoencoder, Checkpoint, Decoder, Dense, Encoder, Loss};
use common::scratch;
use serde_json::{json, Map, Value};

/// The Python to run, or `None` (after a note on stderr) when it cannot import safetensors and numpy.
fn python() -> Option<String> {
    let python = std::env::var("AUTOENCODER_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import numpy, safetensors.numpy"])
        .output();
    let problem = match probe {
        Ok(out) if out.status.success() => return Some(python),
        Ok(out) => format!(
            "{python} cannot import safetensors and numpy: {}",
            String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("")
        ),
        Err(e) => format!("{python} cannot be run: {e}"),
    };
    if std::env::var_os("CI").is_some() {
        panic!(
            "{problem}\n.ci/run should install them (a venv in target/ci-venv with `pip install safetensors numpy`) \
             and export AUTOENCODER_PYTHON to its python"
        );
    }
    eprintln!(
        "skipping the Python interoperability test: {problem} (set AUTOENCODER_PYTHON to a python that has them)"
    );
    None
}

/// The expected contents of a file as the Python script reads them: each tensor's shape and bits, and the
/// metadata. The tensors come from the model in memory, not from the file.
fn expected(tensors: Vec<(String, Vec<usize>, Vec<f32>)>, file: &Path) -> Value {
    let mut map = Map::new();
    for (name, shape, values) in tensors {
        let bits: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        map.insert(name, json!({"shape": shape, "bits": bits}));
    }
    let bytes = fs::read(file).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    json!({"tensors": map, "metadata": header.metadata().clone().unwrap()})
}

fn model_tensors(ae: &Autoencoder) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut tensors = Vec::new();
    for (part, layers) in [("encoder", ae.encoder().layers()), ("decoder", ae.decoder().layers())] {
        for (i, layer) in layers.iter().enumerate() {
            let w = layer.weights();
            tensors.push((
                format!("{part}.{i}.weight"),
                w.shape().to_vec(),
                w.iter().copied().collect(),
            ));
            tensors.push((
                format!("{part}.{i}.bias"),
                vec![layer.bias().len()],
                layer.bias().to_vec(),
            ));
        }
    }
    tensors
}

/// Runs the checker on `file` with `expected`, asking it to write the arrays back to `resaved`.
fn check_in_python(python: &str, file: &Path, expected: &Value, resaved: &Path) {
    let expected_path = file.with_extension("expected.json");
    fs::write(&expected_path, serde_json::to_vec(expected).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_safetensors.py");
    let out = common::output_within(
        Command::new(python)
            .arg(&script)
            .arg(file)
            .arg(&expected_path)
            .arg(resaved),
        120,
    );
    assert!(
        out.status.success(),
        "{} failed:\n{}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A model whose values include the bit patterns a careless reader loses: signed zero, subnormals, extremes.
fn model() -> Autoencoder {
    let special = [
        -0.0_f32,
        1.0e-45,
        -3.0e-39,
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE,
        0.1,
        -1.5,
    ];
    let dense = |inputs, outputs, activation, offset: usize| {
        let w = Array2::from_shape_fn((inputs, outputs), |(i, j)| {
            special[(offset + i * outputs + j) % special.len()]
        });
        let b = Array1::from_shape_fn(outputs, |j| special[(offset + 3 + j) % special.len()]);
        Dense::from_parts(w, b, activation).unwrap()
    };
    Autoencoder::new(
        Encoder::new(vec![
            dense(6, 4, Activation::LeakyRelu(0.3), 0),
            dense(4, 2, Activation::Tanh, 1),
        ])
        .unwrap(),
        Decoder::new(vec![dense(2, 6, Activation::Sigmoid, 2)]).unwrap(),
    )
    .unwrap()
}

#[test]
fn python_reads_a_saved_model_bit_for_bit_and_its_copy_loads_back() {
    let Some(python) = python() else { return };
    let dir = scratch("model");
    let path = dir.join("model.safetensors");
    let ae = model();
    ae.save(&path).unwrap();

    let resaved = dir.join("from-python.safetensors");
    check_in_python(&python, &path, &expected(model_tensors(&ae), &path), &resaved);

    let loaded = Autoencoder::load(&resaved).unwrap();
    let bits = |ae: &Autoencoder| -> Vec<u32> {
        model_tensors(ae)
            .iter()
            .flat_map(|t| t.2.iter().map(|v| v.to_bits()))
            .collect()
    };
    assert_eq!(bits(&loaded), bits(&ae));
    assert_eq!(loaded, ae);
}

#[test]
fn python_reads_a_checkpoint_bit_for_bit_and_its_copy_loads_back() {
    let Some(python) = python() else { return };
    let dir = scratch("checkpoint");
    let path = dir.join("ckpt.safetensors");
    let mut ae = Autoencoder::builder(6).hidden(&[4]).latent(2).seed(9).build().unwrap();
    let x = Array2::from_shape_fn((3, 6), |(i, j)| ((i + 2 * j) % 5) as f32 / 4.0);
    let mut adam = Adam::new(1e-2);
    for _ in 0..2 {
        ae.train_step(x.view(), x.view(), Loss::Mse, &mut adam).unwrap();
    }
    let checkpoint = Checkpoint::new(ae, &adam, 2).with_metadata("note", "from Rust");
    checkpoint.save(&path).unwrap();

    let mut tensors = model_tensors(&checkpoint.autoencoder);
    for (name, buffers) in &checkpoint.optimizer.buffers {
        for (k, buffer) in buffers.iter().enumerate() {
            tensors.push((format!("optimizer.{name}.{k}"), vec![buffer.len()], buffer.clone()));
        }
    }
    let resaved = dir.join("from-python.safetensors");
    check_in_python(&python, &path, &expected(tensors, &path), &resaved);
    assert_eq!(Checkpoint::load(&resaved).unwrap(), checkpoint);
}

/// A convolutional model's file holds Keras-layout 4-D kernels that Python reads bit for bit, with each layer's
/// kind, input shape, stride and padding in its metadata; Python's copy loads back to the same model.
#[test]
fn python_reads_a_convolutional_model_and_its_copy_loads_back() {
    let Some(python) = python() else { return };
    let dir = scratch("conv");
    let path = dir.join("cae.safetensors");
    let cae = Autoencoder::conv_builder((8, 8, 1))
        .filters(&[2, 3])
        .latent(3)
        .seed(4)
        .build()
        .unwrap();
    cae.save(&path).unwrap();
    let tensors = model_tensors(&cae);
    assert_eq!(
        tensors[0].1,
        [3, 3, 1, 2],
        "encoder.0.weight: Keras' Conv2D layout (kh, kw, in, out)"
    );
    let expected = expected(tensors, &path);
    let metadata = &expected["metadata"];
    assert_eq!(metadata["encoder.0.kind"], "conv2d");
    assert_eq!(metadata["encoder.0.input_shape"], "8,8,1");
    assert_eq!(
        (&metadata["encoder.0.stride"], &metadata["encoder.0.padding"]),
        (&json!("2"), &json!("same"))
    );
    assert_eq!(metadata["decoder.1.kind"], "conv_transpose2d");
    let resaved = dir.join("from-python.safetensors");
    check_in_python(&python, &path, &expected, &resaved);
    assert_eq!(Autoencoder::load(&resaved).unwrap(), cae);
}
