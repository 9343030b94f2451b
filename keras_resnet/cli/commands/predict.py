"""``keras-resnet predict``: top-5 classes, with names, for image files."""

import os


def register(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="top-5 classes with names for JPEG/PNG files",
        description="Classifies images with a run's weights (class names from the run "
        "directory), with an ImageNet model (--model resnet50 --weights imagenet), or with "
        "a weights file of any format (--model NAME --weights FILE; classes by index, or "
        "ImageNet's names for a 1000-class file).",
    )
    parser.add_argument("images", nargs="+", help="JPEG or PNG files")
    parser.add_argument("--run-dir", default=None, help="run directory of `keras-resnet train`")
    parser.add_argument(
        "--weights", default=None,
        help="weights file (its folder is taken as the run directory if it holds run.json; "
        ".weights.h5, .h5, .keras, .pth, .safetensors with --model), or imagenet with "
        "--model; default: the run's best.weights.h5",
    )
    parser.add_argument(
        "--model", default=None,
        help="model name for --weights imagenet or a weights file with a classifier",
    )
    parser.add_argument(
        "--image-size", type=int, default=None,
        help="with --model: the side images are resized to (default: the model's own)",
    )
    parser.add_argument(
        "--exported", default=None,
        help="an exported model (keras-resnet export: .onnx, .xml, .tflite, .keras or a "
        "SavedModel directory), run in its own runtime; class names and image size from it",
    )
    parser.add_argument(
        "--top", type=int, default=5,
        help="classes to show, at least 1 (default 5; all of them if there are fewer)",
    )
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet.cli.errors import UsageError

    if args.top < 1:
        raise UsageError(f"--top must be at least 1. Received: {args.top}")
    for path in args.images:
        if not os.path.isfile(path):
            raise UsageError(f"image not found: {path}")
    config, weights, names = _resolve(args)

    from keras_resnet import data

    # Checked with the decoder the pipeline reads them with, so every file
    # that passes is read, and the i-th prediction is the i-th readable file's.
    checked = [(path, data.check_image(path)) for path in args.images]
    readable = [path for path, reason in checked if reason is None]
    rows = iter(_classify(readable, config, weights, names, top=args.top) if readable else [])
    for path, reason in checked:  # in the order given, unreadable files in their place
        if reason is not None:
            print(f"skipped unreadable image {data.printable(path)}: {reason}")
            continue
        print(data.printable(path))
        for rank, (name, score) in enumerate(next(rows), 1):
            print(f"  {rank}. {data.printable(name):<24} {score:.4f}")
    if not readable:
        raise UsageError("no readable image among the arguments")
    return 0


def _resolve(args):
    """``(config, weights, class names or None)`` from the run directory or ``--model``."""
    from keras_resnet import training
    from keras_resnet.cli.errors import UsageError, model_entry

    if args.exported is not None:
        return _resolve_exported(args)
    run_dir = args.run_dir
    if run_dir is None and args.weights not in (None, "imagenet"):
        candidate = os.path.dirname(os.path.abspath(args.weights))
        if os.path.exists(os.path.join(candidate, "run.json")):
            run_dir = candidate
    if run_dir is not None:
        try:
            config = training.load_run(run_dir)
        except ValueError as e:
            raise UsageError(str(e)) from None
        weights = args.weights or os.path.join(run_dir, "best.weights.h5")
        names = config["class_names"]
    elif args.model:
        from keras_resnet import catalog

        weights = args.weights or "imagenet"
        entry = model_entry(args.model)
        if args.image_size is not None and args.image_size < 1:
            raise UsageError(f"--image-size must be positive. Received: {args.image_size}")
        preprocessing_mode = catalog.preprocessing_mode(entry.name, weights)
        config = {
            "model": entry.name, "classes": 1000,
            "image_size": args.image_size or entry.default_size,
            "preprocessing": preprocessing_mode, "augmentation": "imagenet",
        }
        if weights != "imagenet":
            config["classes"] = _file_classes(weights, args.model)
        names = None
    else:
        raise UsageError("give --run-dir, a --weights file inside a run directory, or --model")
    if weights != "imagenet" and not os.path.exists(weights):
        raise UsageError(f"weights file not found: {weights}")
    return config, weights, names


def _resolve_exported(args):
    """``(config, None, class names)`` of an exported model, opened in its runtime."""
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.deploy import runtimes

    if args.run_dir or args.weights or args.model:
        raise UsageError("--exported takes no --run-dir, --weights or --model: it has its own")
    try:
        exported = runtimes.load(args.exported)
    except (ValueError, ImportError) as e:
        raise UsageError(f"--exported: {e}") from None
    metadata = exported.metadata
    if "image_size" not in metadata:
        raise UsageError(
            f"--exported: {args.exported} has no keras_resnet metadata (not written by "
            "keras-resnet export)"
        )
    config = {
        "image_size": metadata["image_size"],
        "augmentation": metadata.get("augmentation", "imagenet"),
        "exported": exported,
    }
    return config, None, metadata.get("class_names")


def _file_classes(weights, model):
    """The width of the classifier in the file ``weights``; a file without one is a UsageError."""
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.weights import file_classes

    if not os.path.isfile(weights):
        raise UsageError(f"weights file not found: {weights}")
    try:
        classes = file_classes(weights)
    except ValueError as e:  # WeightsFileError
        raise UsageError(str(e)) from None
    if classes is None:
        raise UsageError(
            f"{weights} has no classifier (a backbone-only file): predict needs one; "
            f"fine-tune it first (keras-resnet train --model {model} --weights {weights} "
            "--data DIR)"
        )
    return classes


def _classify(paths, config, weights, names, *, top):
    """The ``top`` ``(class name, probability)`` pairs of each file, in the order of ``paths``."""
    import numpy as np

    from keras_resnet import data

    if "exported" in config:  # in its own runtime
        predict_batch = config["exported"].predict
    else:
        predict_batch = _load_model(config, weights).predict_on_batch
    size = config["image_size"]
    dataset = data.make_dataset(
        paths, None,
        transform=data.eval_transform(config["augmentation"], image_size=size),
        batch_size=32,
    )
    # NumPy batches: a JAX or PyTorch model cannot take TensorFlow tensors.
    batches = dataset.as_numpy_iterator()
    probs = np.concatenate([np.asarray(predict_batch(x)) for x in batches])
    if len(probs) != len(paths):  # make_dataset never drops a file; this says so if it did.
        raise RuntimeError(f"{len(probs)} predictions for {len(paths)} images")
    return _top_classes(probs, names, top)


def _load_model(config, weights):
    """The classifier of ``config`` with ``weights``; a file that does not load is a UsageError.

    The whole file is checked against the model before anything is assigned,
    and the error names the file and the first layer that differs (or the
    classifier, when the file's is missing or of another width).
    """
    from keras_resnet import training
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.training.classifier import load_weights_file

    size = config["image_size"]
    # uint8 images in: the model's first layer applies the run's preprocess_input.
    device_input = {"mode": config["preprocessing"]}
    try:
        if weights == "imagenet":
            return training.build_model(
                config["model"], classes=1000, image_size=size, weights="imagenet",
                input_preprocessing=device_input,
            )
        model = training.build_model(
            config["model"], classes=config["classes"], image_size=size,
            input_preprocessing=device_input,
        )
        load_weights_file(model, weights)  # WeightsFileError, WeightsMismatchError: ValueErrors
    except ValueError as e:
        raise UsageError(str(e)) from None
    return model


def _top_classes(probs, names, top):
    """Per image, the ``top`` classes as ``(name, probability)``, most probable first.

    Without class names, 1000 classes are ImageNet's (``decode_predictions``)
    and any other number are shown as indices.
    """
    import numpy as np

    from keras_resnet import preprocessing

    top = max(1, min(top, probs.shape[1]))
    if names is None and probs.shape[1] == 1000:
        decoded = preprocessing.decode_predictions(probs, top=top)
        return [[(name, score) for _, name, score in d] for d in decoded]
    names = names or [str(i) for i in range(probs.shape[1])]
    return [[(names[i], float(p[i])) for i in np.argsort(-p)[:top]] for p in probs]
