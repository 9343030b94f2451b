"""``keras-resnet bench``: the speed harness (``keras_resnet.bench``) beside keras.applications."""


def register(subparsers):
    # The harness adds its own options; it imports nothing heavy at module level.
    from keras_resnet import bench

    parser = subparsers.add_parser(
        "bench",
        help="speed beside keras.applications: build, inference, training, input pipeline",
        description="Runs every configuration in its own process, medians of repeated "
        "runs, ratios over keras.applications (keras_resnet.bench).",
    )
    bench.add_arguments(parser)
    parser.set_defaults(func=lambda args: bench.run(args, parser))
