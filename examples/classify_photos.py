"""Classifies scikit-learn's two sample photographs with ResNet-50.

Without a weights file the model is randomly initialised, so its top-5 are
noise: the script says so. Pass ``--weights imagenet`` (with network access or
a mirror in ``KERAS_RESNET_WEIGHTS_URL``) or a path to a ``.h5`` file for real
predictions.

Usage:
    python examples/classify_photos.py [--weights PATH_OR_TAG]
"""

import argparse

# keras_resnet before keras: it keeps TensorFlow's native start-up lines out.
import keras_resnet  # isort: skip

import keras
import numpy as np
from sklearn.datasets import load_sample_images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="'imagenet' or a weights file")
    args = parser.parse_args()

    photos = load_sample_images()
    images = np.stack([
        keras.ops.convert_to_numpy(keras.ops.image.resize(image, (224, 224)))
        for image in photos.images
    ])
    try:
        model = keras_resnet.ResNet50(weights=args.weights)
    except (keras_resnet.weights.WeightsDownloadError, ValueError) as e:
        # No network, no cached file, or a bad --weights: the message says what to do.
        raise SystemExit(f"classify_photos.py: {str(e).splitlines()[0]}") from None
    if args.weights is None:
        print("ResNet-50 with RANDOM weights (no --weights given): the classes below are noise.")
    x = keras_resnet.catalog.preprocess_input_for("resnet50", args.weights)(images)
    predictions = model.predict(x, verbose=0)
    for filename, top5 in zip(photos.filenames, keras_resnet.decode_predictions(predictions)):
        print(f"\n{filename.split('/')[-1]}:")
        for _, name, score in top5:
            print(f"  {name:<24} {score:.4f}")


if __name__ == "__main__":
    main()
