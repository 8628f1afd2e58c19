//! The benchmark driver shared by `bench_ae16`, `bench_cae16` and `bench_vae2`: trains a reference workload
//! (`../shared/bench/WORKLOAD.md`) and reports its speed, as the anchor scripts in `../shared/bench/anchors/` do
//! for JAX, PyTorch, Keras and NumPy.
//!
//! The 60,000 training images (or the first `--limit N`) reshuffled every epoch, the last partial batch kept, MSE,
//! Adam 1e-3, trained with `Autoencoder::fit` (or, with `--steps`, with a `train_step` loop of this file's own).
//! Prints one line per epoch, then the test MSE and inference timings, and as its last line one JSON object:
//! `median_epoch_s` (median over epochs 2..N), `epoch_seconds`, `test_mse`, `peak_rss_mb`, `batch`, `threads`,
//! `limit`, and more.
#![allow(dead_code)] // each benchmark example uses its own driver of this file

use std::error::Error;
use std::time::Instant;

use autoencoder::mnist::Mnist;
use autoencoder::ndarray::{s, Array2, ArrayView2, Axis};
use autoencoder::rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use autoencoder::{Adam, Autoencoder, Callback, Control, EpochReport, FitConfig, FitData, Loss, Vae};

/// The flags, after the example's name.
const FLAGS: &str =
    "[--data DIR] [--epochs N] [--batch B] [--threads T] [--seed S] [--limit N] [--infer-reps R] [--noise SIGMA] [--steps]";

/// Command-line options, with the anchors' defaults.
pub struct Options {
    data: String,
    /// Train on the first `limit` training images only.
    limit: Option<usize>,
    epochs: usize,
    batch: usize,
    threads: usize,
    pub seed: u64,
    infer_reps: usize,
    /// The standard deviation of `FitConfig::input_noise` (0: none), for the cost of denoising training.
    noise: f32,
    /// Train with a `train_step` loop of the example's own rather than `fit`.
    steps: bool,
}

fn parse_options(name: &str, default_batch: usize) -> Result<Options, Box<dyn Error>> {
    let usage = format!("usage: {name} {FLAGS}");
    let mut options = Options {
        data: "/usr/share/datasets/fashion-mnist".into(),
        limit: None,
        epochs: 5,
        batch: default_batch,
        threads: autoencoder::num_threads(),
        seed: 0,
        infer_reps: 5,
        noise: 0.0,
        steps: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{usage}");
            std::process::exit(0);
        }
        if flag == "--steps" {
            options.steps = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}\n{usage}"))
        };
        match flag.as_str() {
            "--data" => options.data = value.clone(),
            "--epochs" => options.epochs = number()?,
            "--batch" => options.batch = number()?,
            "--threads" => options.threads = number()?,
            "--seed" => options.seed = number()? as u64,
            "--infer-reps" => options.infer_reps = number()?,
            "--limit" => options.limit = Some(number()?),
            "--noise" => {
                options.noise = value
                    .parse::<f32>()
                    .map_err(|e| format!("{flag} {value}: {e}\n{usage}"))?
            }
            _ => return Err(format!("unknown option {flag}\n{usage}").into()),
        }
    }
    if options.epochs == 0 || options.batch == 0 {
        return Err(format!("--epochs and --batch must be at least 1\n{usage}").into());
    }
    if options.noise != 0.0 && options.steps {
        return Err(format!("--noise needs the fit driver, not --steps\n{usage}").into());
    }
    Ok(options)
}

/// Parses the flags of example `name`, trains the model `build` makes (from the options and the image size) and
/// prints the report.
pub fn run(
    name: &str,
    build: impl Fn(&Options, usize) -> autoencoder::Result<Autoencoder>,
) -> Result<(), Box<dyn Error>> {
    let options = parse_options(name, 256)?;
    autoencoder::set_num_threads(options.threads)?;

    let data = Mnist::load(&options.data)?;
    let (peak_after_load, rss_after_load) = (peak_rss_mb(), rss_mb());
    let rows = options.limit.unwrap_or(usize::MAX).min(data.train_images.nrows());
    let (train, test) = (data.train_images.slice(s![..rows, ..]), data.test_images.view());
    let mut ae = build(&options, train.ncols())?;
    let mut adam = Adam::new(1e-3);

    let mut epochs = EpochMeter {
        meter: Some(CpuMeter::start()),
        ..EpochMeter::default()
    };
    if options.steps {
        train_with_steps(&mut ae, &mut adam, train, &options, &mut epochs)?;
    } else {
        let config = FitConfig::new(options.epochs)
            .batch_size(options.batch)
            .seed(options.seed)
            .input_noise(options.noise);
        ae.fit_with(FitData::autoencoding(train), &mut adam, &config, &mut epochs)?;
    }
    let EpochMeter {
        seconds: epoch_seconds,
        train_losses,
        other_cpu,
        steal,
        own_cpu,
        ..
    } = epochs;

    let (peak_after_training, rss_after_training) = (peak_rss_mb(), rss_mb());
    // the mean over every element of the test set, in batches of 1000 (equal sizes, so the mean of means)
    let mut batch_mses = Vec::new();
    for chunk in test.axis_chunks_iter(Axis(0), 1000) {
        let weight = chunk.nrows() as f64 / test.nrows() as f64;
        batch_mses.push(f64::from(Loss::Mse.value(ae.reconstruct(chunk)?.view(), chunk)?) * weight);
    }
    let test_mse: f64 = batch_mses.iter().sum();
    let infer = time_inference(&ae, test, options.infer_reps, |ae, x| ae.reconstruct(x).map(drop))?;
    let encode = time_inference(&ae, test, options.infer_reps, |ae, x| ae.encode(x).map(drop))?;
    eprintln!("test MSE {test_mse:.6}; inference (encode + decode) of the test set at batch 1000: {infer:?} s");

    let steady = if epoch_seconds.len() > 1 {
        &epoch_seconds[1..]
    } else {
        &epoch_seconds[..]
    };
    let report = serde_json::json!({
        "framework": "autoencoder",
        "workload": name.trim_start_matches("bench_"),
        "limit": rows,
        "driver": if options.steps { "train_step loop" } else { "fit" },
        "version": env!("CARGO_PKG_VERSION"),
        "batch": options.batch,
        "threads": autoencoder::num_threads(),
        "epochs": options.epochs,
        "input_noise": options.noise,
        "epoch_seconds": epoch_seconds.iter().map(|s| round(*s, 4)).collect::<Vec<_>>(),
        "median_epoch_s": round(median(steady), 4),
        "min_epoch_s": round(steady.iter().copied().fold(f64::INFINITY, f64::min), 4),
        "max_epoch_s": round(steady.iter().copied().fold(0.0, f64::max), 4),
        "median_over": if epoch_seconds.len() > 1 { "epochs 2..N" } else { "epoch 1 only (N=1)" },
        "test_mse": test_mse,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_after_load_mb": round(peak_after_load, 1),
        "rss_after_load_mb": round(rss_after_load, 1),
        "peak_rss_after_training_mb": round(peak_after_training, 1),
        "rss_after_training_mb": round(rss_after_training, 1),
        "dataset_f32_mb": round((data.train_images.len() + data.test_images.len()) as f64 * 4.0 / 1048576.0, 1),
        "train_loss": train_losses.iter().map(|l| round(*l, 6)).collect::<Vec<_>>(),
        "own_cpu_per_epoch": own_cpu.iter().map(|s| round(*s, 3)).collect::<Vec<_>>(),
        "other_cpu_frac": other_cpu.iter().map(|f| round(*f, 3)).collect::<Vec<_>>(),
        "steal_frac": steal.iter().map(|f| round(*f, 3)).collect::<Vec<_>>(),
        "infer_test10k_b1000_s": infer.iter().map(|s| round(*s, 4)).collect::<Vec<_>>(),
        "infer_median_s": (!infer.is_empty()).then(|| round(median(&infer), 4)),
        "encode_test10k_b1000_s": encode.iter().map(|s| round(*s, 4)).collect::<Vec<_>>(),
        "encode_median_s": (!encode.is_empty()).then(|| round(median(&encode), 4)),
    });
    println!("{report}");
    Ok(())
}

/// The driver of `bench_vae2`: as [`run`], for the variational autoencoder `build` makes, trained on binary
/// cross-entropy summed over the pixels plus the KL term (β as built), Adam 1e-3, batches of 128 unless `--batch`
/// says otherwise (the PyTorch anchor's), with `Vae::fit` (shuffling and noise drawn from `--seed`). Reports the deterministic test loss (`z` = the mean) as `test_loss` (and, as the
/// anchors do, as `test_mse`), with `test_reconstruction` and `test_kl`.
pub fn run_vae(name: &str, build: impl Fn(&Options, usize) -> autoencoder::Result<Vae>) -> Result<(), Box<dyn Error>> {
    let options = parse_options(name, 128)?;
    autoencoder::set_num_threads(options.threads)?;
    let data = Mnist::load(&options.data)?;
    let (peak_after_load, rss_after_load) = (peak_rss_mb(), rss_mb());
    let rows = options.limit.unwrap_or(usize::MAX).min(data.train_images.nrows());
    let (train, test) = (data.train_images.slice(s![..rows, ..]), data.test_images.view());
    let mut vae = build(&options, train.ncols())?;
    let mut adam = Adam::new(1e-3);
    let mut epochs = EpochMeter {
        meter: Some(CpuMeter::start()),
        ..EpochMeter::default()
    };
    let config = FitConfig::new(options.epochs)
        .batch_size(options.batch)
        .seed(options.seed)
        .input_noise(options.noise)
        .loss(Loss::BinaryCrossEntropy);
    vae.fit_with(FitData::autoencoding(train), &mut adam, &config, &mut epochs)?;
    let (peak_after_training, rss_after_training) = (peak_rss_mb(), rss_mb());
    let tested = vae.evaluate(test, Loss::BinaryCrossEntropy)?;
    eprintln!(
        "test loss {:.4} (reconstruction {:.4} + kl {:.4}, z = the mean)",
        tested.total, tested.reconstruction, tested.kl
    );
    let steady = if epochs.seconds.len() > 1 {
        &epochs.seconds[1..]
    } else {
        &epochs.seconds[..]
    };
    let report = serde_json::json!({
        "framework": "autoencoder",
        "workload": name.trim_start_matches("bench_"),
        "limit": rows,
        "driver": "fit",
        "version": env!("CARGO_PKG_VERSION"),
        "batch": options.batch,
        "threads": autoencoder::num_threads(),
        "epochs": options.epochs,
        "input_noise": options.noise,
        "epoch_seconds": epochs.seconds.iter().map(|s| round(*s, 4)).collect::<Vec<_>>(),
        "median_epoch_s": round(median(steady), 4),
        "median_over": if epochs.seconds.len() > 1 { "epochs 2..N" } else { "epoch 1 only (N=1)" },
        "test_loss": tested.total,
        "test_reconstruction": tested.reconstruction,
        "test_kl": tested.kl,
        "test_mse": tested.total,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_after_load_mb": round(peak_after_load, 1),
        "rss_after_load_mb": round(rss_after_load, 1),
        "peak_rss_after_training_mb": round(peak_after_training, 1),
        "rss_after_training_mb": round(rss_after_training, 1),
        "train_loss": epochs.train_losses.iter().map(|l| round(*l, 4)).collect::<Vec<_>>(),
        "own_cpu_per_epoch": epochs.own_cpu.iter().map(|s| round(*s, 3)).collect::<Vec<_>>(),
        "other_cpu_frac": epochs.other_cpu.iter().map(|f| round(*f, 3)).collect::<Vec<_>>(),
    });
    println!("{report}");
    Ok(())
}

/// The same training as `fit`, written out with `train_step` over a preallocated batch buffer (`--steps`): to
/// check that `fit` adds nothing to the time of its steps.
fn train_with_steps(
    ae: &mut Autoencoder,
    adam: &mut Adam,
    train: ArrayView2<f32>,
    options: &Options,
    epochs: &mut EpochMeter,
) -> Result<(), Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut order: Vec<usize> = (0..train.nrows()).collect();
    let mut batch = Array2::<f32>::zeros((options.batch, train.ncols()));
    for epoch in 1..=options.epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0_f64;
        for indices in order.chunks(options.batch) {
            let mut rows = batch.slice_mut(s![..indices.len(), ..]);
            for (mut row, &index) in rows.axis_iter_mut(Axis(0)).zip(indices) {
                row.assign(&train.row(index));
            }
            let rows = batch.slice(s![..indices.len(), ..]);
            let loss = ae.train_step(rows, rows, Loss::Mse, adam)?;
            loss_sum += f64::from(loss) * indices.len() as f64;
        }
        let train_loss = (loss_sum / train.nrows() as f64) as f32;
        epochs.record(epoch, started.elapsed().as_secs_f64(), train_loss);
    }
    Ok(())
}

/// Per epoch: seconds, training loss, and the share of the machine other processes used meanwhile; prints a line
/// per epoch. A `fit` callback.
#[derive(Default)]
struct EpochMeter {
    seconds: Vec<f64>,
    train_losses: Vec<f64>,
    other_cpu: Vec<f64>,
    steal: Vec<f64>,
    own_cpu: Vec<f64>,
    meter: Option<CpuMeter>,
}

impl EpochMeter {
    fn record(&mut self, epoch: usize, seconds: f64, train_loss: f32) {
        let usage = self.meter.take().map(|m| m.stop());
        let (other, steal, own) = usage.map_or((0.0, 0.0, 0.0), |u| (u.other, u.steal, u.own_seconds));
        eprintln!(
            "autoencoder epoch {epoch}: {seconds:.3}s loss {train_loss:.6} other_cpu {other:.2} steal {steal:.2}"
        );
        self.seconds.push(seconds);
        self.train_losses.push(f64::from(train_loss));
        self.other_cpu.push(other);
        self.steal.push(steal);
        self.own_cpu.push(own);
        self.meter = Some(CpuMeter::start());
    }
}

impl<M> Callback<M> for EpochMeter {
    fn on_epoch(&mut self, report: &EpochReport<'_, M>) -> autoencoder::Result<Control> {
        self.record(report.epoch, report.seconds, report.train_loss);
        Ok(Control::Continue)
    }
}

/// Seconds for `run` over the test set in batches of 1000, `reps` times after one warm-up pass.
fn time_inference(
    ae: &Autoencoder,
    test: ArrayView2<f32>,
    reps: usize,
    run: impl Fn(&Autoencoder, ArrayView2<f32>) -> autoencoder::Result<()>,
) -> autoencoder::Result<Vec<f64>> {
    let mut seconds = Vec::new();
    for rep in 0..if reps > 0 { reps + 1 } else { 0 } {
        let started = Instant::now();
        for chunk in test.axis_chunks_iter(Axis(0), 1000) {
            run(ae, chunk)?;
        }
        if rep > 0 {
            seconds.push(started.elapsed().as_secs_f64());
        }
    }
    Ok(seconds)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// The process's peak resident set (VmHWM in /proc/self/status), in MB; 0 where /proc is missing.
fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM:")
}

/// The process's resident set now (VmRSS), in MB; 0 where /proc is missing.
fn rss_mb() -> f64 {
    proc_status_mb("VmRSS:")
}

fn proc_status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Over an interval: the share of the machine's CPU time that other processes used, the share the hypervisor
/// stole, and this process's own CPU seconds (as the anchors report them), from /proc/stat and /proc/self/stat;
/// zeros where /proc is missing.
struct CpuMeter {
    start: Ticks,
    own: f64,
}

/// Usage over an interval, from [`CpuMeter::stop`].
struct Usage {
    other: f64,
    steal: f64,
    own_seconds: f64,
}

impl CpuMeter {
    fn start() -> CpuMeter {
        CpuMeter {
            start: machine_ticks(),
            own: own_ticks(),
        }
    }

    fn stop(&self) -> Usage {
        let now = machine_ticks();
        let (busy, steal, total) = (
            now.busy - self.start.busy,
            now.steal - self.start.steal,
            now.total - self.start.total,
        );
        let own = own_ticks() - self.own;
        let share = |x: f64| if total > 0.0 { (x / total).max(0.0) } else { 0.0 };
        Usage {
            other: share(busy - own),
            steal: share(steal),
            own_seconds: own / CLOCK_TICKS_PER_SECOND,
        }
    }
}

/// Linux's `USER_HZ`, the unit of /proc's CPU times (100 on every mainstream architecture).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Clock ticks of every CPU since boot: busy (user nice system irq softirq), stolen, and all.
struct Ticks {
    busy: f64,
    steal: f64,
    total: f64,
}

fn machine_ticks() -> Ticks {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // user nice system idle iowait irq softirq steal
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    if ticks.len() < 8 {
        return Ticks {
            busy: 0.0,
            steal: 0.0,
            total: 0.0,
        };
    }
    Ticks {
        busy: ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6],
        steal: ticks[7],
        total: ticks.iter().sum(),
    }
}

/// This process's user + system clock ticks.
fn own_ticks() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    field(11) + field(12)
}
