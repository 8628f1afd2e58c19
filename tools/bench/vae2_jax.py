"""VAE-2 (the book's chapter-8 MLP VAE, ../shared/bench/WORKLOAD.md) in JAX (CPU) + optax: the same model, loss,
initialisation, optimizer and batches as ../shared/bench/anchors/vae2_torch.py, for a back-to-back comparison on
machines where PyTorch cannot be installed. Prints one JSON line at the end, as the anchors do.

    $HOME/.venvs/anchors/bin/python tools/bench/vae2_jax.py --data /usr/share/datasets/fashion-mnist --epochs 5
"""
import os
import sys

ANCHORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "bench", "anchors")
sys.path.insert(0, os.path.normpath(ANCHORS))
import ae16_common as C  # noqa: E402


def extra(p):
    p.add_argument("--latent", type=int, default=2)
    p.add_argument("--hidden", type=int, default=512)
    C.add_limit(p)


args = C.parse_args("VAE-2 in JAX", extra)
args.batch = args.batch if "--batch" in sys.argv else 128
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                           + ("true" if args.threads > 1 else "false")).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

xtr_np, xte_np = C.load_data(args.data)
xtr_np = C.limit(xtr_np, args.limit)
xtr, xte = jax.device_put(xtr_np), jax.device_put(xte_np)
L, H = args.latent, args.hidden
key = jax.random.PRNGKey(args.seed)


def glorot(key, fan_in, fan_out):
    lim = C.glorot_limit(fan_in, fan_out)
    return jax.random.uniform(key, (fan_in, fan_out), jnp.float32, -lim, lim)


keys = jax.random.split(key, 5)
params = {
    "enc": [(glorot(keys[0], 784, H), jnp.zeros((H,))), (glorot(keys[1], H, 2 * L), jnp.zeros((2 * L,)))],
    "dec": [(glorot(keys[2], L, H), jnp.zeros((H,))), (glorot(keys[3], H, 784), jnp.zeros((784,)))],
}
noise_key = keys[4]


def losses(p, x, eps):
    (w1, b1), (w2, b2) = p["enc"]
    h = jax.nn.relu(x @ w1 + b1) @ w2 + b2
    mu, lv = h[:, :L], h[:, L:]
    z = mu + jnp.exp(0.5 * lv) * eps
    (w3, b3), (w4, b4) = p["dec"]
    y = jnp.clip(jax.nn.sigmoid(jax.nn.relu(z @ w3 + b3) @ w4 + b4), 1e-7, 1 - 1e-7)
    rec = -jnp.sum(x * jnp.log(y) + (1 - x) * jnp.log(1 - y), axis=1)
    kl = -0.5 * jnp.sum(1 + lv - mu ** 2 - jnp.exp(lv), axis=1)
    return jnp.mean(rec + kl), (jnp.mean(rec), jnp.mean(kl))


opt = optax.adam(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8)
opt_state = opt.init(params)


@jax.jit
def train_step(p, s, xtr, idx, key):
    x = xtr[idx]
    eps = jax.random.normal(key, (x.shape[0], L))
    (loss, _), g = jax.value_and_grad(losses, has_aux=True)(p, x, eps)
    upd, s = opt.update(g, s, p)
    return optax.apply_updates(p, upd), s, loss


@jax.jit
def test_losses(p, x):
    total, (rec, kl) = losses(p, x, jnp.zeros((x.shape[0], L)))  # z = the mean
    return total, rec, kl


rng = np.random.default_rng(args.seed)
n = xtr_np.shape[0]
meter = C.CpuMeter()
epochs = []
for ep in range(args.epochs):
    meter.start()
    perm = rng.permutation(n).astype(np.int32)
    batch_losses = []
    for i in range(0, n, args.batch):
        idx = perm[i:i + args.batch]
        noise_key, k = jax.random.split(noise_key)
        params, opt_state, loss = train_step(params, opt_state, xtr, idx, k)
        batch_losses.append(loss * idx.shape[0])
    tot = float(jnp.sum(jnp.stack(batch_losses)))
    r = meter.stop()
    r["train_loss"] = tot / n
    epochs.append(r)
    C.log(f"jax vae epoch {ep + 1}: {r['wall']:.3f}s loss {r['train_loss']:.3f} other_cpu {r['other_frac']:.2f}")
test_loss, test_rec, test_kl = (float(v) for v in test_losses(params, xte))
C.report("jax", f"jax {jax.__version__} / optax {optax.__version__}", args, epochs, test_loss, {
    "workload": "VAE-2", "test_loss_z_mean": test_loss, "test_reconstruction": test_rec, "test_kl": test_kl,
    "train_images": n, "note": "test_mse field holds the deterministic test loss (BCE sum + KL, z = mean)"})
