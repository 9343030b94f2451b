"""``keras-resnet bench``: runs benchmarks/bench.py (ours beside keras.applications)."""

import os


def _script():
    """benchmarks/bench.py of the source checkout this package runs from, or None."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(root, "benchmarks", "bench.py")
    return path if os.path.exists(path) else None


def register(subparsers):
    parser = subparsers.add_parser(
        "bench",
        help="speed beside keras.applications: build, inference, training, input pipeline",
        description="Runs benchmarks/bench.py: every configuration in its own process, "
        "medians of repeated runs, ratios over keras.applications.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write the measurements as JSON")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("machine", "build", "inference", "training", "pipeline"),
        help="measure only these groups",
    )
    parser.set_defaults(func=run)


def run(args):
    import runpy

    from keras_resnet.cli import UsageError

    script = _script()
    if script is None:
        raise UsageError(
            "benchmarks/bench.py is not installed with the package; run it from a "
            "source checkout (python benchmarks/bench.py)"
        )
    argv = []
    if args.quick:
        argv.append("--quick")
    if args.json:
        argv += ["--json", args.json]
    if args.only:
        argv += ["--only", *args.only]
    bench = runpy.run_path(script)
    return bench["main"](argv)
