"""``keras-resnet models``: every registered model with its size and cost."""


def register(subparsers):
    parser = subparsers.add_parser(
        "models",
        help="list every model: depth, parameters, multiply-adds",
        description="Builds every registered model (random weights) and prints "
        "its depth, parameter count and multiply-adds at the given resolution.",
    )
    parser.add_argument(
        "--image-size", type=int, default=224, help="input side in pixels (default 224)"
    )
    parser.set_defaults(func=run)


def run(args):
    from keras_resnet.cli.errors import UsageError

    if args.image_size < 32:
        raise UsageError(f"--image-size must be at least 32. Received: {args.image_size}")

    import keras

    from keras_resnet import catalog
    from keras_resnet.analysis import complexity
    from keras_resnet.architectures.common import image_shape

    print(f"{'model':<12} {'depth':>5} {'parameters':>12} {'multiply-adds':>14}")
    for name in catalog.list_models():
        model = catalog.build(name, weights=None, input_shape=image_shape(args.image_size))
        print(
            f"{name:<12} {catalog.get(name).depth:>5} "
            f"{model.count_params():>12,} "
            f"{complexity.multiply_adds(model) / 1e9:>13.2f}G"
        )
        keras.backend.clear_session()
    return 0

