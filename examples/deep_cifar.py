"""Builds the deepest networks of the papers and takes one training step with each.

ResNet-1202 (He et al. 2015), PreAct ResNet-164 and ResNet-1001 (He et al.
2016), on a batch of random 32x32 images: prints the build time, the time of
one SGD step, the parameter count and the process's peak resident memory.
The step runs eagerly by default: compiling a graph of thousands of layers
into one function costs minutes on a CPU (PreAct ResNet-164's first compiled
step took 136 s on a 2-core Intel Xeon @ 2.50 GHz loaded by other processes,
TensorFlow 2.21, Keras 3.15.1, 2026-11-22); ``--compiled`` measures that
instead. Each network runs in its own process so that the peak memory is its own.

Usage:
    python examples/deep_cifar.py                       # all three
    python examples/deep_cifar.py --model preactresnet164 --batch-size 8
"""

import argparse
import os
import resource
import subprocess
import sys
import time

MODELS = ("preactresnet164", "resnet1202", "preactresnet1001")


def measure(name, batch_size, compiled):
    import keras
    import numpy as np

    import keras_resnet

    start = time.perf_counter()
    model = keras_resnet.build(name)
    build_s = time.perf_counter() - start
    model.compile(
        keras.optimizers.SGD(0.1, momentum=0.9),
        "sparse_categorical_crossentropy",
        run_eagerly=not compiled,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=batch_size)
    start = time.perf_counter()
    with keras_resnet.cifar.deep_graph_recursion():
        loss = model.train_on_batch(x, y)
    step_s = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{name:18s} params {model.count_params() / 1e6:6.2f}M  build {build_s:6.1f} s  "
        f"{'compiled' if compiled else 'eager'} train step (batch {batch_size}) "
        f"{step_s:6.1f} s  loss {float(loss):.3f}  "
        f"peak RSS {peak_mib:,.0f} MiB",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, help="one network (default: all)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--compiled", action="store_true", help="time the first compiled step")
    args = parser.parse_args()
    if args.model:
        measure(args.model, args.batch_size, args.compiled)
        return
    for name in MODELS:
        subprocess.run(
            [sys.executable, __file__, "--model", name, "--batch-size", str(args.batch_size)]
            + ["--compiled"] * args.compiled,
            check=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")},
        )


if __name__ == "__main__":
    main()
