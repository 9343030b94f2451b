"""The ``keras-resnet`` command line: the parser and the entry point.

Each subcommand lives in its own module under ``keras_resnet.cli.commands`` and
exposes ``register(subparsers)``, which adds its parser and sets ``run`` as
the handler. Heavy imports (TensorFlow, Keras) happen inside the handlers, so
``keras-resnet --help`` answers at once.
"""

import argparse
import importlib
import os
import sys
import warnings

from keras_resnet import _startup
from keras_resnet.cli import errors, quiet
from keras_resnet.cli.errors import UsageError

# Order is the order of ``keras-resnet --help``.
COMMANDS = (
    "prepare", "train", "evaluate", "predict", "export", "summary", "models", "recipes",
    "weights", "bench",
)


# Commands that build models: they import Keras (and its backend) first.
_KERAS_COMMANDS = {"train", "evaluate", "predict", "summary"}
# What reads images through tf.data, which needs TensorFlow on every backend.
_READS_IMAGES = {
    "prepare": "prepare writes shards",
    "train": "train reads images",
    "evaluate": "evaluate reads images",
    "predict": "predict decodes images",
    "export": "export converts through TensorFlow's tools",
    "bench": "bench measures input pipelines",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-resnet",
        description="Build, inspect, load and train ResNets in Keras 3.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the backend's start-up log and full tracebacks",
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
    # Restored on the way out: main() also runs inside other programs (tests).
    formatwarning = warnings.formatwarning
    if not args.debug:
        warnings.formatwarning = _one_line_warning
    try:
        status = _dispatch(args)
        if status:
            _leave_a_failed_cluster(status)
        return status
    except BrokenPipeError:
        # The reader went away (`keras-resnet models | head`): not an error
        # of ours. Python would still complain when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        warnings.formatwarning = formatwarning


def _dispatch(args):
    """Runs the command; errors that are the user's become one line on stderr."""
    try:
        if args.command in _KERAS_COMMANDS or args.command in _READS_IMAGES:
            if args.debug:
                _startup.show_native_log()
            quiet.import_backend_quietly(needs_tensorflow=_READS_IMAGES.get(args.command))
        return args.func(args) or 0
    except _startup.BackendMissing as e:
        # Not a usage error: the command was right, the environment lacks a package.
        print(f"keras-resnet {args.command}: error: {e}", file=sys.stderr)
        return 1
    except UsageError as e:
        print(f"keras-resnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # Failures that are the user's or the network's, not the package's,
        # are one line; anything else keeps its traceback (a bug to report).
        if args.debug or not isinstance(e, errors.expected_errors()):
            raise
        print(f"keras-resnet {args.command}: error: {errors.one_line(e)}", file=sys.stderr)
        return 1


def _leave_a_failed_cluster(status):
    """Exits at once with ``status`` from a multi-process JAX run that failed.

    Python's normal exit would run JAX's shutdown, which waits on a barrier
    that a failed cluster's other processes may never reach, then aborts with
    pages of logs after the one line already said.
    """
    if "jax" not in sys.modules:
        return
    import jax

    if jax.distributed.is_initialized():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _one_line_warning(message, category, filename, lineno, line=None):
    """Warnings as the command line's other messages: one line, no source excerpt."""
    return f"warning: {str(message).splitlines()[0]}\n"


if __name__ == "__main__":
    sys.exit(main())
