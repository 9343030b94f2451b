"""``keras-resnet export``: a run's or a catalogue model's classifier, ready for a runtime."""

import os
import sys

FORMATS = ("saved_model", "onnx", "openvino", "litert", "keras")
# Where Keras's exporter fails or needs a converter the export extra does not
# bring (PyTorch: SavedModel fails, LiteRT needs litert-torch; JAX: ONNX needs
# jax2onnx), the same weights are rebuilt on TensorFlow.
_ON_TENSORFLOW = {("torch", "saved_model"), ("torch", "litert"), ("jax", "onnx")}


def register(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="write a model for SavedModel, ONNX, OpenVINO, LiteRT or Keras, checked in its runtime",
        description="Exports a classifier that takes uint8 RGB images (N, H, W, 3) at the model's "
        "image size and returns class probabilities; the preprocessing is inside, class names and "
        "image size travel with it. The file is run in its own runtime right after writing and "
        "compared with Keras; a difference beyond 1e-4 is an error and nothing is written.",
    )
    parser.add_argument("--run-dir", default=None, help="run directory of `keras-resnet train`")
    parser.add_argument("--model", default=None, help="catalogue model name (with --weights)")
    parser.add_argument(
        "--weights", default=None,
        help="weights file, imagenet (with --model), or none: random weights, for speed "
        "measurements; default: the run's best.weights.h5",
    )
    parser.add_argument(
        "--format", default=None,
        help=f"{', '.join(FORMATS)} (default: from -o: .onnx, .xml, .tflite, .keras; "
        "a directory is a SavedModel)",
    )
    parser.add_argument(
        "-o", "--output", required=True,
        help="output file (.onnx; .xml, its .bin beside it; .tflite; .keras) or SavedModel directory",
    )
    parser.add_argument(
        "--image-size", type=int, default=None,
        help="with --model: the input side (default: the model's own)",
    )
    parser.add_argument(
        "--classes", type=int, default=None,
        help="with --model --weights none: number of classes (default 1000)",
    )
    parser.add_argument(
        "--fold-batch-norms", action="store_true",
        help="export the inference form of optimize_for_inference (BatchNorms folded into the "
        "convolutions, float32)",
    )
    parser.add_argument(
        "--int8", action="store_true",
        help="int8 convolutions and classifier (onnx: ONNX Runtime's quantize_static, QDQ, "
        "per-channel; openvino: NNCF; litert: the TFLite converter), calibrated on --calibration",
    )
    parser.add_argument(
        "--calibration", default=None,
        help="with --int8: a folder of your images, flat or one sub-folder per class "
        "(a few hundred are best, 32 do)",
    )
    parser.add_argument(
        "--eval-data", default=None,
        help="with --int8: a folder with one sub-folder per class; accuracy before and after",
    )
    parser.add_argument(
        "--max-drop", type=float, default=1.0,
        help="with --eval-data: the largest accuracy drop in points int8 may cost (default 1)",
    )
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.deploy import runtimes

    output = os.path.abspath(args.output)
    format = args.format or runtimes.format_of(output)
    if format not in FORMATS:
        raise UsageError(
            f"--format must be one of {', '.join(FORMATS)}. "
            f"Received: {args.format or os.path.basename(output)!r}"
        )
    parent = os.path.dirname(output)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise UsageError(f"-o: cannot write into {parent} (no such folder, or not writable)")
    if os.path.isdir(output) and format != "saved_model":
        raise UsageError(f"-o: {output} is a folder; a {format} export is a file")
    _check_int8_args(args, format)
    config, weights, names = _resolve(args)

    import keras

    from keras_resnet import deploy, training
    from keras_resnet.deploy.export import ExportError
    from keras_resnet.training.classifier import load_weights_file

    if (keras.backend.backend(), format) in _ON_TENSORFLOW:
        return _on_tensorflow(args, format)
    try:
        model = training.build_model(
            config["model"], classes=config["classes"], image_size=config["image_size"],
            weights="imagenet" if weights == "imagenet" else None,
        )
        if weights not in ("imagenet", "none"):
            print(f"export: {load_weights_file(model, weights)}")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.fold_batch_norms:
        model = deploy.optimize_for_inference(model, "float32", jit_compile=False)
    int8 = {}
    if args.int8:
        int8 = _int8_data(args, config, names)
    try:
        deploy.export(
            model, output, format=format, preprocessing=config["preprocessing"],
            class_names=names, **int8,
            metadata={"model": config["model"], "augmentation": config["augmentation"],
                      "weights": os.path.basename(weights)},
        )
    except ExportError as e:  # written but wrong, or not writable: exit status 1
        print(f"keras-resnet export: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:
        raise UsageError(str(e)) from None
    return 0


def _check_int8_args(args, format):
    """Refuses int8 options that cannot work, before anything is loaded."""
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.deploy.quantize import INT8_FORMATS

    if not args.int8:
        if args.calibration or args.eval_data:
            raise UsageError("--calibration and --eval-data go with --int8")
        return
    if format not in INT8_FORMATS:
        raise UsageError(f"--int8 is for --format {' or '.join(INT8_FORMATS)}. Received: {format}")
    if args.calibration is None:
        raise UsageError("--int8 needs --calibration DIR (a folder of your images)")
    for option, folder in (("--calibration", args.calibration), ("--eval-data", args.eval_data)):
        if folder is not None and not os.path.isdir(folder):
            raise UsageError(f"{option}: folder not found: {folder}")
    if args.max_drop < 0:
        raise UsageError(f"--max-drop must be at least 0. Received: {args.max_drop}")


def _int8_data(args, config, names):
    """``export``'s int8 arguments: calibration images and, with --eval-data, labelled images."""
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError

    paths = sorted(
        os.path.join(root, name)
        for root, _, files in os.walk(args.calibration) for name in files
        if name.lower().endswith(data.IMAGE_EXTENSIONS) and not name.startswith(".")
    )
    paths = [p for p in paths if data.check_image(p) is None]
    if not paths:
        raise UsageError(f"--calibration: no readable JPEG or PNG image in {args.calibration}")
    options = {"int8": True, "calibration": _read(paths, config), "max_drop": args.max_drop}
    print(f"export: calibrating int8 on {len(paths)} images from {args.calibration}")
    if args.eval_data:
        try:
            folder = data.image_folder(args.eval_data, class_names=names)
        except ValueError as e:
            raise UsageError(f"--eval-data: {e}") from None
        options["eval_data"] = (_read(folder.paths, config), folder.labels)
    return options


def _read(paths, config):
    """uint8 images (N, H, W, 3) as the model's evaluation transform gives them."""
    import numpy as np

    from keras_resnet import data

    transform = data.eval_transform(config["augmentation"], image_size=config["image_size"])
    dataset = data.make_dataset(list(paths), None, transform=transform, batch_size=32)
    return np.concatenate(list(dataset.as_numpy_iterator()))


def _resolve(args):
    """``(config, weights, class names or None)`` of the run directory or ``--model``."""
    from keras_resnet import training
    from keras_resnet.cli.errors import UsageError, model_entry

    if args.run_dir is not None:
        try:
            config = training.load_run(args.run_dir)
        except ValueError as e:
            raise UsageError(str(e)) from None
        weights = args.weights or os.path.join(args.run_dir, "best.weights.h5")
        if weights != "none" and not os.path.isfile(weights):
            raise UsageError(
                f"no weights to export: {weights} not found (train first, give --weights FILE, "
                "or --weights none for random weights)"
            )
        return config, weights, config["class_names"]
    if not args.model:
        raise UsageError("give --run-dir, or --model with --weights")
    if args.weights is None:
        raise UsageError(f"--model {args.model} needs --weights (a file, imagenet, or none)")
    from keras_resnet import catalog

    entry = model_entry(args.model)
    if args.image_size is not None and args.image_size < 1:
        raise UsageError(f"--image-size must be positive. Received: {args.image_size}")
    config = {
        "model": entry.name, "classes": args.classes or 1000,
        "image_size": args.image_size or entry.default_size,
        "preprocessing": catalog.preprocessing_mode(entry.name, args.weights),
        "augmentation": "imagenet",
    }
    if args.classes is not None and (args.classes < 1 or args.weights != "none"):
        raise UsageError(
            f"--classes is for --weights none, and at least 1. Received: {args.classes}"
        )
    if args.weights not in ("imagenet", "none"):
        from keras_resnet.cli.commands.predict import _file_classes

        config["classes"] = _file_classes(args.weights, args.model)
    return config, args.weights, None


def _on_tensorflow(args, format):
    """Runs this export again on the TensorFlow backend, in a process of its own."""
    import importlib.util
    import subprocess

    import keras

    backend = keras.backend.backend()
    if importlib.util.find_spec("tensorflow") is None:
        print(
            f"keras-resnet export: error: {format} export does not work on the {backend} "
            "backend, and TensorFlow is not installed to rebuild the model on",
            file=sys.stderr,
        )
        return 1
    print(f"export: Keras's {format} export does not work on {backend}; rebuilding on TensorFlow")
    sys.stdout.flush()
    argv = [sys.executable, "-m", "keras_resnet", "export", "-o", args.output,
            "--format", format]
    for option in ("run_dir", "model", "weights", "image_size", "classes"):
        value = getattr(args, option)
        if value is not None:
            argv += ["--" + option.replace("_", "-"), str(value)]
    if args.fold_batch_norms:
        argv.append("--fold-batch-norms")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    return subprocess.run(argv, env=env, check=False).returncode
