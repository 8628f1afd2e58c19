//! A transposed convolution at stride 1 to a few channels (the last layer of a convolutional decoder: one channel
//! for grey images, three for colour), computed directly rather than lowered onto the matrix product: its
//! product would have only `kh * kw * out_channels` columns (9 for the book's model), too narrow for the product's
//! kernel, and the windows of a one-channel image are runs of a value or three, too short to copy fast.
//!
//! With the input `x` (`(h, w, in_channels)`) placed in a zero frame (`xp`, [`Frame`]), each output pixel is a sum
//! over the kernel's taps of dot products over the input channels, with no bounds to check:
//!
//! `y[p, q, o] = Σ_{di, dj} Σ_c xp[p + kh - 1 - di, q + kw - 1 - dj, c] · K[di, dj, o, c]`,
//!
//! and backward, with `dL/dz` framed the same way (`gp`, the frame of the adjoint convolution's input):
//!
//! `dL/dx[i, j, c] = Σ_{di, dj, o} gp[i + di, j + dj, o] · K[di, dj, o, c]`,
//! `dL/dK[di, dj, o, c] = Σ_{i, j} gp[i + di, j + dj, o] · x[i, j, c]`.
//!
//! The sums run over vectors of input channels, [`PIXELS`] neighbouring pixels side by side (independent sums, so
//! that the multiply-adds do not wait on each other). Each image is computed on its own, so the bits do not
//! depend on how a batch is split.

use pulp::{Simd, WithSimd};

/// The most output channels for which a stride-1 transposed convolution is computed directly.
pub(crate) const MAX_CHANNELS: usize = 4;

/// Pixels of a row computed side by side: as many independent sums as keep the multiply-add units busy.
const PIXELS: usize = 8;

/// The sizes of a direct transposed convolution: input `(h, w, c)`, output `(big_h, big_w, o)`, kernel
/// `(kh, kw)`, and the padding `(top, left)` of the adjoint convolution (the one from the output to the input).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub(crate) input: (usize, usize, usize),
    pub(crate) output: (usize, usize, usize),
    pub(crate) kernel: (usize, usize),
    pub(crate) pad: (usize, usize),
}

/// An image in a frame of zeros: `rows × columns` pixels of `channels` values, the image's pixel `(i, j)` at
/// `(i + top, j + left)`; [`PIXELS`] columns more on the right, so that a run of pixels starting anywhere in a row
/// stays inside it.
#[derive(Clone, Copy, Debug)]
struct Frame {
    rows: usize,
    columns: usize,
    channels: usize,
    top: usize,
    left: usize,
}

impl Frame {
    fn len(&self) -> usize {
        self.rows * self.columns * self.channels
    }

    /// Writes `image` (`(h, w, channels)`) into its frame, `framed` (of [`len`](Self::len) values).
    fn fill(&self, image: &[f32], (h, w): (usize, usize), framed: &mut [f32]) {
        let framed = &mut framed[..self.len()];
        framed.fill(0.0);
        let row_len = w * self.channels;
        for (i, row) in image.chunks_exact(row_len).take(h).enumerate() {
            let start = ((i + self.top) * self.columns + self.left) * self.channels;
            framed[start..start + row_len].copy_from_slice(row);
        }
    }
}

impl Sizes {
    /// The input's frame for forward: the output's pixel `(p, q)` reads the frame's rows `p..p + kh` and columns
    /// `q..q + kw`.
    fn input_frame(&self) -> Frame {
        let ((kh, kw), (big_h, big_w, _)) = (self.kernel, self.output);
        Frame {
            rows: big_h + kh - 1,
            columns: big_w + kw - 1 + PIXELS,
            channels: self.input.2,
            top: kh - 1 - self.pad.0,
            left: kw - 1 - self.pad.1,
        }
    }

    /// The frame of `dL/dz` for backward: the input's pixel `(i, j)` reads the frame's rows `i..i + kh` and
    /// columns `j..j + kw`.
    fn gradient_frame(&self) -> Frame {
        let ((kh, kw), (h, w, _)) = (self.kernel, self.input);
        Frame {
            rows: h + kh - 1,
            columns: w + kw - 1 + PIXELS,
            channels: self.output.2,
            top: self.pad.0,
            left: self.pad.1,
        }
    }

    /// The scratch one image needs: room for either frame.
    pub(crate) fn scratch_len(&self) -> usize {
        self.input_frame().len().max(self.gradient_frame().len())
    }
}

/// `y` (`(H, W, o)`, before the bias and activation) of one image `x`, through `scratch` (of
/// [`Sizes::scratch_len`] values). `kernel` in Keras' layout `(kh, kw, o, c)`.
pub(crate) fn forward_image(sizes: &Sizes, kernel: &[f32], x: &[f32], scratch: &mut [f32], y: &mut [f32]) {
    let frame = sizes.input_frame();
    frame.fill(x, (sizes.input.0, sizes.input.1), scratch);
    pulp::Arch::new().dispatch(Forward {
        sizes,
        frame,
        kernel,
        framed: scratch,
        y,
    });
}

struct Forward<'a> {
    sizes: &'a Sizes,
    frame: Frame,
    kernel: &'a [f32],
    framed: &'a [f32],
    y: &'a mut [f32],
}

impl WithSimd for Forward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Forward {
            sizes,
            frame,
            kernel,
            framed,
            y,
        } = self;
        let ((kh, kw), (big_h, big_w, outs), c) = (sizes.kernel, sizes.output, sizes.input.2);
        for p in 0..big_h {
            for q0 in (0..big_w).step_by(PIXELS) {
                let pixels = PIXELS.min(big_w - q0);
                for o in 0..outs {
                    let mut sums = [simd.splat_f32s(0.0); PIXELS];
                    for di in 0..kh {
                        let row = (p + kh - 1 - di) * frame.columns;
                        for dj in 0..kw {
                            let taps = &kernel[((di * kw + dj) * outs + o) * c..][..c];
                            let first = (row + q0 + kw - 1 - dj) * c;
                            let run = &framed[first..first + PIXELS * c];
                            match (S::as_simd_f32s(taps), S::as_simd_f32s(run)) {
                                // whole vectors of channels (16, 32, 64, ...): no tails to look for
                                ((taps, []), (run, [])) => {
                                    // the pixels innermost: independent sums, kept in registers
                                    for (v, &tap) in taps.iter().enumerate() {
                                        for (t, sum) in sums.iter_mut().enumerate() {
                                            *sum = simd.mul_add_e_f32s(run[t * taps.len() + v], tap, *sum);
                                        }
                                    }
                                }
                                _ => {
                                    for (sum, pixel) in sums.iter_mut().zip(run.chunks_exact(c)) {
                                        *sum = dot_add(simd, pixel, taps, *sum);
                                    }
                                }
                            }
                        }
                    }
                    for (t, sum) in sums.iter().enumerate().take(pixels) {
                        y[((p * big_w) + q0 + t) * outs + o] = simd.reduce_sum_f32s(*sum);
                    }
                }
            }
        }
    }
}

/// The values of `values` (at most a vector's worth) as a vector, zeros after them: a plain load when they fill
/// it (pulp's partial loads are calls, for any length).
#[inline(always)]
fn load<S: Simd>(simd: S, values: &[f32]) -> S::f32s {
    match S::as_simd_f32s(values) {
        ([whole], []) => *whole,
        _ => simd.partial_load_f32s(values),
    }
}

/// Stores the first `values.len()` lanes of `vector` to `values` (at most a vector's worth).
#[inline(always)]
fn store<S: Simd>(simd: S, values: &mut [f32], vector: S::f32s) {
    match S::as_mut_simd_f32s(values) {
        ([whole], []) => *whole = vector,
        _ => simd.partial_store_f32s(values, vector),
    }
}

/// `sum + a ⊙ b` over `a` and `b` (of the same length) a vector at a time, the last one partial: lane by lane
/// partial sums, which [`Simd::reduce_sum_f32s`] adds up.
#[inline(always)]
fn dot_add<S: Simd>(simd: S, a: &[f32], b: &[f32], mut sum: S::f32s) -> S::f32s {
    let (a_vectors, a_tail) = S::as_simd_f32s(a);
    let (b_vectors, b_tail) = S::as_simd_f32s(b);
    for (&a, &b) in a_vectors.iter().zip(b_vectors) {
        sum = simd.mul_add_e_f32s(a, b, sum);
    }
    if !a_tail.is_empty() {
        sum = simd.mul_add_e_f32s(simd.partial_load_f32s(a_tail), simd.partial_load_f32s(b_tail), sum);
    }
    sum
}

/// The two products of backward for one image: `dL/dx` into `grad_input` (when given) and `dL/dK` added to
/// `kernel_sum` (Keras' layout `(kh, kw, o, c)`), from `grad_z` = `dL/dz` (`(H, W, o)`) and the image's input `x`,
/// through `scratch` (of [`Sizes::scratch_len`] values).
pub(crate) fn backward_image(
    sizes: &Sizes,
    (kernel, x): (&[f32], &[f32]),
    grad_z: &[f32],
    scratch: &mut [f32],
    (grad_input, kernel_sum): (Option<&mut [f32]>, &mut [f32]),
) {
    let frame = sizes.gradient_frame();
    frame.fill(grad_z, (sizes.output.0, sizes.output.1), scratch);
    pulp::Arch::new().dispatch(Backward {
        sizes,
        frame,
        kernel,
        x,
        framed: scratch,
        grad_input,
        kernel_sum,
    });
}

struct Backward<'a> {
    sizes: &'a Sizes,
    frame: Frame,
    kernel: &'a [f32],
    x: &'a [f32],
    framed: &'a [f32],
    grad_input: Option<&'a mut [f32]>,
    kernel_sum: &'a mut [f32],
}

impl WithSimd for Backward<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Backward {
            sizes,
            frame,
            kernel,
            x,
            framed,
            grad_input,
            kernel_sum,
        } = self;
        let ((kh, kw), (h, w, c), outs) = (sizes.kernel, sizes.input, sizes.output.2);
        let lanes = S::F32_LANES;
        // where tap k = (di, dj, o) of the kernel (its row in Keras' layout) reads the frame, from a pixel's corner
        let taps = kh * kw * outs;
        let offset = |k: usize| ((k / (kw * outs)) * frame.columns + (k / outs) % kw) * outs + k % outs;
        let reach = offset(taps - 1) + 1;
        // dL/dx: for each run of pixels and each vector of channels, the sum over the taps
        if let Some(grad_input) = grad_input {
            for i in 0..h {
                for j0 in (0..w).step_by(PIXELS) {
                    let pixels = PIXELS.min(w - j0);
                    let corner = (i * frame.columns + j0) * outs;
                    let around = &framed[corner..corner + reach + PIXELS * outs];
                    for c0 in (0..c).step_by(lanes) {
                        let width = lanes.min(c - c0);
                        let mut sums = [simd.splat_f32s(0.0); PIXELS];
                        for k in 0..taps {
                            let tap = load(simd, &kernel[k * c + c0..][..width]);
                            let g = &around[offset(k)..][..PIXELS * outs];
                            for (t, sum) in sums.iter_mut().enumerate() {
                                *sum = simd.mul_add_e_f32s(simd.splat_f32s(g[t * outs]), tap, *sum);
                            }
                        }
                        for (t, sum) in sums.iter().enumerate().take(pixels) {
                            let start = (i * w + j0 + t) * c + c0;
                            store(simd, &mut grad_input[start..start + width], *sum);
                        }
                    }
                }
            }
        }
        // dL/dK: for each vector of channels, the sums over the pixels of every tap side by side (up to TAPS of
        // them in registers), each in pixel order
        const TAPS: usize = 9;
        for k0 in (0..taps).step_by(TAPS) {
            let count = TAPS.min(taps - k0);
            let offsets: [usize; TAPS] = std::array::from_fn(|k| offset((k0 + k).min(taps - 1)));
            for c0 in (0..c).step_by(lanes) {
                let width = lanes.min(c - c0);
                let mut sums = [simd.splat_f32s(0.0); TAPS];
                for i in 0..h {
                    for j in 0..w {
                        let x = load(simd, &x[(i * w + j) * c + c0..][..width]);
                        let corner = (i * frame.columns + j) * outs;
                        let around = &framed[corner..corner + reach];
                        // all TAPS sums (a constant count, so that they stay in registers); those past
                        // `count` repeat the last tap and are not stored
                        for (sum, &offset) in sums.iter_mut().zip(&offsets) {
                            *sum = simd.mul_add_e_f32s(simd.splat_f32s(around[offset]), x, *sum);
                        }
                    }
                }
                for (k, sum) in sums.iter().enumerate().take(count) {
                    let target = &mut kernel_sum[(k0 + k) * c + c0..][..width];
                    let total = simd.add_f32s(load(simd, target), *sum);
                    store(simd, target, total);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Activation, ConvTranspose2d, Padding};
    use ndarray::{Array1, Array4};

    /// The transposed convolution by its definition, each input pixel spreading over its window:
    /// `(y, dL/dx, dL/dK)` for one image `x` and `dL/dz` = `g`.
    fn by_definition(sizes: &Sizes, kernel: &[f32], x: &[f32], g: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let ((h, w, c), (big_h, big_w, outs), (kh, kw), (top, left)) =
            (sizes.input, sizes.output, sizes.kernel, sizes.pad);
        let (mut y, mut dx, mut dk) = (
            vec![0.0; big_h * big_w * outs],
            vec![0.0; h * w * c],
            vec![0.0; kernel.len()],
        );
        for (i, j, di, dj) in (0..h)
            .flat_map(|i| (0..w).flat_map(move |j| (0..kh).flat_map(move |di| (0..kw).map(move |dj| (i, j, di, dj)))))
        {
            let (Some(p), Some(q)) = ((i + di).checked_sub(top), (j + dj).checked_sub(left)) else {
                continue;
            };
            if p >= big_h || q >= big_w {
                continue;
            }
            for o in 0..outs {
                for ch in 0..c {
                    let k = ((di * kw + dj) * outs + o) * c + ch;
                    let (xv, gv) = (
                        f64::from(x[(i * w + j) * c + ch]),
                        f64::from(g[(p * big_w + q) * outs + o]),
                    );
                    y[(p * big_w + q) * outs + o] += xv * f64::from(kernel[k]);
                    dx[(i * w + j) * c + ch] += gv * f64::from(kernel[k]);
                    dk[k] += gv * xv;
                }
            }
        }
        (y, dx, dk)
    }

    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (k, (&a, &b)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(a) - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{what} [{k}]: {a} vs {b}"
            );
        }
    }

    #[test]
    fn direct_sums_are_the_definition() {
        let value = |k: usize, seed: usize| ((k * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0;
        for padding in [Padding::Same, Padding::Valid] {
            for (input, kernel, outs) in [
                ((5, 7, 3), (3, 3), 1),
                ((28, 9, 32), (3, 3), 1),
                ((4, 11, 17), (2, 4), 3),
                ((3, 10, 40), (4, 1), 4),
                ((1, 1, 1), (1, 1), 2),
                ((6, 5, 2), (5, 5), 1),
            ] {
                let (kh, kw) = kernel;
                let values = Array4::from_shape_fn((kh, kw, outs, input.2), |(a, b, o, ch)| {
                    value(a * 1000 + b * 100 + o * 10 + ch, 1)
                });
                let layer =
                    ConvTranspose2d::from_parts(values, Array1::zeros(outs), input, 1, padding, Activation::Identity)
                        .unwrap();
                let sizes = layer.direct_sizes().expect("stride 1, at most 4 channels: direct");
                let kernel = layer.kernel_values();
                let x: Vec<f32> = (0..layer.inputs()).map(|k| value(k, 2)).collect();
                let g: Vec<f32> = (0..layer.outputs()).map(|k| value(k, 3)).collect();
                let (want_y, want_dx, want_dk) = by_definition(&sizes, kernel, &x, &g);
                let mut scratch = vec![f32::NAN; sizes.scratch_len()];
                let mut y = vec![f32::NAN; layer.outputs()];
                forward_image(&sizes, kernel, &x, &mut scratch, &mut y);
                let what = format!("{input:?} {kernel:?} to {outs}, {padding}");
                assert_close(&y, &want_y, &format!("y, {what}"));
                let (mut dx, mut dk) = (vec![f32::NAN; x.len()], vec![0.5_f32; kernel.len()]);
                backward_image(&sizes, (kernel, &x), &g, &mut scratch, (Some(&mut dx), &mut dk));
                assert_close(&dx, &want_dx, &format!("dL/dx, {what}"));
                let dk: Vec<f32> = dk.iter().map(|v| v - 0.5).collect(); // added to what was there
                assert_close(&dk, &want_dk, &format!("dL/dK, {what}"));
            }
        }
    }
}
