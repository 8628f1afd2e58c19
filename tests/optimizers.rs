//! Optimizer steps against values worked out by hand and against PyTorch.
//!
//! Each optimizer runs five steps on four float32 parameters with fixed gradients. The hand-worked tests follow
//! the first parameter (w = 0.5, gradients 0.2 then 0.1) with the arithmetic in comments; the PyTorch tests
//! follow all four through all five steps and must agree to 2 ulp (or 1e-7 absolute), since the crate's update
//! rules are PyTorch's. The expected numbers were printed by `tools/reference/optimizers.py` (torch 2.15.0,
//! CPU); its core is pasted below, so the numbers can be regenerated without guessing:
//!
//! ```python
//! INITIAL = [0.5, -1.25, 2.0, 0.03125]
//! GRADIENTS = [[0.2, -0.4, 1.5, 0.0], [0.1, 0.3, -2.0, 1e-3], [-0.25, 0.05, 0.75, -0.5],
//!              [0.4, -0.6, 0.0, 2.5], [0.0, 0.2, -0.1, 0.125]]
//! CASES = {
//!     "SGD_PLAIN": (torch.optim.SGD, dict(lr=0.1)),
//!     "SGD_WEIGHT_DECAY": (torch.optim.SGD, dict(lr=0.1, weight_decay=0.05)),
//!     "SGD_MOMENTUM": (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
//!     "SGD_DAMPENING": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5)),
//!     "SGD_NESTEROV": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
//!     "SGD_NESTEROV_WEIGHT_DECAY": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
//!     "ADAM": (torch.optim.Adam, dict(lr=1e-2)),
//!     "ADAM_BETAS_EPS": (torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
//!     "ADAMW": (torch.optim.AdamW, dict(lr=1e-2)),
//!     "ADAMW_DECAY_BETAS_EPS": (torch.optim.AdamW, dict(lr=0.05, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.1)),
//! }
//!
//! def trajectory(optimizer, options):
//!     param = torch.tensor(INITIAL, dtype=torch.float32, requires_grad=True)
//!     opt = optimizer([param], **options)
//!     steps = []
//!     for grad in GRADIENTS:
//!         param.grad = torch.tensor(grad, dtype=torch.float32)
//!         opt.step()
//!         steps.append(param.detach().clone().tolist())
//!     return steps
//! # each value printed as the shortest decimal that round-trips to its float32
//! ```

use approx::{assert_abs_diff_eq, ulps_eq};
use autoencoder::{Adam, AdamW, Optimizer, Sgd};

const INITIAL: [f32; 4] = [0.5, -1.25, 2.0, 0.03125];

const GRADIENTS: [[f32; 4]; 5] = [
    [0.2, -0.4, 1.5, 0.0],
    [0.1, 0.3, -2.0, 1e-3],
    [-0.25, 0.05, 0.75, -0.5],
    [0.4, -0.6, 0.0, 2.5],
    [0.0, 0.2, -0.1, 0.125],
];

// ---------------------------------------------------------------------------------------------------------
// The numbers from PyTorch (the output of tools/reference/optimizers.py, pasted).
// ---------------------------------------------------------------------------------------------------------

/// torch.optim.SGD(lr=0.1)
const SGD_PLAIN: [[f32; 4]; 5] = [
    [0.48, -1.21, 1.85, 0.03125],
    [0.47, -1.24, 2.05, 0.03115],
    [0.495, -1.245, 1.9749999, 0.08115],
    [0.455, -1.185, 1.9749999, -0.16885],
    [0.455, -1.2049999, 1.9849999, -0.18135001],
];
/// torch.optim.SGD(lr=0.1, weight_decay=0.05)
const SGD_WEIGHT_DECAY: [[f32; 4]; 5] = [
    [0.4775, -1.20375, 1.84, 0.03109375],
    [0.46511248, -1.2277312, 2.0308, 0.03083828],
    [0.48778692, -1.2265925, 1.945646, 0.08068409],
    [0.445348, -1.1604595, 1.9359179, -0.16971934],
    [0.44312125, -1.1746572, 1.9362383, -0.18137074],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9)
const SGD_MOMENTUM: [[f32; 4]; 5] = [
    [0.48, -1.21, 1.85, 0.03125],
    [0.452, -1.204, 1.9150001, 0.03115],
    [0.4518, -1.2036, 1.8985001, 0.08106],
    [0.41162, -1.1432401, 1.8836501, -0.124021016],
    [0.375458, -1.108916, 1.880285, -0.32109392],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9, dampening=0.5)
const SGD_DAMPENING: [[f32; 4]; 5] = [
    [0.48, -1.21, 1.85, 0.03125],
    [0.457, -1.189, 1.815, 0.0312],
    [0.4488, -1.1726, 1.746, 0.056155],
    [0.42142, -1.12784, 1.6839, -0.046385508],
    [0.39677802, -1.097556, 1.63301, -0.14492196],
];
/// torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True)
const SGD_NESTEROV: [[f32; 4]; 5] = [
    [0.462, -1.174, 1.715, 0.03125],
    [0.4268, -1.1986, 1.9735, 0.03106],
    [0.45162, -1.20324, 1.8836501, 0.12597899],
    [0.375458, -1.0889161, 1.870285, -0.3085939],
    [0.3429122, -1.0780245, 1.8772565, -0.4984595],
];
/// torch.optim.SGD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)
const SGD_NESTEROV_WEIGHT_DECAY: [[f32; 4]; 5] = [
    [0.48155, -1.212875, 1.8632, 0.031221876],
    [0.46555662, -1.2255834, 1.9928831, 0.031093776],
    [0.47903553, -1.2276323, 1.9480813, 0.0760158],
    [0.44357374, -1.1726568, 1.9412837, -0.13310255],
    [0.43099672, -1.170112, 1.9438777, -0.21149704],
];
/// torch.optim.Adam(lr=0.01)
const ADAM: [[f32; 4]; 5] = [
    [0.49, -1.24, 1.99, 0.03125],
    [0.4806782, -1.2391068, 1.9919351, 0.023808738],
    [0.48064008, -1.2390559, 1.991531, 0.030185362],
    [0.4761654, -1.2345715, 1.9912, 0.025510712],
    [0.47238332, -1.2322513, 1.9911296, 0.021297045],
];
/// torch.optim.Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-06)
const ADAM_BETAS_EPS: [[f32; 4]; 5] = [
    [0.45000023, -1.2000002, 1.95, 0.03125],
    [0.40425414, -1.1984277, 1.962562, -0.007880177],
    [0.40869403, -1.2008368, 1.9610642, 0.027378652],
    [0.38500738, -1.176096, 1.9599178, -0.0003291387],
    [0.3663557, -1.1654657, 1.9602971, -0.02374168],
];
/// torch.optim.AdamW(lr=0.01)
const ADAMW: [[f32; 4]; 5] = [
    [0.48995, -1.239875, 1.9898, 0.031246874],
    [0.4805792, -1.2388577, 1.9915361, 0.023802487],
    [0.480493, -1.238683, 1.9909328, 0.03017673],
    [0.47597027, -1.2340747, 1.9904027, 0.025499063],
    [0.47214058, -1.2316312, 1.9901333, 0.021282846],
];
/// torch.optim.AdamW(lr=0.05, betas=(0.85, 0.995), eps=1e-07, weight_decay=0.1)
const ADAMW_DECAY_BETAS_EPS: [[f32; 4]; 5] = [
    [0.44750002, -1.19375, 1.94, 0.03109375],
    [0.39907566, -1.1847225, 1.9413806, -0.007230511],
    [0.3991368, -1.1798725, 1.9299476, 0.026329096],
    [0.37418604, -1.1504848, 1.9189284, 0.0007412173],
    [0.3535472, -1.1335956, 1.9093727, -0.021522991],
];

// ---------------------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------------------

/// The parameters after each of the five steps.
fn trajectory(optimizer: &mut impl Optimizer) -> [[f32; 4]; 5] {
    optimizer.check().unwrap();
    let mut w = INITIAL;
    GRADIENTS.map(|g| {
        optimizer.begin_step();
        optimizer.update("w", &mut w, &g).unwrap();
        w
    })
}

/// The same trajectory with the four parameters split over two named tensors (two and two), as a model's weights
/// and bias are: each name must keep its own state.
fn trajectory_in_two_tensors(optimizer: &mut impl Optimizer) -> [[f32; 4]; 5] {
    let (mut a, mut b) = ([INITIAL[0], INITIAL[1]], [INITIAL[2], INITIAL[3]]);
    GRADIENTS.map(|g| {
        optimizer.begin_step();
        optimizer.update("encoder.0.weight", &mut a, &g[..2]).unwrap();
        optimizer.update("encoder.0.bias", &mut b, &g[2..]).unwrap();
        [a[0], a[1], b[0], b[1]]
    })
}

/// How far a trajectory is from PyTorch's: the largest difference in ulp and in absolute value, or an error
/// naming the first value that is neither within 2 ulp nor within 1e-7 of PyTorch's.
///
/// (A value formed by cancellation, like AdamW's 0.0007412173 at step 4 from weights near 0.026, can be a few
/// dozen of its own ulps off while 1 ulp off at the scale it was computed at: hence the 1e-7 floor.)
fn torch_mismatch(got: [[f32; 4]; 5], want: [[f32; 4]; 5]) -> Result<(u32, f32), String> {
    let (mut worst_ulps, mut worst_abs) = (0, 0.0_f32);
    for (step, (got_row, want_row)) in got.iter().zip(&want).enumerate() {
        for (i, (&g, &w)) in got_row.iter().zip(want_row).enumerate() {
            if !ulps_eq!(g, w, epsilon = 1e-7, max_ulps = 2) {
                return Err(format!("step {}, parameter {i}: got {g:e}, PyTorch {w:e}", step + 1));
            }
            worst_ulps = worst_ulps.max(g.to_bits().abs_diff(w.to_bits()));
            worst_abs = worst_abs.max((g - w).abs());
        }
    }
    Ok((worst_ulps, worst_abs))
}

/// Checks one optimizer against PyTorch's trajectory, in one tensor and split over two; prints the differences.
fn check_against_torch(name: &str, make: impl Fn() -> Box<dyn DynOptimizer>, want: [[f32; 4]; 5]) {
    let (ulps, abs) = torch_mismatch(make().trajectory(), want).unwrap_or_else(|e| panic!("{name}: {e}"));
    let two_tensors = make().trajectory_in_two_tensors();
    assert_eq!(two_tensors, make().trajectory(), "{name}: two tensors differ from one");
    eprintln!("{name}: at most {ulps} ulp, {abs:e} absolute, from PyTorch");
}

/// Object-safe access to the two trajectories, so that the tests can loop over optimizers of different types.
trait DynOptimizer {
    fn trajectory(&mut self) -> [[f32; 4]; 5];
    fn trajectory_in_two_tensors(&mut self) -> [[f32; 4]; 5];
}

impl<O: Optimizer> DynOptimizer for O {
    fn trajectory(&mut self) -> [[f32; 4]; 5] {
        trajectory(self)
    }
    fn trajectory_in_two_tensors(&mut self) -> [[f32; 4]; 5] {
        trajectory_in_two_tensors(self)
    }
}

// ---------------------------------------------------------------------------------------------------------
// Against PyTorch.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn sgd_matches_pytorch() {
    type Case = (&'static str, fn() -> Sgd, [[f32; 4]; 5]);
    let cases: [Case; 6] = [
        ("SGD(lr=0.1)", || Sgd::new(0.1), SGD_PLAIN),
        (
            "SGD(lr=0.1, weight_decay=0.05)",
            || Sgd::new(0.1).with_weight_decay(0.05),
            SGD_WEIGHT_DECAY,
        ),
        (
            "SGD(lr=0.1, momentum=0.9)",
            || Sgd::new(0.1).with_momentum(0.9),
            SGD_MOMENTUM,
        ),
        (
            "SGD(lr=0.1, momentum=0.9, dampening=0.5)",
            || Sgd::new(0.1).with_momentum(0.9).with_dampening(0.5),
            SGD_DAMPENING,
        ),
        (
            "SGD(lr=0.1, momentum=0.9, nesterov=True)",
            || Sgd::new(0.1).with_momentum(0.9).with_nesterov(true),
            SGD_NESTEROV,
        ),
        (
            "SGD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)",
            || {
                Sgd::new(0.05)
                    .with_momentum(0.8)
                    .with_nesterov(true)
                    .with_weight_decay(0.01)
            },
            SGD_NESTEROV_WEIGHT_DECAY,
        ),
    ];
    for (name, make, want) in cases {
        check_against_torch(name, || Box::new(make()), want);
    }
}

#[test]
fn adam_matches_pytorch() {
    check_against_torch("Adam(lr=1e-2)", || Box::new(Adam::new(1e-2)), ADAM);
    check_against_torch(
        "Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6)",
        || Box::new(Adam::new(0.05).with_betas(0.8, 0.99).with_eps(1e-6)),
        ADAM_BETAS_EPS,
    );
}

#[test]
fn adamw_matches_pytorch() {
    check_against_torch("AdamW(lr=1e-2)", || Box::new(AdamW::new(1e-2)), ADAMW);
    check_against_torch(
        "AdamW(lr=0.05, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.1)",
        || {
            Box::new(
                AdamW::new(0.05)
                    .with_betas(0.85, 0.995)
                    .with_eps(1e-7)
                    .with_weight_decay(0.1),
            )
        },
        ADAMW_DECAY_BETAS_EPS,
    );
}

#[test]
fn the_torch_comparison_can_fail() {
    // A learning rate off by 1% is not PyTorch's SGD(lr=0.1),
    assert!(torch_mismatch(trajectory(&mut Sgd::new(0.101)), SGD_PLAIN).is_err());
    // Adam(betas=(0.9, 0.99)) is not Adam(betas=(0.9, 0.999)),
    assert!(torch_mismatch(trajectory(&mut Adam::new(1e-2).with_betas(0.9, 0.99)), ADAM).is_err());
    // and AdamW with wd 0.011 is not AdamW with wd 0.01 (the decay alone moves 0.5 by 5e-7 per step).
    assert!(torch_mismatch(trajectory(&mut AdamW::new(1e-2).with_weight_decay(0.011)), ADAMW).is_err());
}

// ---------------------------------------------------------------------------------------------------------
// By hand: the first parameter, w = 0.5, with gradients 0.2 then 0.1 (then -0.25 where a third step shows
// something new). These agree with column 0 of the PyTorch tables above.
// ---------------------------------------------------------------------------------------------------------

/// The first parameter after each of the first `steps` steps.
fn first_parameter(optimizer: &mut impl Optimizer, steps: usize) -> Vec<f32> {
    trajectory(optimizer)[..steps].iter().map(|w| w[0]).collect()
}

fn assert_by_hand(got: Vec<f32>, want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.into_iter().zip(want) {
        assert_abs_diff_eq!(f64::from(g), *w, epsilon = 1e-6);
    }
}

#[test]
fn sgd_plain_by_hand() {
    // w -= lr · g:  0.5 - 0.1 · 0.2 = 0.48;  0.48 - 0.1 · 0.1 = 0.47;  0.47 - 0.1 · (-0.25) = 0.495
    assert_by_hand(first_parameter(&mut Sgd::new(0.1), 3), &[0.48, 0.47, 0.495]);
}

#[test]
fn sgd_weight_decay_by_hand() {
    // g += wd · w, then w -= lr · g:
    // step 1: g = 0.2 + 0.05 · 0.5 = 0.225,      w = 0.5 - 0.0225 = 0.4775
    // step 2: g = 0.1 + 0.05 · 0.4775 = 0.123875, w = 0.4775 - 0.0123875 = 0.4651125
    assert_by_hand(
        first_parameter(&mut Sgd::new(0.1).with_weight_decay(0.05), 2),
        &[0.4775, 0.4651125],
    );
}

#[test]
fn sgd_momentum_by_hand() {
    // b = g on the first step, then b = 0.9 b + g; w -= lr · b:
    // step 1: b = 0.2,                      w = 0.5 - 0.02 = 0.48
    // step 2: b = 0.18 + 0.1 = 0.28,        w = 0.48 - 0.028 = 0.452
    // step 3: b = 0.252 - 0.25 = 0.002,     w = 0.452 - 0.0002 = 0.4518
    assert_by_hand(
        first_parameter(&mut Sgd::new(0.1).with_momentum(0.9), 3),
        &[0.48, 0.452, 0.4518],
    );
}

#[test]
fn sgd_dampening_by_hand() {
    // b = g on the first step (undampened, as PyTorch), then b = 0.9 b + (1 - 0.5) g:
    // step 1: b = 0.2,                          w = 0.48
    // step 2: b = 0.18 + 0.05 = 0.23,           w = 0.48 - 0.023 = 0.457
    // step 3: b = 0.207 - 0.125 = 0.082,        w = 0.457 - 0.0082 = 0.4488
    let mut sgd = Sgd::new(0.1).with_momentum(0.9).with_dampening(0.5);
    assert_by_hand(first_parameter(&mut sgd, 3), &[0.48, 0.457, 0.4488]);
}

#[test]
fn sgd_nesterov_by_hand() {
    // b as plain momentum; the step is g + 0.9 b:
    // step 1: b = 0.2,   step = 0.2 + 0.18 = 0.38,   w = 0.5 - 0.038 = 0.462
    // step 2: b = 0.28,  step = 0.1 + 0.252 = 0.352, w = 0.462 - 0.0352 = 0.4268
    let mut sgd = Sgd::new(0.1).with_momentum(0.9).with_nesterov(true);
    assert_by_hand(first_parameter(&mut sgd, 2), &[0.462, 0.4268]);
}

#[test]
fn sgd_nesterov_with_weight_decay_by_hand() {
    // lr 0.05, momentum 0.8, wd 0.01: g = 0.2 + 0.01 · 0.5 = 0.205, b = 0.205,
    // step = 0.205 + 0.8 · 0.205 = 0.369, w = 0.5 - 0.05 · 0.369 = 0.48155
    let mut sgd = Sgd::new(0.05)
        .with_momentum(0.8)
        .with_nesterov(true)
        .with_weight_decay(0.01);
    assert_by_hand(first_parameter(&mut sgd, 1), &[0.48155]);
}

#[test]
fn adam_by_hand() {
    // lr 0.01, b1 0.9, b2 0.999, eps 1e-8:
    // step 1: m = 0.1 · 0.2 = 0.02, v = 0.001 · 0.04 = 4e-5,
    //         m̂ = 0.02 / (1 - 0.9) = 0.2, v̂ = 4e-5 / (1 - 0.999) = 0.04, √v̂ = 0.2,
    //         w = 0.5 - 0.01 · 0.2 / (0.2 + 1e-8) = 0.49            (the first step is ±lr)
    // step 2: m = 0.9 · 0.02 + 0.1 · 0.1 = 0.028, v = 0.999 · 4e-5 + 0.001 · 0.01 = 4.996e-5,
    //         m̂ = 0.028 / (1 - 0.81) = 0.147368421, v̂ = 4.996e-5 / (1 - 0.998001) = 0.0249924962,
    //         √v̂ = 0.158090152, w = 0.49 - 0.01 · 0.147368421 / 0.158090152 = 0.49 - 0.00932179 = 0.48067821
    assert_by_hand(first_parameter(&mut Adam::new(0.01), 2), &[0.49, 0.480_678_2]);
    // A zero gradient from zero moments does not move the weight (parameter 3, step 1): m = v = 0, 0 / eps.
    assert_eq!(trajectory(&mut Adam::new(0.01))[0][3], INITIAL[3]);
}

#[test]
fn adam_eps_and_betas_by_hand() {
    // lr 0.05, b1 0.8, b2 0.99, eps 1e-6, step 1: m̂ = 0.2 · 0.2 / 0.2 = 0.2, v̂ = 0.01 · 0.04 / 0.01 = 0.04,
    // w = 0.5 - 0.05 · 0.2 / (0.2 + 1e-6) = 0.5 - 0.04999975 = 0.45000025 (eps is visible at f32 precision)
    let w = first_parameter(&mut Adam::new(0.05).with_betas(0.8, 0.99).with_eps(1e-6), 1);
    assert_abs_diff_eq!(w[0], 0.450_000_25, epsilon = 3e-8);
    assert!(w[0] > 0.45);
}

#[test]
fn adamw_by_hand() {
    // Decoupled decay first, w *= 1 - lr · wd, then Adam's step:
    // lr 0.01, wd 0.01:  w = 0.5 · (1 - 1e-4) = 0.49995, then - 0.01 → 0.48995
    assert_by_hand(first_parameter(&mut AdamW::new(0.01), 1), &[0.48995]);
    // lr 0.05, wd 0.1, eps 1e-7: w = 0.5 · (1 - 0.005) = 0.4975, then - 0.05 · 0.2 / (0.2 + 1e-7)
    // = 0.4975 - 0.049999975 = 0.447500025
    let mut opt = AdamW::new(0.05)
        .with_betas(0.85, 0.995)
        .with_eps(1e-7)
        .with_weight_decay(0.1);
    assert_by_hand(first_parameter(&mut opt, 1), &[0.447_500_025]);
}

#[test]
fn adamw_decay_is_decoupled_from_the_moments() {
    // With a zero gradient AdamW still shrinks the weight by (1 - lr · wd) each step, while Adam with L2 folded
    // into the gradient would instead take a ±lr step: five steps of lr 0.1, wd 0.5 give 0.95^5 = 0.77378.
    let mut opt = AdamW::new(0.1).with_weight_decay(0.5);
    let mut w = [1.0_f32];
    for _ in 0..5 {
        opt.begin_step();
        opt.update("w", &mut w, &[0.0]).unwrap();
    }
    assert_abs_diff_eq!(w[0], 0.95_f32.powi(5), epsilon = 1e-6);
}
