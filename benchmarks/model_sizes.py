"""Rebuilds the table that ``keras-resnet models`` prints: keras_resnet/model_sizes.json.

Every name of the catalogue (``catalog.list_models(None, include_plain=True)``)
is built with random weights at its family's default input size (224 for
ImageNet, 32 for CIFAR and the demo), with its classifier (1000 classes for
ImageNet, 10 otherwise), and measured: ``model.count_params()`` (Keras's
convention: BatchNorm statistics included) and
``keras_resnet.analysis.complexity.multiply_adds`` (convolutions and dense
layers, one image). tests/test_models_command.py checks every row against a
freshly built model, so a change to an architecture that forgets to rerun
this script fails there.

Usage (from the repository root; about 2 minutes on two CPU cores):

    python benchmarks/model_sizes.py            # rewrite the table
    python benchmarks/model_sizes.py --check    # compare only; exit 1 on a difference
    python benchmarks/model_sizes.py resnet50   # measure some models, print their rows
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
TABLE = os.path.join(ROOT, "keras_resnet", "model_sizes.json")

COMMENT = (
    "Written by benchmarks/model_sizes.py; checked by tests/test_models_command.py. "
    "parameters: model.count_params() with the classifier (BatchNorm statistics included); "
    "multiply_adds: convolutions and dense layers for one image of input_size x input_size."
)
COLUMNS = ("model", "family", "depth", "parameters", "multiply_adds", "input_size")


def measure(name):
    """Builds catalogue model ``name`` at its family's size and returns its row."""
    import keras

    from keras_resnet import catalog
    from keras_resnet.analysis import complexity
    from keras_resnet.architectures.common import image_shape

    entry = catalog.get(name)
    model = catalog.build(name, weights=None, input_shape=image_shape(entry.default_size))
    row = {
        "model": entry.name,
        "family": entry.family,
        "depth": entry.depth,
        "parameters": int(model.count_params()),
        "multiply_adds": complexity.multiply_adds(model),
        "input_size": entry.default_size,
    }
    keras.backend.clear_session()
    return row


def dumps(rows):
    """The table's text: one row a line, so that a change shows as a one-line diff."""
    lines = [json.dumps(row) for row in rows]
    return (
        "{\n"
        f'  "comment": {json.dumps(COMMENT)},\n'
        f'  "columns": {json.dumps(list(COLUMNS))},\n'
        '  "models": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="MODEL", help="measure only these; print")
    parser.add_argument(
        "--check", action="store_true", help="compare with the table, write nothing"
    )
    args = parser.parse_args(argv)

    from keras_resnet import catalog

    names = args.names or catalog.list_models(None, include_plain=True)
    rows = []
    for name in names:
        rows.append(measure(name))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if args.names:
        return 0
    text = dumps(rows)
    if args.check:
        with open(TABLE) as f:
            same = f.read() == text
        print("the table is up to date" if same else f"{TABLE} differs: rerun without --check")
        return 0 if same else 1
    with open(TABLE, "w") as f:
        f.write(text)
    print(f"wrote {len(rows)} rows to {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
