"""Small image data sets for the paper's experiments in examples/.

``digits``: scikit-learn's 1,797 8x8 handwritten digits (shipped with
scikit-learn, no download), optionally upsampled. ``image_folder``: any
folder with one subfolder of images per class.
"""

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


def _split(x, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(round(len(x) * (1 - test_fraction)))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def digits(size=8, test_fraction=0.22, seed=0):
    """Returns ``((x_train, y_train), (x_test, y_test), class_names)``.

    Args:
        size: Side in pixels, a multiple of 8 (pixels are repeated).
        test_fraction: Share of the images held out.
        seed: Seed of the shuffle.
    """
    from sklearn.datasets import load_digits

    if size % 8:
        raise ValueError(f"`size` must be a multiple of 8. Received: size={size}")
    data = load_digits()
    scale = size // 8
    x = data.images.astype("float32") / 16.0
    x = np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)[..., None]
    train, test = _split(x, data.target.astype("int64"), test_fraction, seed)
    return train, test, [str(d) for d in range(10)]


def image_folder(path, size=32, test_fraction=0.2, seed=0):
    """Loads ``path/<class>/<image>`` as RGB ``size x size`` arrays in [0, 1].

    Returns:
        ``((x_train, y_train), (x_test, y_test), class_names)``.
    """
    from PIL import Image

    root = Path(path)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if len(classes) < 2:
        raise ValueError(
            f"`path` should be a folder with one subfolder of images per class "
            f"(at least two). Received: path={str(path)!r}"
        )
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(file) as image:
                    image = image.convert("RGB").resize((size, size))
                    images.append(np.asarray(image, dtype="float32") / 255.0)
                labels.append(label)
    train, test = _split(np.stack(images), np.asarray(labels, "int64"), test_fraction, seed)
    return train, test, classes
