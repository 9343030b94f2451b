"""``keras-resnet summary NAME``: layers, shapes, parameters, multiply-adds."""


def register(subparsers):
    parser = subparsers.add_parser(
        "summary",
        help="layers, output shapes, parameters and multiply-adds of one model",
        description="Prints the Keras summary of a registered model (random "
        "weights), then its parameter and multiply-add counts.",
    )
    parser.add_argument("model", help="a model name, see `keras-resnet models`")
    parser.add_argument("--image-size", type=int, default=224, help="input side (default 224)")
    parser.add_argument("--classes", type=int, default=1000, help="classifier width (default 1000)")
    parser.add_argument(
        "--no-top", action="store_true", help="without the classifier (include_top=False)"
    )
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet import catalog
    from keras_resnet.cli.errors import UsageError, model_entry

    entry = model_entry(args.model)
    from keras_resnet.training.recipes import MAX_IMAGE_SIZE

    if not 32 <= args.image_size <= MAX_IMAGE_SIZE:
        raise UsageError(
            f"--image-size must be from 32 to {MAX_IMAGE_SIZE}. Received: {args.image_size}"
        )
    if args.classes < 1:
        raise UsageError(f"--classes must be positive. Received: {args.classes}")

    from keras_resnet.analysis import complexity
    from keras_resnet.architectures.common import image_shape

    size = args.image_size
    model = catalog.build(
        entry.name,
        weights=None,
        include_top=not args.no_top,
        classes=args.classes,
        input_shape=image_shape(size),
    )
    model.summary()
    print(f"Parameters:     {model.count_params():,} "
          f"({complexity.count_params(model, trainable_only=True):,} trainable)")
    print(f"Multiply-adds:  {complexity.multiply_adds(model):,} at {size}x{size}")
    return 0
