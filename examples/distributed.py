"""Plain ``model.fit`` under ``tf.distribute.MirroredStrategy``.

Everything that creates variables - the model, its weights, the optimizer -
is created inside ``strategy.scope()``; the dataset is batched by the
*global* batch size, which the strategy splits among the replicas, and the
learning rate follows the global batch.

    python examples/distributed.py                      # every GPU
    python examples/distributed.py --virtual-devices 2  # a CPU split in two
"""

import argparse

# keras_resnet before tensorflow: it keeps TensorFlow's native start-up lines out.
from keras_resnet import data, training  # isort: skip
from keras_resnet.training import recipes  # isort: skip

import tensorflow as tf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--virtual-devices", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--weights", default=None, help="a weights file to start from")
    args = parser.parse_args(argv)

    if args.virtual_devices and not tf.config.list_physical_devices("GPU"):
        training.split_cpu(args.virtual_devices)
    strategy = tf.distribute.MirroredStrategy()
    print(f"replicas: {strategy.num_replicas_in_sync}")

    digits = data.load_digits(seed=0)
    recipe = recipes.get("digits")
    size = recipe.image_size

    def dataset(split, train):
        transform = (data.training_transform if train else data.eval_transform)(
            recipe.augmentation, image_size=size
        )
        images, labels = digits[split]
        return data.make_dataset(
            images, labels, transform=transform, preprocessing_mode="tf",
            batch_size=args.batch_size, num_classes=10, shuffle=train, seed=0,
            drop_remainder=train,
        )

    train, test = dataset("train", True), dataset("test", False)
    steps = len(digits["train"][0]) // args.batch_size
    with strategy.scope():
        model = training.small_resnet((size, size, 3), classes=10)
        if args.weights:
            model.load_weights(args.weights)
        optimizer, _ = training.make_optimizer(
            recipe, batch_size=args.batch_size, steps_per_epoch=steps, epochs=args.epochs
        )
        model.compile(optimizer, "categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, epochs=args.epochs, verbose=2)
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
