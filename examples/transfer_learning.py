"""Transfer learning with a ResNet backbone: train a new head frozen, then fine-tune.

The backbone is ``include_top=False, pooling="avg"`` (the model card's use).
Its BatchNorm layers stay in inference mode throughout - they use their
moving statistics and never update them - both while the backbone is frozen
and during fine-tuning. Letting them train would let a few batches of a small
new dataset overwrite statistics learned on 1.28M images: the mistake users
make most often.

In Keras 3 a BatchNormalization layer with ``trainable=False`` runs in
inference mode. Calling the backbone with ``training=False`` when building
the functional model is not enough: ``fit``'s training flag overrides it
(measured with Keras 3.15: the moving statistics move). So fine-tuning
unfreezes every layer *except* the BatchNorm ones.

    python examples/transfer_learning.py                      # ImageNet weights, digits
    python examples/transfer_learning.py --weights none --limit 256 --image-size 32
"""

import argparse

# keras_resnet before keras: it keeps TensorFlow's native start-up lines out.
import keras_resnet  # isort: skip
from keras_resnet import data  # isort: skip

import keras


def build_classifier(backbone_name, *, input_shape, classes, weights):
    """A pretrained backbone (BatchNorm in inference mode) under a new softmax head.

    Returns:
        ``(model, backbone)``.
    """
    backbone = keras_resnet.build(
        backbone_name, include_top=False, pooling="avg", weights=weights, input_shape=input_shape
    )
    inputs = keras.Input(shape=input_shape)
    features = backbone(inputs)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(features)
    return keras.Model(inputs, outputs, name=f"{backbone_name}_transfer"), backbone


def freeze(backbone):
    """Freezes the whole backbone (BatchNorm then runs in inference mode)."""
    backbone.trainable = False


def unfreeze(backbone):
    """Unfreezes the backbone for fine-tuning, keeping BatchNorm frozen (inference mode)."""
    backbone.trainable = True
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def datasets(*, image_size, preprocessing_mode, batch_size, limit=None):
    digits = data.load_digits(seed=0)
    transform = data.eval_transform("none", image_size=image_size)
    out = []
    for split in ("train", "test"):
        images, labels = digits[split]
        if limit:
            images, labels = images[:limit], labels[:limit]
        out.append(
            data.make_dataset(
                images, labels, transform=transform, preprocessing_mode=preprocessing_mode,
                batch_size=batch_size, num_classes=10, shuffle=split == "train", seed=0,
            )
        )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--weights", default="imagenet", help="imagenet, none or a file")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--frozen-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="use only this many images")
    args = parser.parse_args(argv)
    weights = None if args.weights == "none" else args.weights

    size = args.image_size
    try:
        model, backbone = build_classifier(
            args.model, input_shape=(size, size, 3), classes=10, weights=weights
        )
    except (keras_resnet.weights.WeightsDownloadError, ValueError) as e:
        # No network, no cached file, or a bad --weights: the message says what to do.
        raise SystemExit(f"transfer_learning.py: {str(e).splitlines()[0]}") from None
    mode = keras_resnet.catalog.preprocessing_mode(args.model, weights)
    train, test = datasets(
        image_size=size, preprocessing_mode=mode, batch_size=args.batch_size, limit=args.limit
    )

    # 1. Frozen backbone: only the new head learns.
    freeze(backbone)
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(train, epochs=args.frozen_epochs, verbose=2)
    frozen = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]

    # 2. Fine-tuning: all but BatchNorm learns, slowly (recompile after changing trainable).
    unfreeze(backbone)
    model.compile(
        keras.optimizers.SGD(1e-3, momentum=0.9), "categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(train, epochs=args.finetune_epochs, verbose=2)
    tuned = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    print(f"test accuracy: frozen {frozen:.4f}, fine-tuned {tuned:.4f}")
    return model


if __name__ == "__main__":
    main()
