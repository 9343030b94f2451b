"""``keras-resnet predict``: top-5 classes, with names, for image files."""

import os


def register(subparsers):
    parser = subparsers.add_parser(
        "predict",
        help="top-5 classes with names for JPEG/PNG files",
        description="Classifies images with a run's weights (class names from the run "
        "directory) or with an ImageNet model (--model resnet50 --weights imagenet).",
    )
    parser.add_argument("images", nargs="+", help="JPEG or PNG files")
    parser.add_argument("--run-dir", default=None, help="run directory of `keras-resnet train`")
    parser.add_argument(
        "--weights", default=None,
        help="weights file (its folder is taken as the run directory if it holds run.json), "
        "or imagenet with --model; default: the run's best.weights.h5",
    )
    parser.add_argument("--model", default=None, help="ImageNet model name for --weights imagenet")
    parser.add_argument("--top", type=int, default=5, help="classes to show (default 5)")
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet.cli.errors import UsageError, model_entry
    from keras_resnet import training

    for path in args.images:
        if not os.path.isfile(path):
            raise UsageError(f"image not found: {path}")
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
        preprocessing_mode = catalog.preprocessing_mode(entry.name, weights)
        config = {
            "model": entry.name, "classes": 1000, "image_size": entry.default_size,
            "preprocessing": preprocessing_mode, "augmentation": "imagenet",
        }
        names = None
    else:
        raise UsageError("give --run-dir, a --weights file inside a run directory, or --model")
    if weights != "imagenet" and not os.path.exists(weights):
        raise UsageError(f"weights file not found: {weights}")

    import numpy as np

    from keras_resnet import data, preprocessing

    folder_check = [(p, data.check_image(p)) for p in args.images]
    bad = [(p, r) for p, r in folder_check if r is not None]
    for path, reason in bad:
        print(f"skipped unreadable image {path}: {reason}")
    paths = [p for p, r in folder_check if r is None]
    if not paths:
        raise UsageError("no readable image among the arguments")

    size = config["image_size"]
    dataset = data.make_dataset(
        paths, None,
        transform=data.eval_transform(config["augmentation"], image_size=size),
        preprocessing_mode=config["preprocessing"], batch_size=32,
    )
    if weights == "imagenet":
        model = training.build_model(config["model"], classes=1000, image_size=size,
                                     weights="imagenet")
    else:
        model = training.build_model(config["model"], classes=config["classes"], image_size=size)
        model.load_weights(weights)
    probs = np.concatenate([np.asarray(model.predict_on_batch(x)) for x in dataset])

    top = max(1, min(args.top, probs.shape[1]))
    if names is None and probs.shape[1] == 1000:
        decoded = preprocessing.decode_predictions(probs, top=top)
        rows = [[(name, score) for _, name, score in d] for d in decoded]
    else:
        names = names or [str(i) for i in range(probs.shape[1])]
        rows = [[(names[i], float(p[i])) for i in np.argsort(-p)[:top]] for p in probs]
    for path, row in zip(paths, rows):
        print(path)
        for rank, (name, score) in enumerate(row, 1):
            print(f"  {rank}. {name:<24} {score:.4f}")
    return 0
