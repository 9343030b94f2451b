"""``keras-resnet evaluate``: accuracy of a trained run, with optional 10-crop testing."""

import os


def register(subparsers):
    parser = subparsers.add_parser(
        "evaluate",
        help="top-1/top-5 accuracy of a run's weights on an image folder (or the digits test set)",
        description="Evaluates a run directory made by `keras-resnet train`. Without --data "
        "a digits run is evaluated on its held-out test split.",
    )
    parser.add_argument("--run-dir", required=True, help="run directory of `keras-resnet train`")
    parser.add_argument(
        "--data", default=None,
        help="image folder, one sub-folder per class, or a folder written by `keras-resnet "
        "prepare` (its --split)",
    )
    parser.add_argument(
        "--split", default="val", help="with prepared data: the split to evaluate (default val)"
    )
    parser.add_argument(
        "--weights", default="best",
        help="best (default), final, or a weights file",
    )
    parser.add_argument("--ten-crop", action="store_true",
                        help="average the four corner and centre crops and their flips")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet import training
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.weights import load_file

    try:
        config = training.load_run(args.run_dir)
    except ValueError as e:
        raise UsageError(str(e)) from None
    weights = {
        "best": os.path.join(args.run_dir, "best.weights.h5"),
        "final": os.path.join(args.run_dir, "final.weights.h5"),
    }.get(args.weights, args.weights)
    if not os.path.exists(weights):
        raise UsageError(f"weights file not found: {weights}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be positive. Received: {args.batch_size}")

    from keras_resnet import data

    if args.data is None:
        if config["data"] != "digits":
            raise UsageError("--data is required for a run not trained on the digits")
        images, labels = data.load_digits(seed=config["seed"])["test"]
    elif data.is_prepared(args.data):
        images, labels = _prepared_split(args, config["class_names"]), None
    else:
        try:
            folder = data.image_folder(args.data, class_names=config["class_names"])
        except ValueError as e:
            raise UsageError(str(e)) from None
        _report_skipped(folder)
        images, labels = folder.paths, folder.labels

    size, augmentation = config["image_size"], config["augmentation"]
    if args.ten_crop:
        transform = data.ten_crop_transform(augmentation, image_size=size)
    else:
        transform = data.eval_transform(augmentation, image_size=size)
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
        load_file(model, weights)
    except ValueError as e:  # WeightsFileError, WeightsMismatchError
        raise UsageError(str(e)) from None
    if args.ten_crop:
        results = training.evaluate_ten_crop(model, dataset)
    else:
        results = training.evaluate_ten_crop(model, dataset.map(_one_crop))
    print(
        f"{'10-crop' if args.ten_crop else 'centre'} top-1 accuracy: {results['accuracy']:.4f}  "
        f"top-5: {results['top5']:.4f}  ({results['count']} images, {os.path.basename(weights)})"
    )
    return 0


def _prepared_split(args, class_names):
    """The records of ``--split`` of prepared data, checked against the run's classes."""
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError

    try:
        index = data.read_index(args.data)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if index.class_names != list(class_names):
        raise UsageError(
            f"{args.data} has other classes than the run ({len(index.class_names)} against "
            f"{len(class_names)}; prepared data must list the run's classes in its order)"
        )
    if args.split not in index.splits:
        raise UsageError(
            f"--split {args.split!r} is not in {args.data} (it has: {', '.join(index.splits)})"
        )
    return data.shard_records(index.splits[args.split])


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
