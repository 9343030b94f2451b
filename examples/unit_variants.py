"""The five residual units of He et al. 2016 ("Identity Mappings"), side by side on small data.

Trains one CIFAR network (ResNet-20 by default) with each unit of the
paper's Figure 4, (a) original, (b) BN after addition, (c) ReLU before
addition, (d) ReLU-only pre-activation, (e) full pre-activation, with one
recipe and one budget, over a few seeds (the seed draws the initial weights
and the batch order; the train/test split stays fixed), and prints a table:
test error (mean +- standard deviation over the seeds, and the range), final
training error, the time each training run took, and the whole run's time.
The paper's CIFAR-10 errors (Table 2) are printed beside them for
reference; on another data set and a far shorter schedule they need not
come out in the same order, and differences smaller than the spread over
seeds say nothing either way.

Usage:
    python examples/unit_variants.py                    # digits, 8 px, 6 epochs, 3 seeds
    python examples/unit_variants.py --depth 56 --epochs 15 --seeds 5
    python examples/unit_variants.py --data path/to/images --size 32
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import paper_data

UNITS = (
    "original",
    "bn_after_addition",
    "relu_before_addition",
    "relu_only_preactivation",
    "full_preactivation",
)

# He et al. 2016, Table 2: CIFAR-10 test error (%) of each unit.
PAPER_ERROR = {
    "original": (6.61, 5.93),
    "bn_after_addition": (8.17, 6.50),
    "relu_before_addition": (7.84, 6.14),
    "relu_only_preactivation": (6.71, 5.91),
    "full_preactivation": (6.37, 5.46),
}
FIGURE = dict(zip(UNITS, "abcde"))


def train(name, unit, train_data, test_data, *, epochs, batch_size, learning_rate, seed,
          bn_momentum):
    import keras

    import keras_resnet

    keras.utils.set_random_seed(seed)
    x, y = train_data
    model = keras_resnet.build(name, unit=unit, input_shape=x.shape[1:], classes=int(y.max()) + 1)
    # Keras's BN momentum of 0.99 averages the moving statistics over ~100
    # steps, which lag the weights in a run of a few hundred steps: the test
    # error would measure that lag, not the unit (cifar.small_resnet does
    # the same for the demo).
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    # The paper's recipe, scaled down (as examples/degradation.py): SGD with
    # momentum 0.9, weight decay 1e-4, the rate divided by 10 for the last quarter.
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
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    _, test_accuracy = model.evaluate(*test_data, batch_size=256, verbose=0)
    return {
        "seed": seed,
        "test_error": 1 - float(test_accuracy),
        "train_error": 1 - float(history.history["accuracy"][-1]),
        "seconds": seconds,
        "params": model.count_params(),
    }


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def table(results, *, name, source, seeds, epochs, total_seconds):
    import keras

    lines = [
        (
            f"{name} with each residual unit of He et al. 2016, Figure 4, on {source}: "
            f"{epochs} epochs, seeds {', '.join(map(str, seeds))}"
        ),
        (
            f"Keras {keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} CPU "
            f"cores ({cpu_name()}); s/run: one fit, graph compilation included"
        ),
        "Paper: CIFAR-10 test error (%), Table 2 of He et al. 2016, for reference only.",
        "",
        (
            f"{'unit':25s} {'fig':>3s} {'params':>8s}  {'test error % (mean +- sd)':>25s} "
            f"{'[min, max]':>13s}  {'train err %':>11s}  {'s/run':>6s}  "
            f"{'paper R-110':>11s} {'R-164':>6s}"
        ),
    ]
    for unit, runs in results.items():
        test = 100 * np.array([r["test_error"] for r in runs])
        train_error = 100 * np.array([r["train_error"] for r in runs])
        seconds = np.array([r["seconds"] for r in runs])
        sd = test.std(ddof=1) if len(test) > 1 else float("nan")
        r110, r164 = PAPER_ERROR[unit]
        lines.append(
            f"{unit:25s} {FIGURE[unit]:>3s} {runs[0]['params']:8,d}  "
            f"{test.mean():17.2f} +- {sd:4.2f} [{test.min():5.2f}, {test.max():5.2f}]  "
            f"{train_error.mean():11.2f}  {seconds.mean():6.1f}  {r110:11.2f} {r164:6.2f}"
        )
    means = {u: np.mean([r["test_error"] for r in runs]) for u, runs in results.items()}
    sds = [np.std([r["test_error"] for r in runs], ddof=1) for runs in results.values()
           if len(runs) > 1]
    order = sorted(means, key=means.get)
    paper_order = sorted(means, key=lambda u: PAPER_ERROR[u][0])
    lines += [
        "",
        (
            f"order here (best first): {', '.join(FIGURE[u] for u in order)}; "
            f"paper's ResNet-110: {', '.join(FIGURE[u] for u in paper_order)}"
        ),
    ]
    if sds:
        gap = 100 * (max(means.values()) - min(means.values()))
        sd = 100 * float(np.median(sds))
        lines.append(f"best-to-worst gap {gap:.2f} points; median seed-to-seed sd {sd:.2f} points")
        if gap < 2 * sd:
            lines.append(
                "the units are within the seed-to-seed spread of one another: this run neither "
                "reproduces nor contradicts the paper's ranking"
            )
    lines.append(f"total run time {total_seconds:.0f} s")
    return "\n".join(lines)


def main():
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="image folder, one subfolder per class (default: digits)")
    parser.add_argument("--size", type=int, default=8, help="image side in pixels (default 8)")
    parser.add_argument("--depth", type=int, default=20, help="6n + 2 (default 20)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=3, help="runs per unit (seeds 0, 1, ...)")
    parser.add_argument("--bn-momentum", type=float, default=0.9)
    parser.add_argument("--units", nargs="+", default=list(UNITS), choices=UNITS)
    parser.add_argument("--out", default="unit_variants.json", help="JSON of every run")
    args = parser.parse_args()
    if args.epochs < 1 or args.seeds < 1:
        parser.error(f"--epochs and --seeds must be at least 1. Received: {args.epochs}, "
                     f"{args.seeds}")

    if args.data:
        train_data, test_data, classes = paper_data.image_folder(args.data, size=args.size)
        source = f"{args.data} ({len(classes)} classes, {args.size} px)"
    else:
        train_data, test_data, classes = paper_data.digits(size=args.size)
        source = f"sklearn digits ({args.size} px)"
    source += f", {len(train_data[0])} train / {len(test_data[0])} test images"
    name = f"resnet{args.depth}"
    seeds = list(range(args.seeds))
    print(f"{source}; {name}, {args.epochs} epochs, seeds {seeds}", flush=True)

    results = {}
    for seed in seeds:  # seeds outermost: a cut-short run still compares every unit
        for unit in args.units:
            run = train(name, unit, train_data, test_data, epochs=args.epochs,
                        batch_size=args.batch_size, learning_rate=args.learning_rate, seed=seed,
                        bn_momentum=args.bn_momentum)
            results.setdefault(unit, []).append(run)
            print(f"  seed {seed} {unit:25s} test error {100 * run['test_error']:5.2f}%  "
                  f"train error {100 * run['train_error']:5.2f}%  {run['seconds']:5.1f} s",
                  flush=True)

    total = time.perf_counter() - started
    print()
    print(table(results, name=name, source=source, seeds=seeds, epochs=args.epochs,
                total_seconds=total))
    Path(args.out).write_text(json.dumps(
        {"model": name, "source": source, "epochs": args.epochs, "runs": results,
         "total_seconds": total}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
