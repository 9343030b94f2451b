"""Residual networks as ensembles of shallow paths (Veit et al. 2016) on small data.

Trains a CIFAR ResNet and the plain net of the same depth with one recipe
(that of examples/lesion.py), then, at test time and without retraining:

* deletes k random blocks, k = 0 ... n, several draws each: the ResNet's
  error rises smoothly with k, the plain net's jumps at the first deletion
  (Figure 5a of the paper);
* swaps k random pairs of blocks of equal shape (Figure 5b);
* counts the paths of each length (binomial) and measures the gradient
  that single paths of each length bring to the first block's input, and
  the total over all paths of each length (Figure 6).

The defaults ran in 139 s of CPU time (5.2 min wall on a busy machine) on
2 cores of an AMD EPYC (AVX2/FMA/F16C, no AVX-512), TensorFlow 2.21 and
Keras 3.15.1, 2026-11-23; they wrote docs/ensemble-*.png.

Usage:
    python examples/ensemble.py --out-dir docs         # ResNet-20 vs plain-20, digits
    python examples/ensemble.py --depth 56 --epochs 10
"""

import argparse
import os
import time

import numpy as np
import paper_data
from lesion import train


def table(title, curves):
    print(title)
    ks = sorted({k for curve in curves for k in curve.ks})
    print("   k  " + "  ".join(f"{curve.model_name:>17s}" for curve in curves))
    for k in ks:
        cells = []
        for curve in curves:
            if k in curve.errors:
                errors = curve.errors[k]
                cells.append(f"{np.mean(errors):6.3f} +- {np.std(errors):5.3f} ({len(errors):2d})")
            else:
                cells.append(" " * 17)
        print(f"  {k:2d}  " + "  ".join(f"{c:>17s}" for c in cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--depth", type=int, default=20, help="6n + 2 (default 20)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--draws", type=int, default=10, help="random draws per k")
    parser.add_argument("--eval-batch", type=int, default=512, help="prediction batch size")
    parser.add_argument("--gradient-batch", type=int, default=128, help="training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=".")
    args = parser.parse_args()

    import keras

    from keras_resnet import analysis

    start = time.perf_counter()
    train_data, test_data, _ = paper_data.digits(size=args.size)
    models = {}
    for name in (f"resnet{args.depth}", f"plain{args.depth}"):
        models[name] = train(
            name, train_data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed
        )
    resnet = models[f"resnet{args.depth}"]
    print(
        f"trained both in {time.perf_counter() - start:.0f} s "
        f"({args.epochs} epochs, {len(train_data[0])} images of {args.size} px, "
        f"{len(test_data[0])} test images)\n",
        flush=True,
    )

    lap = time.perf_counter()
    deletion = [
        analysis.deletion_curve(
            m, test_data, draws=args.draws, seed=args.seed, batch_size=args.eval_batch
        )
        for m in models.values()
    ]
    table("Test error with k blocks deleted (mean +- std over draws, (draws)):", deletion)
    print(f"  ({time.perf_counter() - lap:.0f} s)\n", flush=True)

    lap = time.perf_counter()
    reorder = [
        analysis.reorder_curve(
            m, test_data, draws=args.draws, seed=args.seed, batch_size=args.eval_batch
        )
        for m in models.values()
    ]
    table("Test error with k random pairs of blocks of equal shape swapped:", reorder)
    print(f"  ({time.perf_counter() - lap:.0f} s)\n", flush=True)

    lap = time.perf_counter()
    x, y = train_data
    batch = np.random.default_rng(args.seed).choice(len(x), args.gradient_batch, replace=False)
    gradients = analysis.gradient_by_path_length(
        resnet, (x[batch], y[batch]), samples=args.draws, seed=args.seed
    )
    counts = analysis.path_length_counts(resnet)
    effective = gradients.effective()
    print(
        f"{resnet.name}: {len(counts) - 1} residual blocks, {sum(counts)} paths; gradient at "
        f"the first block's input ({args.gradient_batch} training images, "
        f"mean per-example norm):"
    )
    print("  length  paths  |grad| of one path   total |grad|  share")
    for k, mean in zip(gradients.ks, gradients.mean()):
        print(
            f"  {k:6d}  {counts[k]:5d}  {mean:18.3e}  {effective[k]:13.3e}  "
            f"{effective[k] / effective.sum():5.3f}"
        )
    share = effective / effective.sum()
    mean_length = float(np.sum(share * np.array(gradients.ks)))
    print(
        f"  paths of {mean_length:.1f} blocks on average carry the gradient; the "
        f"average path has {np.sum(np.arange(len(counts)) * counts) / sum(counts):.1f}"
    )
    print(f"  ({time.perf_counter() - lap:.0f} s)\n", flush=True)

    os.makedirs(args.out_dir, exist_ok=True)
    outputs = [
        os.path.join(args.out_dir, f"ensemble-{part}.png")
        for part in ("deletion", "reorder", "paths")
    ]
    analysis.plot_error_curves(
        deletion,
        outputs[0],
        title=f"Deleting k random blocks at test time (digits, {args.size} px)",
    )
    analysis.plot_error_curves(
        reorder, outputs[1], title=f"Swapping k random pairs of blocks (digits, {args.size} px)"
    )
    analysis.plot_paths(gradients, outputs[2])
    print("wrote " + ", ".join(outputs))
    print(
        f"total {time.perf_counter() - start:.0f} s ({time.process_time():.0f} s of CPU) "
        f"on {keras.backend.backend()}"
    )


if __name__ == "__main__":
    main()
