"""The embedded dataset: scikit-learn's 1,797 scanned digits, split and upscaled."""

import numpy as np

DIGITS_CLASS_NAMES = [str(i) for i in range(10)]


def load_digits(*, seed=0, test_fraction=0.2, val_fraction=0.1):
    """scikit-learn's 1,797 scanned 8x8 handwritten digits, split reproducibly.

    The split is stratified by class and fixed by ``seed``: the same call
    gives the same images in the same subsets on every machine.

    Args:
        seed: Seed of the split.
        test_fraction: Share of all images held out for the test set.
        val_fraction: Share of all images held out for validation.

    Returns:
        A dict with ``"train"``, ``"val"`` and ``"test"``, each a pair
        ``(images, labels)``: uint8 RGB images (N, 8, 8, 3) in [0, 255]
        (the 17 grey levels stretched) and int32 labels; and
        ``"class_names"``.
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int32)
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x,
        rest_y,
        test_size=val_fraction / (1 - test_fraction),
        random_state=seed,
        stratify=rest_y,
    )
    return {
        "train": (train_x, train_y),
        "val": (val_x, val_y),
        "test": (test_x, test_y),
        "class_names": list(DIGITS_CLASS_NAMES),
    }
