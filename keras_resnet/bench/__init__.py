"""keras_resnet beside keras.applications: build time, inference, training, input pipeline.

One run measures every configuration, each in its own Python process (so that
one's memory, caches and compiled programs never help another), on the Keras
backend of the environment (``KERAS_BACKEND``), with the same inputs and batch:

- build time of ResNet-50 and ResNet-152 (``weights=None``);
- inference throughput of ResNet-50 at 224 px, batch 32: keras.applications
  ``predict``, ours with the same call, ours through ``optimize_for_inference``;
- training throughput of ResNet-50 at 128 px, batch 32, ``fit`` on in-memory
  data: keras.applications compiled with Keras's defaults, ours built and
  compiled with the package's training defaults (``keras_resnet.training.precision``);
- the input pipeline (``keras_resnet.bench.pipeline``), on 256 photograph-like
  JPEGs the harness writes itself (ImageNet's sizes: shorter side 333..500 px):
  images per second at 224 px, and per thread, at 1 thread, 2 threads and
  every core, of the floor (whole-file ``decode_jpeg`` and ``resize``), 0.2's
  float32 pipeline (paper augmentation; evaluation), the uint8
  crop-then-decode transforms (paper augmentation, random-resized-crop,
  evaluation) and the paper augmentation read from prepared shards; each
  rate over the floor's per thread, and 2 threads over 1;
- the bytes of a batch of 256 as 0.2 (float32) and now (uint8) ship it;
- ``fit`` of ResNet-50 at 224 px (uint8 in, augmentation on the device)
  reading the JPEGs against reading a uint8 batch already in memory, and the
  share of the step spent waiting for data;
- the exported model (``keras_resnet.bench.export``): ResNet-50 at 224 px,
  batch 1 and 32, Keras ``predict``, the fast path in float32 and bfloat16,
  ONNX Runtime, OpenVINO and LiteRT in float32 and int8, and int8's ratios
  to its runtime's float32 and to the bfloat16 fast path;
- the published recipes' training step (``keras_resnet.bench.recipes``):
  ResNet-50 at 176 and 224 px, batch 32, from JPEG files, with every
  ingredient of ``torchvision-v2`` and ``rsb-a2`` against the plain
  ``torchvision`` recipe, and each one's input pipeline alone;
- the CPU's model, core count and SIMD features; peak memory (``ru_maxrss``)
  of each process; the machine's matrix product speed in float32 and
  bfloat16 for scale.

Warm-up is excluded; each figure is the median of repeated runs (whole
passes over the files for the pipeline, steps for ``fit``). The table
goes to stdout, everything to ``--json PATH`` if asked.

Usage (``python -m keras_resnet.bench`` and ``python benchmarks/bench.py`` are the same):
    keras-resnet bench             # the full run (about 6 minutes on 2 idle cores,
                                   # plus 4.5 for the pipeline group)
    keras-resnet bench --rounds 2  # twice, in alternating order (for a loaded CPU)
    keras-resnet bench --quick     # small sizes, a smoke test (about 3 + 2 minutes)
    keras-resnet bench --json results.json --only inference
    keras-resnet bench --only pipeline  # the input pipeline and fit from files
    keras-resnet bench --only export    # exported ResNet-50 in ONNX Runtime, OpenVINO,
                                        # LiteRT, float32 and int8 (keras_resnet.bench.export)
    keras-resnet bench --only machine recipes  # today's recipes' training step against
                                               # the plain recipe's (about 8 minutes)
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from keras_resnet._files import unwritable
from keras_resnet.bench.report import merge_rounds, print_table, summarize
from keras_resnet.bench.workers import CONFIGS, FULL, GROUPS, QUICK, run_worker

_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def spawn(name, quick):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # The worker imports this very copy of keras_resnet, installed or not.
    env["PYTHONPATH"] = _PACKAGE_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, "-m", "keras_resnet.bench", "--worker", name]
    if quick:
        command.append("--quick")
    start = time.perf_counter()
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in process.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT ") :])
            result["wall_seconds"] = time.perf_counter() - start
            return result
    tail = "\n".join((process.stdout + process.stderr).splitlines()[-15:])
    return {"error": f"exit status {process.returncode}\n{tail}"}


def add_arguments(parser):
    """Adds the harness's options to ``parser`` (its own, or ``keras-resnet bench``'s)."""
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS,
        help="measure only these groups (default: all)",
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=[name for name in CONFIGS if name != "machine"],
        metavar="NAME",
        help="measure only these configurations of the chosen groups (names as in the JSON)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every configuration this many times, in alternating order (default 1)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)


def main(argv=None, *, prog=None):
    """Parses ``argv`` and runs the harness; returns the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv), parser)


def run(args, parser):
    """Runs the harness as ``args`` (from ``add_arguments``) say."""
    if args.worker:
        run_worker(args.worker, args.quick)
        return 0
    # Bad settings are one line each (no usage block), checked before minutes
    # of measuring rather than after.
    problem = None
    if args.rounds < 1:
        problem = f"--rounds must be at least 1. Received: {args.rounds}"
    elif args.json and unwritable(args.json):
        problem = f"--json {args.json}: {unwritable(args.json)}"
    if problem:
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return 2

    sizes = QUICK if args.quick else FULL
    groups = set(args.only or GROUPS) | {"machine"}
    started = time.time()
    names = [
        name for name, config in CONFIGS.items()
        if config[0] in groups and (not args.configs or name in args.configs or name == "machine")
    ]
    rounds = {name: [] for name in names}
    for r in range(args.rounds):
        # Alternate the order (A B C, C B A, ...) so that a drift in the machine's
        # load does not favour whichever configuration runs first.
        for name in names if r % 2 == 0 else names[::-1]:
            if name == "machine" and r > 0:
                continue
            print(f"... {CONFIGS[name][1]} (round {r + 1})", file=sys.stderr, flush=True)
            result = spawn(name, args.quick)
            if "error" in result:
                print(result["error"], file=sys.stderr)
            rounds[name].append(result)
    results = {name: merge_rounds(runs) for name, runs in rounds.items()}
    ratios = summarize(results)
    print_table(results, ratios, sizes)
    if args.json:
        report = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "sizes": sizes,
            "results": results,
            "ratios": ratios,
            "total_seconds": time.time() - started,
        }
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
        os.replace(tmp, args.json)  # No half-written file if interrupted.
    return 1 if any("error" in r for r in results.values()) else 0
