"""Evaluation beyond ``model.evaluate``: the paper's 10-crop testing."""

import numpy as np
from keras import ops


def evaluate_ten_crop(model, dataset):
    """Top-1 and top-5 accuracy with 10-crop testing (softmax averaged over crops).

    Args:
        model: A classifier ending in softmax.
        dataset: Batches of ``(images, labels)`` with images
            (batch, 10, H, W, C) from ``data.ten_crop_transform`` and integer
            or one-hot labels.

    Returns:
        ``{"accuracy": ..., "top5": ..., "count": ...}``.
    """
    correct1 = correct5 = count = 0
    for images, labels in dataset:
        images = ops.convert_to_numpy(images)
        batch, crops = images.shape[:2]
        probs = model.predict_on_batch(images.reshape(batch * crops, *images.shape[2:]))
        probs = ops.convert_to_numpy(probs).reshape(batch, crops, -1).mean(axis=1)
        labels = ops.convert_to_numpy(labels)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        ranked = np.argsort(-probs, axis=1)
        correct1 += int((ranked[:, 0] == labels).sum())
        correct5 += int((ranked[:, :5] == labels[:, None]).any(axis=1).sum())
        count += batch
    return {"accuracy": correct1 / count, "top5": correct5 / count, "count": count}
