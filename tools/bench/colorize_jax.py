"""Colorization autoencoder in JAX (CPU) + optax: a reference for the Rust crate's colorization workload.

Mirrors the colorization autoencoder of "Advanced Deep Learning with Keras" (section 3.4), trained on 32x32
patches of the seven photos in data/photos/ instead of CIFAR-10:

  * data: each PNG read as float32 RGB in [0, 1] (8-bit / 255), HWC; 32x32 patches at stride 16, top-left
    (y, x) for y in range(0, h-32+1, 16), x in range(0, w-32+1, 16), row-major. Train = every photo except
    --test (comma-separated names, default coffee), concatenated in file-name order; test = the --test photos.
  * input: grey patch 0.299R + 0.587G + 0.114B, (32, 32, 1); target: the RGB patch (32, 32, 3), or with
    --chroma the patch's (Cb, Cr) (JPEG full-range BT.601), with RGB rebuilt from input Y + predicted CbCr.
  * model (Keras layers, NHWC / HWIO, 'same' padding): Conv2D(f, 3, stride 2, relu) for f in --filters;
    flatten (HWC); Dense(--latent); Dense(4*4*F); reshape (4, 4, F); Conv2DTranspose(f, 3, stride 2, relu)
    for f in reversed(--filters); Conv2DTranspose(3 (or 2 with --chroma), 3, stride 1, sigmoid).
    Glorot-uniform kernels (fan_in = kh*kw*in, fan_out = kh*kw*out), zero biases.
  * training: MSE (mean over all elements), Adam (lr 1e-3, b1 0.9, b2 0.999, eps 1e-7 as Keras), batch 32 with
    the last partial batch, shuffled each epoch by numpy RandomState(seed).permutation.
  * metric after each epoch: test PSNR = 10 log10(1 / MSE), MSE over all test values (patches x pixels x 3)
    between predicted and true RGB; the grey baseline (grey copied to R, G, B) is printed once.

Prints the grey baseline and one line per epoch; the last line is one JSON object. median_epoch_s is over epochs 2..N
(epoch 1 includes XLA compilation), as in ../shared/bench/anchors/ae16_common.py.

    $HOME/.venvs/anchors/bin/python tools/bench/colorize_jax.py                    # colour, seed 0
    $HOME/.venvs/anchors/bin/python tools/bench/colorize_jax.py --chroma --seed 1
    $HOME/.venvs/anchors/bin/python tools/bench/colorize_jax.py --filters 64,128,256 --latent 256  # book size
"""
import argparse
import json
import os
import sys
import time

ANCHORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench", "anchors")
sys.path.insert(0, os.path.normpath(ANCHORS))
import ae16_common as C  # noqa: E402

DEFAULT_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data",
                                             "photos"))
P = argparse.ArgumentParser(description="colorization autoencoder in JAX")
P.add_argument("--data", default=DEFAULT_DATA)
P.add_argument("--test", default="coffee", help="test photo name(s) without .png, comma-separated")
P.add_argument("--filters", default="32,64,128")
P.add_argument("--latent", type=int, default=128)
P.add_argument("--chroma", action="store_true", help="predict (Cb, Cr) and rebuild RGB from the input Y")
P.add_argument("--lr", type=float, default=1e-3)
P.add_argument("--eps", type=float, default=1e-7)
P.add_argument("--batch", type=int, default=32)
P.add_argument("--epochs", type=int, default=8)
P.add_argument("--seed", type=int, default=0)
P.add_argument("--threads", type=int, default=2)
args = P.parse_args()
C.set_thread_env(args.threads)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           + ("true" if args.threads > 1 else "false")).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
import optax  # noqa: E402

PATCH, STRIDE = 32, 16
FILTERS = [int(f) for f in args.filters.split(",")]
LATENT = args.latent
OUT_CH = 2 if args.chroma else 3
K, DN = 3, ("NHWC", "HWIO", "NHWC")


def patches(img):
    h, w, _ = img.shape
    return [img[y:y + PATCH, x:x + PATCH] for y in range(0, h - PATCH + 1, STRIDE)
            for x in range(0, w - PATCH + 1, STRIDE)]


def grey(rgb):
    return 0.299 * rgb[..., 0:1] + 0.587 * rgb[..., 1:2] + 0.114 * rgb[..., 2:3]


def cbcr(rgb):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.stack([cb, cr], axis=-1)


def ycbcr_to_rgb(y, cc):
    y, cb, cr = y[..., 0], cc[..., 0] - 0.5, cc[..., 1] - 0.5
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.clip(rgb, 0.0, 1.0)


test_names = set(args.test.split(","))
files = sorted(f for f in os.listdir(args.data) if f.endswith(".png"))
missing = test_names - {f[:-4] for f in files}
if missing:
    sys.exit(f"test photo(s) not in {args.data}: {sorted(missing)}")
tr, te = [], []
for f in files:
    img = np.asarray(Image.open(os.path.join(args.data, f)).convert("RGB"), dtype=np.float32) / np.float32(255.0)
    (te if f[:-4] in test_names else tr).extend(patches(img))
rgb_tr, rgb_te = np.stack(tr).astype(np.float32), np.stack(te).astype(np.float32)
g_tr, g_te = grey(rgb_tr).astype(np.float32), grey(rgb_te).astype(np.float32)
y_tr = (cbcr(rgb_tr) if args.chroma else rgb_tr).astype(np.float32)
n, n_te = rgb_tr.shape[0], rgb_te.shape[0]


def psnr(pred_rgb, true_rgb):
    mse = float(np.mean((pred_rgb.astype(np.float64) - true_rgb.astype(np.float64)) ** 2))
    return 10.0 * np.log10(1.0 / mse)


grey_psnr = psnr(np.repeat(g_te, 3, axis=-1), rgb_te)
print(f"photos {files} test {sorted(test_names)}: {n} train / {n_te} test patches; grey PSNR {grey_psnr:.3f} dB")

xtr, ytr, xte = jax.device_put(g_tr), jax.device_put(y_tr), jax.device_put(g_te)
key = jax.random.PRNGKey(args.seed)


def glorot(key, shape, fan_in, fan_out):
    lim = C.glorot_limit(fan_in, fan_out)
    return jax.random.uniform(key, shape, jnp.float32, -lim, lim)


params, ch = {"enc": [], "dec": []}, 1
for f in FILTERS:
    key, k = jax.random.split(key)
    params["enc"].append((glorot(k, (K, K, ch, f), K * K * ch, K * K * f), jnp.zeros((f,), jnp.float32)))
    ch = f
side = PATCH // 2 ** len(FILTERS)
flat = side * side * ch
key, k1, k2 = jax.random.split(key, 3)
params["enc_dense"] = (glorot(k1, (flat, LATENT), flat, LATENT), jnp.zeros((LATENT,), jnp.float32))
params["dec_dense"] = (glorot(k2, (LATENT, flat), LATENT, flat), jnp.zeros((flat,), jnp.float32))
DECODER = [(f, 2, jax.nn.relu) for f in reversed(FILTERS)] + [(OUT_CH, 1, jax.nn.sigmoid)]
for f, s, a in DECODER:
    key, k = jax.random.split(key)
    params["dec"].append((glorot(k, (K, K, ch, f), K * K * ch, K * K * f), jnp.zeros((f,), jnp.float32)))
    ch = f


def forward(p, x):
    for w, b in p["enc"]:
        x = jax.nn.relu(lax.conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=DN) + b)
    w, b = p["enc_dense"]
    z = x.reshape(x.shape[0], -1) @ w + b
    w, b = p["dec_dense"]
    x = (z @ w + b).reshape(z.shape[0], side, side, -1)
    for (w, b), (f, s, a) in zip(p["dec"], DECODER):
        x = a(lax.conv_transpose(x, w, (s, s), "SAME", dimension_numbers=DN) + b)
    return x


def loss_fn(p, x, y):
    return jnp.mean((forward(p, x) - y) ** 2)


opt = optax.adam(learning_rate=args.lr, b1=0.9, b2=0.999, eps=args.eps)
opt_state = opt.init(params)


@jax.jit
def train_step(p, s, xtr, ytr, idx):
    loss, g = jax.value_and_grad(loss_fn)(p, xtr[idx], ytr[idx])
    upd, s = opt.update(g, s, p)
    return optax.apply_updates(p, upd), s, loss


predict = jax.jit(forward)


def test_psnr(p):
    out = np.concatenate([np.asarray(predict(p, xte[i:i + 256])) for i in range(0, n_te, 256)])
    assert out.shape == (n_te, PATCH, PATCH, OUT_CH), out.shape
    return psnr(ycbcr_to_rgb(g_te, out) if args.chroma else out, rgb_te)


rng = np.random.RandomState(args.seed)
secs, losses_ep, psnrs = [], [], []
for ep in range(args.epochs):
    t0 = time.perf_counter()
    perm = rng.permutation(n).astype(np.int32)
    losses = []
    for i in range(0, n, args.batch):
        params, opt_state, loss = train_step(params, opt_state, xtr, ytr, perm[i:i + args.batch])
        losses.append(loss)
    train_loss = float(jnp.mean(jnp.stack(losses)))  # mean over the epoch's batches; also waits for the step
    secs.append(time.perf_counter() - t0)
    losses_ep.append(train_loss)
    psnrs.append(test_psnr(params))
    print(f"epoch {ep + 1}: train loss {train_loss:.6f} test PSNR {psnrs[-1]:.3f} dB {secs[-1]:.2f}s")

sys.stdout.flush()
print(json.dumps({
    "grey_psnr": round(grey_psnr, 4),
    "colour_psnr": round(psnrs[-1], 4),
    "colour_psnr_last3": round(float(np.mean(psnrs[-3:])), 4),
    "chroma": bool(args.chroma),
    "train_patches": n,
    "test_patches": n_te,
    "epochs": args.epochs,
    "seconds": round(sum(secs), 3),
    "median_epoch_s": round(C.median(secs[1:] if len(secs) > 1 else secs), 3),
    "filters": FILTERS,
    "latent": LATENT,
    "seed": args.seed,
    "epoch_psnr": [round(x, 4) for x in psnrs],
    "train_loss": [round(x, 6) for x in losses_ep],
    "epoch_seconds": [round(x, 3) for x in secs],
    "test": sorted(test_names),
    "batch": args.batch,
    "lr": args.lr,
    "eps": args.eps,
    "threads": args.threads,
    "version": f"jax {jax.__version__} / optax {optax.__version__}",
}), flush=True)
