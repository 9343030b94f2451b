"""The degradation experiment (He et al. 2015, Figures 1 and 6) on small data.

Trains plain-20, plain-56, ResNet-20 and ResNet-56 (the CIFAR networks, option
A shortcuts) with one recipe and plots their training error (solid) and test
error (dashed) against epochs in one PNG. In the paper, on CIFAR-10, the
deeper plain net has the higher training error while the deeper ResNet has
the lower one.

Usage:
    python examples/degradation.py                     # sklearn digits, 8 px
    python examples/degradation.py --epochs 20 --size 16
    python examples/degradation.py --data path/to/images --size 32
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import paper_data

NETWORKS = ("plain20", "plain56", "resnet20", "resnet56")


def train(name, train_data, test_data, *, epochs, batch_size, learning_rate, seed):
    # keras_resnet before keras: it keeps TensorFlow's native start-up lines out.
    import keras_resnet  # isort: skip

    import keras

    keras.utils.set_random_seed(seed)
    x, y = train_data
    model = keras_resnet.build(name, input_shape=x.shape[1:], classes=int(y.max()) + 1)
    # The paper's recipe, scaled down: SGD with momentum 0.9, weight decay
    # 1e-4, the learning rate divided by 10 for the last quarter.
    steps = epochs * int(np.ceil(len(x) / batch_size))
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
        [int(steps * 0.75)], [learning_rate, learning_rate / 10]
    )
    model.compile(
        keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=1e-4),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=test_data,
        verbose=0,
    )
    seconds = time.perf_counter() - start
    train_error = [1 - a for a in history.history["accuracy"]]
    test_error = [1 - a for a in history.history["val_accuracy"]]
    return {"train_error": train_error, "test_error": test_error, "seconds": seconds}


def plot(results, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"plain20": "tab:orange", "plain56": "tab:red", "resnet20": "tab:cyan",
              "resnet56": "tab:blue"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, family in zip(axes, ("plain", "resnet")):
        for name, result in results.items():
            if not name.startswith(family):
                continue
            epochs = np.arange(1, len(result["train_error"]) + 1)
            ax.plot(epochs, 100 * np.array(result["train_error"]), color=colors[name],
                    label=f"{name} train")
            ax.plot(epochs, 100 * np.array(result["test_error"]), color=colors[name],
                    linestyle="--", label=f"{name} test")
        ax.set_xlabel("epoch")
        ax.set_title(family)
        ax.legend()
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("error (%)")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = Path(str(path) + ".part")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, path)  # never leave a half-written figure behind
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="image folder, one subfolder per class (default: digits)")
    parser.add_argument("--size", type=int, default=8, help="image side in pixels (default 8)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--out", default="degradation.png", help="PNG to write")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1. Received: {args.epochs}")

    if args.data:
        train_data, test_data, classes = paper_data.image_folder(args.data, size=args.size)
        source = f"{args.data} ({len(classes)} classes)"
    else:
        train_data, test_data, classes = paper_data.digits(size=args.size)
        source = "sklearn digits"
    print(f"{source}: {len(train_data[0])} train, {len(test_data[0])} test, "
          f"{args.size}x{args.size} px, {args.epochs} epochs", flush=True)

    results = {}
    for name in args.networks:
        results[name] = train(
            name,
            train_data,
            test_data,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
        )
        r = results[name]
        print(f"{name:9s} final train error {100 * r['train_error'][-1]:5.1f}%  "
              f"test error {100 * r['test_error'][-1]:5.1f}%  "
              f"(train error by epoch: {' '.join(f'{100 * e:.1f}' for e in r['train_error'])})"
              f"  {r['seconds']:.0f} s", flush=True)

    plot(results, args.out, f"Degradation on {source}, {args.size} px, same recipe")
    Path(args.out).with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
