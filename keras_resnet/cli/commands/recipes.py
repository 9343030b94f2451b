"""``keras-resnet recipes``: the training recipes, each setting as its publisher states it.

``keras-resnet recipes`` lists them (name, epochs, global batch, optimiser,
learning rate, source); ``keras-resnet recipes show NAME`` prints one setting
a line, ``--json`` one JSON object (``Recipe.settings``: ``lr`` for the
recipe's own batch size, null where a recipe has no such setting). Reading
recipes imports neither Keras nor a backend.
"""

import json

from keras_resnet.cli.errors import UsageError

HEADER = ("recipe", "epochs", "batch", "optimizer", "lr", "source")


def register(subparsers):
    parser = subparsers.add_parser(
        "recipes",
        help="list the training recipes, or show one (--json)",
        description="Lists the training recipes `keras-resnet train --recipe NAME` takes, "
        "or shows every setting of one as its publisher states it.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="every setting of one recipe")
    show.add_argument("name", metavar="NAME", help="a recipe from `keras-resnet recipes`")
    show.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet.training import recipes

    if getattr(args, "action", None) != "show":
        rows = [HEADER] + [
            (r.name, str(r.epochs), str(r.batch_size), r.optimizer, f"{r.learning_rate():g}",
             r.source or "")
            for r in recipes.RECIPES.values()
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
        return 0
    if args.name not in recipes.RECIPES:
        raise UsageError(
            f"unknown recipe {args.name!r}; known: {', '.join(recipes.RECIPES)}"
        )
    settings = recipes.RECIPES[args.name].settings()
    if args.json:
        print(json.dumps(settings, indent=1))
    else:
        width = max(len(key) for key in settings)
        for key, value in settings.items():
            print(f"{key.ljust(width)}  {'-' if value is None else value}")
    return 0
