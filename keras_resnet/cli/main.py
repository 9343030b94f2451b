"""The ``keras-resnet`` command line: the parser and the entry point.

Each subcommand lives in its own module under ``keras_resnet.cli.commands`` and
exposes ``register(subparsers)``, which adds its parser and sets ``run`` as
the handler. Heavy imports (TensorFlow, Keras) happen inside the handlers, so
``keras-resnet --help`` answers at once.
"""

import argparse
import importlib
import sys

from keras_resnet.cli.errors import UsageError

# Order is the order of ``keras-resnet --help``.
COMMANDS = ("train", "evaluate", "predict", "summary", "models", "weights", "bench")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-resnet",
        description="Build, inspect, load and train ResNets in Keras 3.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"keras_resnet.cli.commands.{name}").register(subparsers)
    return parser


def main(argv=None):
    """Entry point of ``keras-resnet``; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except UsageError as e:
        print(f"keras-resnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
