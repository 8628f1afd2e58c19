//! Training over a data set: epochs of shuffled mini-batches, validation, early stopping, divergence checks and
//! callbacks.
//!
//! ```
//! use autoencoder::{Adam, Autoencoder, FitConfig, EarlyStopping};
//! use autoencoder::ndarray::Array2;
//!
//! let x = Array2::from_shape_fn((64, 10), |(i, j)| ((i * j) % 7) as f32 / 7.0);
//! let mut ae = Autoencoder::builder(10).hidden(&[8]).latent(3).seed(1).build()?;
//! let config = FitConfig::new(20)
//!     .batch_size(16)
//!     .seed(7)
//!     .early_stopping(EarlyStopping::new(3).min_delta(1e-5));
//! let history = ae.fit(x.view(), Some(x.view()), &mut Adam::new(1e-2), &config)?;
//! assert!(history.train_loss.last() < history.train_loss.first());
//! assert_eq!(history.validation_loss.len(), history.train_loss.len());
//! # Ok::<(), autoencoder::Error>(())
//! ```
//!
//! Every epoch is shuffled by a generator seeded from `(seed, epoch)`, so the same seed and thread count give
//! bit-identical weights, and a run resumed from a checkpoint at epoch `k` ([`FitConfig::start_epoch`]) sees
//! the same batches as one that never stopped. The same generator gives, for a [`Vae`](crate::Vae)
//! ([`Vae::fit`](crate::Vae::fit), the same loop), the noise of the sampling, so it resumes exactly too.
//!
//! The input noise of a denoising fit ([`FitConfig::input_noise`]) is counter-based instead: the noise of element
//! `i` (row by row) of batch `b` of epoch `e` is a pure function of `(seed, e, b, i)` — Philox4x32-10 uniforms
//! turned into normals by Box–Muller with f32 `ln`, `sin` and `cos` of the crate's own (exact to f32 precision
//! out to 7.54σ), vectorised, and split across the crate's threads on large batches with the same bits whatever
//! the thread count. It draws nothing from the epoch's generator, resumes exactly, and costs a few percent of an
//! epoch (the file `training/noise.rs` documents the generator and the method).

use std::time::Instant;

use ndarray::{ArrayView2, Axis};
use ndarray_rand::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::batches::{Batch, Source};
use super::callbacks::EarlyStoppingState;
use super::history::Losses;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::loss::Loss;
use crate::matmul::on_pool;
use crate::models::Autoencoder;
use crate::optim::Optimizer;

// Defined beside the loop, in their own files; re-exported here, where they were, for compatibility
// (`autoencoder::fit::Callback`, ...).
pub use super::callbacks::{Callback, Control, EarlyStopping, PrintProgress};
pub use super::history::{BatchReport, EpochReport, History};

/// How to train: epochs, batch size, shuffling, loss, early stopping.
///
/// ```
/// use autoencoder::{FitConfig, Loss};
/// let config = FitConfig::new(10).batch_size(256).seed(0).loss(Loss::BinaryCrossEntropy);
/// assert_eq!((config.epochs(), config.batch_size_value()), (10, 256));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    epochs: usize,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    loss: Loss,
    input_noise: f32,
    early_stopping: Option<EarlyStopping>,
    start_epoch: usize,
}

impl FitConfig {
    /// Train for `epochs` epochs, batch size 32, shuffled with seed 0, MSE, no noise, no early stopping.
    ///
    /// ```
    /// assert_eq!(autoencoder::FitConfig::new(5).batch_size_value(), 32);
    /// ```
    pub fn new(epochs: usize) -> FitConfig {
        FitConfig {
            epochs,
            batch_size: 32,
            seed: 0,
            shuffle: true,
            loss: Loss::Mse,
            input_noise: 0.0,
            early_stopping: None,
            start_epoch: 0,
        }
    }

    /// Samples per training step; the last batch of an epoch keeps the remainder.
    ///
    /// ```
    /// assert_eq!(autoencoder::FitConfig::new(1).batch_size(256).batch_size_value(), 256);
    /// ```
    pub fn batch_size(mut self, batch_size: usize) -> FitConfig {
        self.batch_size = batch_size;
        self
    }

    /// The seed of the shuffling (and of the input noise, and of a [`Vae`](crate::Vae)'s sampling noise).
    ///
    /// ```
    /// let config = autoencoder::FitConfig::new(1).seed(42);
    /// # let _ = config;
    /// ```
    pub fn seed(mut self, seed: u64) -> FitConfig {
        self.seed = seed;
        self
    }

    /// Whether to reshuffle the samples every epoch (default true).
    ///
    /// ```
    /// let config = autoencoder::FitConfig::new(1).shuffle(false);
    /// # let _ = config;
    /// ```
    pub fn shuffle(mut self, shuffle: bool) -> FitConfig {
        self.shuffle = shuffle;
        self
    }

    /// The loss to minimise (default MSE).
    ///
    /// ```
    /// let config = autoencoder::FitConfig::new(1).loss(autoencoder::Loss::BinaryCrossEntropy);
    /// # let _ = config;
    /// ```
    pub fn loss(mut self, loss: Loss) -> FitConfig {
        self.loss = loss;
        self
    }

    /// Adds fresh Gaussian noise of this standard deviation to every training input batch (never to the targets
    /// or the validation data): a denoising autoencoder. Default 0 (none).
    ///
    /// The noise of element `i` (numbered row by row) of batch `b` (0-based) of epoch `e` is `σ·z`, `z` a
    /// standard normal that is a pure function of `(seed, e, b, i)`: counter-based (Philox4x32-10, keyed by the
    /// [`seed`](Self::seed)), so a run resumed with [`start_epoch`](Self::start_epoch) adds exactly the noise
    /// an uninterrupted run adds, on any number of threads. `z` comes from Box–Muller on 40-bit and 24-bit
    /// uniforms: a normal to f32 precision, its tails included, out to `|z| ≈ 7.54` (exceeded by a true normal with
    /// probability 5·10⁻¹⁴). The noise changes nothing else: the shuffles stay those of a fit without noise.
    ///
    /// ```
    /// let config = autoencoder::FitConfig::new(1).input_noise(0.3);
    /// # let _ = config;
    /// ```
    pub fn input_noise(mut self, std_dev: f32) -> FitConfig {
        self.input_noise = std_dev;
        self
    }

    /// Stops early when the monitored loss stops improving.
    ///
    /// ```
    /// let config = autoencoder::FitConfig::new(100).early_stopping(autoencoder::EarlyStopping::new(5));
    /// # let _ = config;
    /// ```
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> FitConfig {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// Epochs already done (when resuming from a checkpoint): training runs epochs `start_epoch + 1 ..= epochs`,
    /// with the same shuffles those epochs would have had. Early stopping starts afresh (its best loss and
    /// patience count are not part of a checkpoint).
    ///
    /// ```
    /// let config = autoencoder::FitConfig::new(10).start_epoch(4); // runs epochs 5 to 10
    /// # let _ = config;
    /// ```
    pub fn start_epoch(mut self, start_epoch: usize) -> FitConfig {
        self.start_epoch = start_epoch;
        self
    }

    /// The last epoch to run.
    ///
    /// ```
    /// assert_eq!(autoencoder::FitConfig::new(7).epochs(), 7);
    /// ```
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// The batch size.
    ///
    /// ```
    /// assert_eq!(autoencoder::FitConfig::new(7).batch_size(8).batch_size_value(), 8);
    /// ```
    pub fn batch_size_value(&self) -> usize {
        self.batch_size
    }

    fn check(&self) -> Result<()> {
        let invalid = |message: String| Err(Error::InvalidArgument(message));
        if self.batch_size == 0 {
            return invalid("fit: the batch size must be at least 1".into());
        }
        if self.start_epoch > self.epochs {
            return invalid(format!(
                "fit: start_epoch {} is past the last epoch {}",
                self.start_epoch, self.epochs
            ));
        }
        if !(self.input_noise.is_finite() && self.input_noise >= 0.0) {
            return invalid(format!(
                "fit: input noise must be finite and >= 0, got {}",
                self.input_noise
            ));
        }
        if let Some(stop) = &self.early_stopping {
            if !(stop.min_delta.is_finite() && stop.min_delta >= 0.0) {
                return invalid(format!(
                    "fit: early stopping's min_delta must be finite and >= 0, got {}",
                    stop.min_delta
                ));
            }
        }
        Ok(())
    }
}

/// The data to fit: inputs, the targets they should be reconstructed as, and optional validation data.
///
/// ```
/// use autoencoder::FitData;
/// use autoencoder::ndarray::Array2;
/// let (noisy, clean) = (Array2::<f32>::zeros((10, 4)), Array2::<f32>::zeros((10, 4)));
/// let data = FitData::pairs(noisy.view(), clean.view()).with_validation(clean.view(), clean.view());
/// # let _ = data;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FitData<'a> {
    input: ArrayView2<'a, f32>,
    target: Option<ArrayView2<'a, f32>>,
    validation: Option<(ArrayView2<'a, f32>, ArrayView2<'a, f32>)>,
}

impl<'a> FitData<'a> {
    /// A plain autoencoder's data: each sample is its own target.
    ///
    /// ```
    /// # use autoencoder::ndarray::Array2;
    /// let x = Array2::<f32>::zeros((10, 4));
    /// let data = autoencoder::FitData::autoencoding(x.view());
    /// # let _ = data;
    /// ```
    pub fn autoencoding(input: ArrayView2<'a, f32>) -> FitData<'a> {
        FitData {
            input,
            target: None,
            validation: None,
        }
    }

    /// Inputs and their targets, row by row (e.g. noisy and clean images).
    ///
    /// ```
    /// # use autoencoder::ndarray::Array2;
    /// let (x, t) = (Array2::<f32>::zeros((10, 4)), Array2::<f32>::ones((10, 4)));
    /// let data = autoencoder::FitData::pairs(x.view(), t.view());
    /// # let _ = data;
    /// ```
    pub fn pairs(input: ArrayView2<'a, f32>, target: ArrayView2<'a, f32>) -> FitData<'a> {
        FitData {
            input,
            target: Some(target),
            validation: None,
        }
    }

    /// Validation inputs and targets, scored after every epoch (for a plain autoencoder pass the same view twice).
    ///
    /// ```
    /// # use autoencoder::ndarray::Array2;
    /// let x = Array2::<f32>::zeros((10, 4));
    /// let data = autoencoder::FitData::autoencoding(x.view()).with_validation(x.view(), x.view());
    /// # let _ = data;
    /// ```
    pub fn with_validation(mut self, input: ArrayView2<'a, f32>, target: ArrayView2<'a, f32>) -> FitData<'a> {
        self.validation = Some((input, target));
        self
    }
}

impl Autoencoder {
    /// Trains on `train` (each sample its own target), scoring `validation` after every epoch when given.
    ///
    /// Errors on invalid settings or shapes before any step, and with [`Error::Diverged`] (epoch and batch) when a
    /// loss, a gradient or an update turns NaN or infinite — the model then keeps the weights, and the optimizer
    /// its state, from before that step.
    ///
    /// ```
    /// use autoencoder::{Adam, Autoencoder, FitConfig};
    /// use autoencoder::ndarray::Array2;
    /// let x = Array2::from_shape_fn((32, 6), |(i, j)| ((i + j) % 3) as f32 / 2.0);
    /// let mut ae = Autoencoder::builder(6).latent(3).build()?;
    /// let history = ae.fit(x.view(), None, &mut Adam::new(1e-2), &FitConfig::new(3).batch_size(8))?;
    /// assert_eq!(history.train_loss.len(), 3);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn fit(
        &mut self,
        train: ArrayView2<f32>,
        validation: Option<ArrayView2<f32>>,
        optimizer: &mut impl Optimizer,
        config: &FitConfig,
    ) -> Result<History> {
        let mut data = FitData::autoencoding(train);
        if let Some(validation) = validation {
            data = data.with_validation(validation, validation);
        }
        self.fit_with(data, optimizer, config, &mut ())
    }

    /// Trains on `data` with `callback` called after every batch and epoch. See [`fit`](Self::fit).
    ///
    /// ```
    /// use autoencoder::{Adam, Autoencoder, BatchReport, Callback, Control, FitConfig, FitData};
    /// use autoencoder::ndarray::Array2;
    /// struct StopAfter(usize);
    /// impl Callback for StopAfter {
    ///     fn on_batch(&mut self, report: &BatchReport) -> Control {
    ///         if report.batch >= self.0 { Control::Stop } else { Control::Continue }
    ///     }
    /// }
    /// let x = Array2::from_elem((40, 5), 0.5_f32);
    /// let mut ae = Autoencoder::builder(5).latent(2).build()?;
    /// let config = FitConfig::new(10).batch_size(4);
    /// let history = ae.fit_with(FitData::autoencoding(x.view()), &mut Adam::new(1e-3), &config, &mut StopAfter(3))?;
    /// assert!(history.stopped_early);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn fit_with<O: Optimizer>(
        &mut self,
        data: FitData<'_>,
        optimizer: &mut O,
        config: &FitConfig,
        callback: &mut impl Callback,
    ) -> Result<History> {
        run(self, data, optimizer, config, callback)
    }

    /// The loss of the model's reconstructions of `input` against `target`, over batches of 1024 rows, as one
    /// mean over every element.
    ///
    /// ```
    /// use autoencoder::{Autoencoder, Loss};
    /// use autoencoder::ndarray::Array2;
    /// let ae = Autoencoder::builder(6).latent(2).build()?;
    /// let x = Array2::from_elem((10, 6), 0.5_f32);
    /// let loss = ae.evaluate(x.view(), x.view(), Loss::Mse)?;
    /// assert!((loss - Loss::Mse.value(ae.reconstruct(x.view())?.view(), x.view())?).abs() < 1e-6);
    /// # Ok::<(), autoencoder::Error>(())
    /// ```
    pub fn evaluate(&self, input: ArrayView2<f32>, target: ArrayView2<f32>, loss: Loss) -> Result<f32> {
        self.check_batch("evaluate", input, target)?;
        let mut sum = 0.0_f64;
        for (x, t) in input
            .axis_chunks_iter(Axis(0), 1024)
            .zip(target.axis_chunks_iter(Axis(0), 1024))
        {
            let value = loss.value(self.reconstruct(x)?.view(), t)?;
            sum += f64::from(value) * x.nrows() as f64;
        }
        Ok((sum / input.nrows() as f64) as f32)
    }
}

/// What the fit loop needs of a model: [`Autoencoder`] and [`Vae`](crate::Vae) (in `vae_fit`) implement it, and
/// [`run`] is the one epoch loop of both.
pub(super) trait Trainable: Send {
    /// Checks a batch of inputs and targets (`context` names the data in errors).
    fn check_batch(&self, context: &str, input: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<()>;

    /// One training step; `rng` is the epoch's generator (seeded from `(seed, epoch)`), for a VAE's noise.
    fn fit_step<O: Optimizer>(
        &mut self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut O,
        rng: &mut StdRng,
    ) -> Result<Losses>;

    /// The (deterministic) loss on validation data.
    fn fit_evaluate(&self, input: ArrayView2<f32>, target: ArrayView2<f32>, loss: Loss) -> Result<Losses>;

    /// A copy of every layer (early stopping's best weights).
    fn snapshot(&self) -> Vec<Layer>;

    /// Puts layers from [`snapshot`](Self::snapshot) back.
    fn restore_layers(&mut self, layers: Vec<Layer>);
}

impl Trainable for Autoencoder {
    fn check_batch(&self, context: &str, input: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<()> {
        Autoencoder::check_batch(self, context, input, target)
    }

    fn fit_step<O: Optimizer>(
        &mut self,
        input: ArrayView2<f32>,
        target: ArrayView2<f32>,
        loss: Loss,
        optimizer: &mut O,
        _rng: &mut StdRng,
    ) -> Result<Losses> {
        let total = self.train_step(input, target, loss, optimizer)?;
        Ok(Losses { total, parts: None })
    }

    fn fit_evaluate(&self, input: ArrayView2<f32>, target: ArrayView2<f32>, loss: Loss) -> Result<Losses> {
        let total = self.evaluate(input, target, loss)?;
        Ok(Losses { total, parts: None })
    }

    fn snapshot(&self) -> Vec<Layer> {
        self.layers().cloned().collect()
    }

    fn restore_layers(&mut self, layers: Vec<Layer>) {
        self.set_layers(layers);
    }
}

/// The fit loop of every model: checks, then epochs of (shuffled) batches, validation, early stopping and
/// callbacks. See [`Autoencoder::fit`].
pub(super) fn run<M: Trainable, O: Optimizer>(
    model: &mut M,
    data: FitData<'_>,
    optimizer: &mut O,
    config: &FitConfig,
    callback: &mut impl Callback<M>,
) -> Result<History> {
    config.check()?;
    optimizer.check()?;
    let target = data.target.unwrap_or(data.input);
    model.check_batch("fit (training data)", data.input, target)?;
    if let Some((input, target)) = data.validation {
        model.check_batch("fit (validation data)", input, target)?;
    }

    let samples = data.input.nrows();
    let batch_size = config.batch_size.min(samples);
    let batches = samples.div_ceil(batch_size);
    let mut order: Vec<usize> = (0..samples).collect();
    let source = Source {
        input: data.input,
        // a separate target only when the targets differ from the (possibly noisy) inputs
        target: data.target.or((config.input_noise > 0.0).then_some(data.input)),
        noise: config.input_noise,
        seed: config.seed,
    };
    // Two batches: the step of one runs while the other's rows are copied in (`batches.rs`).
    let mut batch_buffers = [Batch::new(batch_size, &source), Batch::new(batch_size, &source)];
    let mut early = config.early_stopping.clone().map(EarlyStoppingState::new);
    let mut history = History {
        first_epoch: config.start_epoch + 1,
        ..History::default()
    };

    'epochs: for epoch in config.start_epoch + 1..=config.epochs {
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(epoch_seed(config.seed, epoch));
        if config.shuffle {
            // From the identity every epoch, so an epoch's order depends on (seed, epoch) alone.
            order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
            order.shuffle(&mut rng);
        }
        // The sums of the batches' losses (total, reconstruction, KL), each weighted by its size, and the samples
        // they hold.
        let mut sums = EpochSums::default();
        for (batch, rows) in order.chunks(batch_size).enumerate() {
            let n = rows.len();
            let next_rows = order.chunks(batch_size).nth(batch + 1);
            let [even, odd] = &mut batch_buffers;
            let (this, next) = if batch % 2 == 0 { (even, odd) } else { (odd, even) };
            // One hand-over to the thread pool for the whole batch: its rows (on the first batch of the epoch;
            // after, they were copied during the step before), its step, and meanwhile, on another of the pool's
            // threads, the next batch's rows (the rows left once the step is done: on the step's thread too). The
            // callback runs outside, on the caller's thread.
            let step = on_pool(|| {
                if batch == 0 {
                    this.fill(&source, rows, epoch, batch);
                }
                let (input, target) = this.views();
                let mut step = || model.fit_step(input, target, config.loss, optimizer, &mut rng);
                match next_rows {
                    Some(next_rows) => next.fill_beside(&source, next_rows, (epoch, batch + 1), step),
                    None => step(),
                }
            });
            let loss = match step {
                Ok(loss) => loss,
                Err(Error::NonFinite { what, value }) => {
                    return Err(Error::Diverged {
                        epoch,
                        batch: batch + 1,
                        what,
                        value,
                    })
                }
                Err(e) => return Err(e),
            };
            sums.add(loss, n);
            let report = BatchReport {
                epoch,
                batch: batch + 1,
                batches,
                loss: loss.total,
                vae_loss: loss.parts,
            };
            if callback.on_batch(&report) == Control::Stop {
                history.stopped_early = true;
                // the mean over the batches that ran, not over the whole epoch
                history.push(sums.mean(), None, started);
                break 'epochs;
            }
        }
        let train = sums.mean();
        let validation = match data.validation {
            Some((input, target)) => Some(model.fit_evaluate(input, target, config.loss)?),
            None => None,
        };
        if let Some(value) = validation.map(|v| v.total).filter(|v| !v.is_finite()) {
            return Err(Error::Diverged {
                epoch,
                batch: 0,
                what: "validation loss",
                value,
            });
        }
        history.push(train, validation, started);

        let mut stop = false;
        if let Some(early) = early.as_mut() {
            stop = early.observe(epoch, validation.unwrap_or(train).total, &*model);
            history.best_epoch = early.best_epoch;
        }
        let report = EpochReport {
            epoch,
            epochs: config.epochs,
            train_loss: train.total,
            validation_loss: validation.map(|v| v.total),
            seconds: *history.epoch_seconds.last().unwrap_or(&0.0),
            autoencoder: &*model,
            optimizer: &*optimizer,
            train_vae_loss: train.parts,
            validation_vae_loss: validation.and_then(|v| v.parts),
        };
        if callback.on_epoch(&report)? == Control::Stop || stop {
            history.stopped_early = epoch < config.epochs;
            break;
        }
    }
    if let Some(early) = early {
        early.restore(model);
    }
    Ok(history)
}

/// An epoch's running sums of the batch losses, weighted by batch size, in `f64`.
#[derive(Default)]
struct EpochSums {
    total: f64,
    reconstruction: f64,
    kl: f64,
    has_parts: bool,
    samples: usize,
}

impl EpochSums {
    fn add(&mut self, loss: Losses, n: usize) {
        let weight = n as f64;
        self.total += f64::from(loss.total) * weight;
        if let Some(parts) = loss.parts {
            self.reconstruction += f64::from(parts.reconstruction) * weight;
            self.kl += f64::from(parts.kl) * weight;
            self.has_parts = true;
        }
        self.samples += n;
    }

    /// The means over the samples seen.
    fn mean(&self) -> Losses {
        let mean = |sum: f64| (sum / self.samples as f64) as f32;
        Losses {
            total: mean(self.total),
            parts: self.has_parts.then(|| crate::VaeLoss {
                total: mean(self.total),
                reconstruction: mean(self.reconstruction),
                kl: mean(self.kl),
            }),
        }
    }
}

/// The seed of epoch `epoch`'s shuffle, mixed so that neighbouring seeds and epochs give unrelated streams.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}
