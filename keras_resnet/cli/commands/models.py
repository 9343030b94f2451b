"""``keras-resnet models``: every catalogued model with its depth, size and cost.

The numbers come from a table shipped with the package,
``keras_resnet/model_sizes.json``: one row per model with its family, depth,
parameters (``model.count_params()`` with the classifier, BatchNorm
statistics included), multiply-adds for one image (convolutions and dense
layers, ``keras_resnet.analysis.complexity``) and the input size they were
counted at (224 for ImageNet, 32 for CIFAR and the demo).
``benchmarks/model_sizes.py`` writes the table from the built models and
tests/test_models_command.py checks every row against them. Reading it
imports neither Keras nor a backend, so the command answers at once and
runs where no backend is installed; building the 50 models took 1.5 minutes.

The table is JSON rather than a Python module: the regeneration script
writes it as data (one row a line, so a change is a one-line diff), and the
package's ``*.json`` data files are shipped already. It sits at the top of
the package, not in ``keras_resnet/architectures/``, because importing that
package imports Keras.

``--image-size N`` counts multiply-adds at another resolution: it builds
every listed model (random weights), which needs a backend and takes
seconds per ImageNet model.
"""

import json
import os

import keras_resnet

#: The shipped table (see benchmarks/model_sizes.py).
TABLE = os.path.join(os.path.dirname(os.path.abspath(keras_resnet.__file__)), "model_sizes.json")

HEADER = ("model", "family", "depth", "parameters", "multiply-adds", "input")


def register(subparsers):
    parser = subparsers.add_parser(
        "models",
        help="list the models: family, depth, parameters, multiply-adds",
        description="Lists every catalogued model with its family, depth, parameters "
        "(with the classifier, BatchNorm statistics included) and multiply-adds for one "
        "image at the family's input size (224 ImageNet, 32 CIFAR and the demo), read "
        "from a table shipped with the package. Any listed name works as --model, "
        "in `keras-resnet summary` and in keras_resnet.build; plainN also builds for "
        "any CIFAR depth N = 6n + 2.",
    )
    parser.add_argument(
        "--family",
        default="all",
        metavar="NAME",
        help="all (the default), imagenet, cifar or demo",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="N",
        help="count multiply-adds at N x N pixels instead: builds each listed model "
        "(needs a backend; seconds per ImageNet model)",
    )
    parser.set_defaults(func=run)


def read_table(path=TABLE):
    """The shipped table's rows, in catalogue order: a list of dicts.

    Keys: ``model``, ``family``, ``depth``, ``parameters``, ``multiply_adds``,
    ``input_size``.
    """
    with open(path) as f:
        return json.load(f)["models"]


def families(rows):
    """The families in table order: ``("imagenet", "cifar", "demo")``."""
    return tuple(dict.fromkeys(row["family"] for row in rows))


def run(args):
    from keras_resnet.cli.errors import UsageError

    rows = read_table()
    known = ("all", *families(rows))
    if args.family not in known:
        raise UsageError(
            f"--family should be one of {', '.join(known)}. Received: {args.family!r}"
        )
    if args.image_size is not None and args.image_size < 32:
        raise UsageError(f"--image-size must be at least 32. Received: {args.image_size}")
    if args.family != "all":
        rows = [row for row in rows if row["family"] == args.family]
    if args.image_size is not None:
        rows = _measure(rows, args.image_size)
    print(format_table(rows))
    return 0


def _measure(rows, size):
    """The rows counted again on models built at ``size`` (the slow path)."""
    from keras_resnet.cli import quiet

    quiet.import_backend_quietly()
    import keras

    from keras_resnet import catalog
    from keras_resnet.analysis import complexity
    from keras_resnet.architectures.common import image_shape

    measured = []
    for row in rows:
        model = catalog.build(row["model"], weights=None, input_shape=image_shape(size))
        measured.append(
            dict(
                row,
                parameters=int(model.count_params()),
                multiply_adds=complexity.multiply_adds(model),
                input_size=size,
            )
        )
        keras.backend.clear_session()
    return measured


def format_multiply_adds(count):
    """``4.09G`` from a billion up, ``40.6M`` below: three significant digits or more."""
    if count >= 1e9:
        return f"{count / 1e9:.2f}G"
    return f"{count / 1e6:.1f}M"


def format_table(rows):
    """The rows as text: a header, then one aligned line per model.

    Names and families are left-aligned, numbers right-aligned, columns
    two spaces apart.
    """
    cells = [HEADER] + [
        (
            row["model"],
            row["family"],
            str(row["depth"]),
            f"{row['parameters']:,}",
            format_multiply_adds(row["multiply_adds"]),
            str(row["input_size"]),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = []
    for line in cells:
        left = [cell.ljust(width) for cell, width in zip(line[:2], widths[:2])]
        right = [cell.rjust(width) for cell, width in zip(line[2:], widths[2:])]
        lines.append("  ".join(left + right))
    return "\n".join(lines)
