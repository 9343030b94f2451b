"""``keras-resnet train``: the paper's recipe on digits, image folders, GPUs, clusters."""

import contextlib
import os

from keras_resnet.cli import cluster_flags

DEFAULT_RUN_DIR = os.path.join("runs", "digits")


def register(subparsers):
    parser = subparsers.add_parser(
        "train",
        help="train a ResNet (default: the embedded digits, a small ResNet, about 30 s on 2 cores)",
        description="Trains a ResNet with a recipe from keras_resnet.training.recipes. Without "
        "--data it trains on scikit-learn's handwritten digits. The run directory "
        "is resumable: rerun the same command after a crash to continue.",
    )
    parser.add_argument(
        "--model", default=None,
        help="small-resnet (default without --data) or a name from `keras-resnet models` "
        "(default with --data: resnet50; small-resnet for a small folder without weights)",
    )
    parser.add_argument(
        "--data", default=None,
        help="image folder, one sub-folder of JPEG/PNG per class; with train/ and val/ "
        "(and optionally test/) sub-folders they are used as the splits; or a folder "
        "written by `keras-resnet prepare` (sharded records)",
    )
    parser.add_argument("--val-data", default=None, help="validation image folder")
    parser.add_argument(
        "--recipe", default=None,
        help="a recipe of `keras-resnet recipes` (imagenet, torchvision, torchvision-v2, rsb-a1, "
        "rsb-a2, rsb-a3, cifar, digits, finetune, small-data; default: digits without --data; "
        "with it finetune under 20,000 images, else imagenet)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="total epochs (recipe's default)")
    parser.add_argument(
        "--batch-size", type=int, default=None,
        help="global batch size over all replicas; the learning rate scales with it",
    )
    parser.add_argument("--lr", type=float, default=None, help="learning rate at the recipe's base batch")
    parser.add_argument("--weight-decay", type=float, default=None, help="L2 coefficient (1e-4)")
    parser.add_argument(
        "--schedule", choices=("plateau", "steps", "cosine"), default=None,
        help="the learning rate's schedule (the recipe's by default); cosine is stepped per "
        "epoch after a linear warm-up, as torchvision's and timm's",
    )
    parser.add_argument(
        "--warmup-epochs", type=float, default=None,
        help="epochs of linear warm-up, from 0 to the run's --epochs (fractions allowed)",
    )
    parser.add_argument("--label-smoothing", type=float, default=None)
    parser.add_argument("--image-size", type=int, default=None, help="training resolution")
    parser.add_argument(
        "--augmentation", default=None,
        choices=("imagenet", "inception", "cifar", "translate", "none"),
        help="training augmentation (the recipe's by default): imagenet = the paper's scale "
        "augmentation, inception = random-resized-crop",
    )
    parser.add_argument(
        "--drop-path", type=float, default=None,
        help="stochastic depth: the last residual block's drop rate (the recipe's; 0 for none)",
    )
    parser.add_argument(
        "--weights", default=None,
        help="none, imagenet or a file (.h5, .weights.h5, .keras, .pth, .safetensors) with "
        "or without a classifier: a new one is made if the classes differ; "
        "default: imagenet for a folder under 20,000 images when the weights can be had",
    )
    parser.add_argument("--run-dir", default=None, help=f"run directory (default {DEFAULT_RUN_DIR} "
                        "without --data, runs/<model> with)")
    parser.add_argument(
        "--strategy", choices=("default", "mirrored", "multiworker"), default="default",
        help="mirrored: the GPUs of this machine; multiworker: several processes or machines "
        "(TensorFlow: TF_CONFIG; JAX: --coordinator, --num-processes, --process-id)",
    )
    cluster_flags.add_arguments(parser)
    parser.add_argument(
        "--virtual-devices", type=int, default=None,
        help="with --strategy mirrored on a machine without GPU: split the CPU into N devices",
    )
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_float16 policy")
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, init and shuffle")
    parser.add_argument(
        "--deterministic", action="store_true",
        help="deterministic TensorFlow ops: the same seed gives the same run, a little slower",
    )
    parser.add_argument("--no-verify", action="store_true",
                        help="skip decoding every image once before training")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                        help="1: progress bar, 2: a line per epoch (default: bar on a terminal)")
    parser.set_defaults(func=run)


def _check_args(args):
    from keras_resnet._files import unwritable
    from keras_resnet.cli.errors import UsageError

    for name in ("epochs", "batch_size", "image_size", "virtual_devices"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be positive. Received: {value}")
    if not 0 <= args.seed < 2**32:
        # Keras's seed generator takes an unsigned 32-bit seed.
        raise UsageError(f"--seed must be from 0 to 2**32 - 1. Received: {args.seed}")
    if args.data is not None and not os.path.isdir(args.data):
        raise UsageError(f"data folder not found: {args.data}")
    if args.val_data is not None and not os.path.isdir(args.val_data):
        raise UsageError(f"validation folder not found: {args.val_data}")
    if args.run_dir is not None:
        problem = unwritable(args.run_dir, folder=True)
        if problem:
            raise UsageError(f"--run-dir {args.run_dir}: {problem}")
    if args.virtual_devices and args.strategy != "mirrored":
        raise UsageError("--virtual-devices needs --strategy mirrored")
    cluster_flags.check(args)


def run(args, callbacks=()):
    """Trains as ``args`` say; ``callbacks`` are extra Keras callbacks (for tests)."""
    with contextlib.ExitStack() as held:
        return _run(args, callbacks, held)


def _run(args, callbacks, held):
    """``run``'s body; ``held`` keeps the run directory's lock until ``run`` returns."""
    from keras_resnet.cli.errors import UsageError, model_entry
    from keras_resnet.cli.recipe_flags import recipe_from_args, recorded_warmup

    _check_args(args)
    digits = args.data is None
    weights = None if args.weights in (None, "none") else args.weights
    weights_file = _weights_file(weights)
    if args.model:
        model_entry(args.model)  # An unknown name fails before anything is loaded.
    # Checked before anything heavy: a bad --lr fails in a second, not after TF starts.
    recipe = recipe_from_args(args.recipe or ("digits" if digits else "imagenet"), args)

    # TensorFlow and Keras from here on; devices are configured first.
    import keras

    from keras_resnet import data, training
    from keras_resnet.training import cluster, defaults, ingredients, recipes
    from keras_resnet.training.classifier import load_weights_file
    try:
        distribution = training.make_distribution(
            args.strategy, virtual_devices=args.virtual_devices,
            cluster=cluster_flags.cluster_from_args(args, keras),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    held.enter_context(cluster.peer_failures_end_the_process(distribution))
    if recipe.batch_size % distribution.num_workers:
        raise UsageError(
            f"--batch-size must divide by the {distribution.num_workers} processes. "
            f"Received: {recipe.batch_size}"
        )
    known_run_dir = args.run_dir or (DEFAULT_RUN_DIR if digits else None)
    if (known_run_dir and distribution.writes_files
            and os.path.isdir(training.writer_dir(known_run_dir, distribution))):
        # An existing run directory is locked now, before the data is read, so
        # a second run fails at once (a new one is locked before its first
        # write below; creating it here would leave it behind on a bad folder).
        try:
            held.enter_context(
                training.lock_run_dir(training.writer_dir(known_run_dir, distribution))
            )
        except training.RunDirInUse as e:
            raise UsageError(str(e)) from None
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(args.seed)
    if args.deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Multithreaded reductions otherwise make two runs with one seed
        # differ by a percent of accuracy on a small dataset.
        tf.config.experimental.enable_op_determinism()

    splits = _load_splits(args, digits)
    class_names = splits["class_names"]
    train_count = splits["train"].count
    if digits:
        model_name = args.model or defaults.SCRATCH_MODEL
    else:
        plan = defaults.plan_folder_run(
            train_count,
            model=args.model,
            recipe=args.recipe,
            weights=weights,
            batch_size=args.batch_size,
            recipe_batch_size=lambda name: recipes.get(name).batch_size,
            pretrained_problem=_pretrained_problem,
        )
        model_name, weights = plan.model, plan.weights
        recipe = recipe_from_args(plan.recipe, args, batch_size=plan.batch_size)
        if plan.note:
            # A second line of the note is indented under the first.
            print("train: " + plan.note.replace("\n", "\n       "))
    model_name = model_entry(model_name).name
    if recipe.batch_size > train_count:
        raise UsageError(
            f"--batch-size {recipe.batch_size} is larger than the training set "
            f"({train_count} images)"
        )
    run_dir = args.run_dir or (DEFAULT_RUN_DIR if digits else os.path.join("runs", model_name))
    recipe = recorded_warmup(recipe, run_dir, args)
    mode = training.preprocessing_mode(model_name, weights)
    num_classes = len(class_names)

    def dataset(split, *, train=False):
        return splits[split].dataset(
            augmentation=recipe.augmentation, image_size=recipe.image_size,
            batch_size=recipe.batch_size, num_classes=num_classes, train=train, seed=args.seed,
            distribution=distribution, recipe=recipe,
        )

    train_ds, val_ds = dataset("train", train=True), dataset("val")
    epoch_images = splits["train"].epoch_images(recipe, distribution.num_replicas)
    steps = training.steps_per_epoch(epoch_images, recipe.batch_size)

    with distribution.scope():
        try:
            # uint8 batches in; the flip, lighting noise and preprocess_input
            # run on the device, in the model's first layer.
            model = training.build_model(
                model_name, classes=num_classes, image_size=ingredients.input_size(recipe),
                weights=None if weights_file else weights,
                input_preprocessing=data.device_augmentation(recipe.augmentation),
                **ingredients.model_options(recipe, model_name),
            )
            if weights_file:
                # Any format, with or without a classifier: one of another
                # width, or none, gives way to a new one for these classes.
                note = load_weights_file(model, weights_file, new_head=True)
                print(f"train: {note}")
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.mixed_precision:
            # The softmax and the loss in float32: float16 probabilities lose
            # the small ones (and Keras's top-5 metric refuses them).
            model = training.precision.float32_outputs(model)
        schedule_callbacks = training.compile_model(
            model, recipe, batch_size=recipe.batch_size, steps_per_epoch=steps,
            epochs=recipe.epochs, jit_compile=True if args.xla else "auto",
        )

    settings = {
        "model": model_name,
        "classes": num_classes,
        "class_names": class_names,
        "image_size": recipe.image_size,
        "preprocessing": mode,
        "augmentation": recipe.augmentation,
        "recipe": recipe.name,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "learning_rate": recipe.learning_rate(),
        "weight_decay": recipe.weight_decay,
        "schedule": recipe.schedule,
        "warmup_epochs": recipe.warmup_epochs,
        "label_smoothing": recipe.label_smoothing,
        # Every setting, as `keras-resnet recipes show NAME --json` prints it.
        "recipe_settings": recipe.settings(),
        # The loss-scaling optimizer's state is part of the checkpoint.
        "mixed_precision": args.mixed_precision,
        "strategy": args.strategy,
        "replicas": distribution.num_replicas,
        "data": os.path.abspath(args.data) if args.data else "digits",
        # evaluate --run-dir validates where training did.
        "val_data": os.path.abspath(args.val_data) if args.val_data else None,
        "seed": args.seed,
    }
    # One process writes a run directory, and a resumed run must be the same
    # run: both are settled before anything in the directory changes.
    folder = training.writer_dir(run_dir, distribution)
    try:
        # A shard with flipped bytes is named (not a DataLossError traceback).
        shard_files = [f for n, s in splits.items() if n != "class_names" for f in s.shards or []]
        with training.held_by(folder, distribution), \
                training.report_full_disk(folder, recipe.epochs), \
                data.damaged_shards_named(shard_files):
            if distribution.is_chief:
                training.check_settings(run_dir, settings)
            # Under TensorFlow's multiworker every worker must take part in what
            # follows; JAX's processes all read the one run directory.
            if ((distribution.name != "multiworker" or distribution.jax_processes)
                    and training.is_finished(run_dir, recipe.epochs)):
                print(training.finished_summary(run_dir, val_images=splits["val"].count))
                return 0
            if distribution.is_chief:
                training.write_run_record(run_dir, settings)
                if digits:
                    _write_samples(run_dir, splits["test"].images, splits["test"].labels)
                done = training.completed_epochs(run_dir)
                print(
                    f"{model_name}: {model.count_params():,} parameters; {train_count} training "
                    f"images, {num_classes} classes; {distribution.num_replicas} replica(s); "
                    f"batch {recipe.batch_size}, lr {recipe.learning_rate():g}; run dir {run_dir}"
                    + (f", resuming after epoch {done}" if done else ""),
                    flush=True,
                )

            verbose = "auto" if args.verbose is None else args.verbose
            if not distribution.is_chief:
                verbose = 0  # the chief's lines speak for the run
            recipe_callbacks = ingredients.callbacks(
                recipe, folder=folder, batch_size=recipe.batch_size, epochs=recipe.epochs,
                writes=distribution.writes_files,
            )
            training.fit(
                model, train_ds, validation_data=val_ds, epochs=recipe.epochs, run_dir=run_dir,
                callbacks=list(schedule_callbacks) + recipe_callbacks + list(callbacks),
                distribution=distribution,
                verbose=verbose,
                # Shards read per worker (multiworker) repeat: the epoch ends here.
                steps_per_epoch=steps if splits["train"].repeats(distribution) else None,
            )
    except training.RunDirInUse as e:
        raise UsageError(str(e)) from None
    except training.RunDirMismatch as e:
        raise UsageError(f"{e}; use another --run-dir") from None
    except data.DamagedShard as e:
        import sys

        print(f"keras-resnet train: error: {e}", file=sys.stderr)
        return 1
    except training.DiskFull as e:
        import sys

        # Not a usage error (status 2): rerunning the same command is right.
        print(f"keras-resnet train: error: {e}", file=sys.stderr)
        return 1
    except training.NonFiniteLoss as e:
        import sys

        # The run directory lets the rerun change these (run_record).
        print(
            f"keras-resnet train: error: {e}: rerun with a lower --lr (or a longer "
            f"--warmup-epochs) to resume from epoch {e.kept + 1}",
            file=sys.stderr,
        )
        return 1

    # Evaluation is collective under multiworker: every worker takes part, with
    # the final weights (identical everywhere; the best file is the chief's).
    label = "final weights"
    best = os.path.join(run_dir, "best.weights.h5")
    if distribution.name != "multiworker" and os.path.exists(best):
        model.load_weights(best)
        label = "best validation epoch's weights"
    if "test" in splits:
        results = model.evaluate(dataset("test"), verbose=0, return_dict=True)
        if distribution.is_chief:
            print(
                f"test accuracy: {results['accuracy']:.4f} ({splits['test'].count} images, "
                f"{label})"
            )
    average = ingredients.moving_average(recipe_callbacks)
    scores = ingredients.evaluate_average(
        model, average, folder=folder, writes=distribution.writes_files,
        datasets={name: dataset(name) for name in ("val", "test") if name in splits},
    )
    if scores and distribution.is_chief:
        said = ", ".join(f"{name} accuracy {value:.4f}" for name, value in scores.items())
        print(f"moving average of the weights ({ingredients.EMA_WEIGHTS}): {said}")
    if distribution.is_chief:
        print(training.run_summary(run_dir, val_images=splits["val"].count, first_epoch=done + 1))
    return 0


def _weights_file(weights):
    """``weights`` if it names a file (checked to exist), else None (``imagenet``, none)."""
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.weights import is_path

    if weights is None or not is_path(weights):
        return None
    if not os.path.isfile(weights):
        raise UsageError(f"--weights: no file at {weights}")
    return weights


def _pretrained_problem(model_name):
    """None if ``model_name``'s ImageNet backbone can be loaded (fetching it if need be)."""
    from keras_resnet import weights
    from keras_resnet.cli.errors import one_line

    try:
        source = weights.resolve_weights(
            "imagenet", model_name=model_name, include_top=False, classes=1000
        )
        weights.fetch(source.record)
    except (ValueError, OSError) as e:
        return one_line(e)
    return None


def _load_splits(args, digits):
    """``{"train": Split, "val": Split, ["test": Split], "class_names": [...]}``."""
    from keras_resnet import data
    from keras_resnet.cli.errors import UsageError
    from keras_resnet.training import inputs

    if digits:
        return inputs.digits_splits(seed=args.seed)
    try:
        splits = inputs.load_splits(
            args.data, val_data=args.val_data, seed=args.seed, verify=not args.no_verify
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    for name, split in splits.items():
        if name != "class_names":
            for path, reason in split.skipped:
                print(f"skipped unreadable image {data.printable(path)}: {reason}")
    if splits["train"].count == 0:
        raise UsageError(f"no readable training images in {args.data}")
    note = inputs.missing_classes_note(splits["val"])
    if note:
        print(f"train: {note}")
    return splits


def _write_samples(run_dir, images, labels, count=5):
    """Saves a few test digits as PNG files for ``keras-resnet predict`` to read."""
    from PIL import Image

    folder = os.path.join(run_dir, "samples")
    os.makedirs(folder, exist_ok=True)
    for i in range(min(count, len(images))):
        path = os.path.join(folder, f"test{i}-label{labels[i]}.png")
        Image.fromarray(images[i]).save(path)
