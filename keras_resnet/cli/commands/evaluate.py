"""``keras-resnet evaluate``: accuracy of a run or a weights file; optional 10-crop testing."""

import os


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="top-1/top-5 accuracy of a run's weights, or of a weights file, on an image folder",
        description="Evaluates a run directory made by `keras-resnet train`, or a weights file "
        "of any format (--model NAME --weights FILE --data DIR). Without --data a run is "
        "evaluated on the data its run.json names: the split it was validated on (a digits "
        "run: its held-out test split).",
    )
    parser.add_argument("--run-dir", default=None, help="run directory of `keras-resnet train`")
    parser.add_argument(
        "--model", default=None,
        help="without --run-dir: a name from `keras-resnet models`, for --weights FILE",
    )
    parser.add_argument(
        "--data", default=None,
        help="image folder, one sub-folder per class, or a folder written by `keras-resnet "
        "prepare` (its --split); default: the run's data, its validation split",
    )
    parser.add_argument(
        "--split", default=None,
        help="with prepared data: the split to evaluate (default: the one the run was "
        "validated on: val, or without one the shards that training held out)",
    )
    parser.add_argument(
        "--weights", default=None,
        help="best (default with --run-dir), final, or a weights file (.weights.h5, .h5, "
        ".keras, .pth, .safetensors) whose classifier is for the data's classes",
    )
    parser.add_argument(
        "--image-size", type=int, default=None,
        help="with --model: the side images are evaluated at (default: the model's own)",
    )
    parser.add_argument("--ten-crop", action="store_true",
                        help="average the four corner and centre crops and their flips")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet import training
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.training.classifier import load_weights_file

    if args.run_dir is None and args.model is None:
        raise UsageError("give --run-dir, or --model NAME with --weights FILE and --data DIR")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be positive. Received: {args.batch_size}")
    if args.image_size is not None and args.image_size < 1:
        raise UsageError(f"--image-size must be positive. Received: {args.image_size}")
    if args.run_dir is not None:
        config, weights = _run_config(args)
    else:
        config, weights = _model_config(args)
    images, labels = _evaluation_data(args, config)

    from keras_resnet import data

    size, augmentation = config["image_size"], config["augmentation"]
    # A run records its recipe's evaluation sizes (FixRes: trained at 176,
    # evaluated at 224 of 232); older runs evaluate at the training size.
    recipe = config.get("recipe_settings") or {}
    size, resize = recipe.get("eval_size") or size, recipe.get("eval_resize")
    if args.ten_crop:
        transform = data.ten_crop_transform(augmentation, image_size=size)
    else:
        transform = data.eval_transform(augmentation, image_size=size, resize=resize)
    # uint8 batches; the model's first layer applies the run's preprocess_input.
    if labels is None:  # Records of prepared shards.
        dataset = data.records_dataset(images, transform=transform, batch_size=args.batch_size)
    else:
        dataset = data.make_dataset(
            images, labels, transform=transform, batch_size=args.batch_size
        )
    model = training.build_model(
        config["model"], classes=config["classes"], image_size=size,
        input_preprocessing={"mode": config["preprocessing"]},
    )
    try:
        # Checks the whole file against the model first; the errors name the file.
        load_weights_file(model, weights)
    except ValueError as e:  # WeightsFileError, WeightsMismatchError
        hint = ""
        if args.run_dir is None and "classifier" in str(e):
            hint = (
                f" {args.data} has {config['classes']} classes: fine-tune the file on it "
                f"first (keras-resnet train --model {args.model} --weights {weights} "
                f"--data {args.data})."
            )
        raise UsageError(f"{e}{hint}") from None
    if args.ten_crop:
        results = training.evaluate_ten_crop(model, dataset)
    else:
        results = training.evaluate_ten_crop(model, dataset.map(_one_crop))
    print(
        f"{'10-crop' if args.ten_crop else 'centre'} top-1 accuracy: {results['accuracy']:.4f}  "
        f"top-5: {results['top5']:.4f}  ({results['count']} images, {os.path.basename(weights)})"
    )
    return 0


def _run_config(args):
    """``(run.json's settings, weights file)`` of ``--run-dir``."""
    from keras_resnet import training
    from keras_resnet.cli.errors import UsageError

    try:
        config = training.load_run(args.run_dir)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.model is not None:
        raise UsageError(
            f"--model {args.model!r} with --run-dir: the run's run.json names its model "
            f"({config['model']!r}); give one or the other"
        )
    weights = {
        None: os.path.join(args.run_dir, "best.weights.h5"),
        "best": os.path.join(args.run_dir, "best.weights.h5"),
        "final": os.path.join(args.run_dir, "final.weights.h5"),
    }.get(args.weights, args.weights)
    if not os.path.exists(weights):
        raise UsageError(f"weights file not found: {weights}")
    return config, weights


def _model_config(args):
    """The settings ``--model NAME --weights FILE --data DIR`` stand for, as run.json's."""
    from keras_resnet import catalog
    from keras_resnet.cli.errors import UsageError, model_entry

    entry = model_entry(args.model)
    if args.weights in (None, "best", "final"):
        raise UsageError(
            f"--model needs --weights FILE (a weights file). Received: --weights {args.weights}"
        )
    if not os.path.isfile(args.weights):
        raise UsageError(f"weights file not found: {args.weights}")
    if args.data is None:
        raise UsageError("--model needs --data DIR (an image folder or prepared data)")
    class_names = _class_names(args.data)
    return {
        "model": entry.name,
        "classes": len(class_names),
        "class_names": class_names,
        "image_size": args.image_size or entry.default_size,
        "preprocessing": catalog.preprocessing_mode(entry.name, args.weights),
        # Resize and centre crop, as for ImageNet models.
        "augmentation": "imagenet",
    }, args.weights


def _class_names(root):
    """The classes of an image folder or of prepared data, in label order."""
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError

    if not os.path.isdir(root):
        raise UsageError(f"data folder not found: {root}")
    try:
        if data.is_prepared(root):
            return data.read_index(root).class_names
        return data.find_images(root).class_names
    except ValueError as e:
        raise UsageError(str(e)) from None


def _evaluation_data(args, config):
    """``(images, labels)``: paths and labels, an array, or (labels None) shard records."""
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError

    if args.data is None and config["data"] == "digits":
        return data.load_digits(seed=config["seed"])["test"]
    if args.data is None:
        return _run_validation_split(args, config)
    if data.is_prepared(args.data):
        return _prepared_split(args.data, args.split, config["class_names"]), None
    try:
        folder = data.image_folder(args.data, class_names=config["class_names"])
    except ValueError as e:
        raise UsageError(str(e)) from None
    _report_skipped(folder)
    return folder.paths, folder.labels


def _run_validation_split(args, config):
    """The split of the run's own data (run.json's) that the run was validated on.

    The same split training made: ``inputs.load_splits`` with the run's seed
    holds out the same tenth of a folder, or the same shards.
    """
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.training import inputs

    root = config["data"]
    if not os.path.isdir(root):
        raise UsageError(
            f"the run's data folder {root} (from its run.json) is not there; give --data"
        )
    if data.is_prepared(root) and args.split is not None:
        print(f"evaluate: the run's data, {root}: split {args.split!r}")
        return _prepared_split(root, args.split, config["class_names"]), None
    try:
        splits = inputs.load_splits(
            root, val_data=config.get("val_data"), seed=config.get("seed", 0)
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if splits["class_names"] != list(config["class_names"]):
        raise UsageError(
            f"the run's data folder {root} now has other classes than the run "
            f"({len(splits['class_names'])} against {len(config['class_names'])}); give --data"
        )
    split = splits["val"]
    print(f"evaluate: the run's data, {root}: {_validation_name(root, config.get('val_data'))}")
    if split.shards is not None:
        return data.shard_records([shard.path for shard in split.shards]), None
    return split.images, split.labels


def _validation_name(root, val_data=None):
    """How training chose the validation split of ``root``, for the user."""
    from keras_resnet import data

    if val_data:
        return f"the --val-data folder {val_data}, the one the run was validated on"
    if data.is_prepared(root):
        if "val" in data.read_index(root).splits:
            return "split 'val', the one the run was validated on"
        return "the shards the run held out for validation"
    if os.path.isdir(os.path.join(root, "val")):
        return "its val/ folder, the one the run was validated on"
    return "the tenth of each class the run held out for validation"


def _prepared_split(root, split, class_names):
    """The records of ``split`` of prepared data, checked against the run's classes.

    ``split`` None: the split training validated on, ``val``, or without one
    the shards it held out.
    """
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.training import inputs

    try:
        index = data.read_index(root)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if index.class_names != list(class_names):
        raise UsageError(
            f"{root} has other classes than the run ({len(index.class_names)} against "
            f"{len(class_names)}; prepared data must list the run's classes in its order)"
        )
    if split is None:
        try:
            shards = inputs.load_splits(root)["val"].shards
        except ValueError as e:
            raise UsageError(str(e)) from None
        return data.shard_records([shard.path for shard in shards])
    if split not in index.splits:
        raise UsageError(
            f"--split {split!r} is not in {root} (it has: {', '.join(index.splits)})"
        )
    return data.shard_records(index.splits[split])


def _report_skipped(folder):
    """Names each unreadable file, then says how many the accuracy leaves out."""
    from keras_resnet import data

    if not folder.skipped:
        return
    for path, reason in folder.skipped:
        print(f"skipped unreadable image {data.printable(path)}: {reason}")
    total = len(folder) + len(folder.skipped)
    print(
        f"{len(folder.skipped)} of {total} files skipped as unreadable; "
        f"the accuracy is over the other {len(folder)}"
    )


def _one_crop(images, labels):
    # A single crop is the 10-crop evaluation with one crop per image.
    return images[:, None], labels
