"""Loading weights into the models: published files by tag, or a path.

Minimal first version: Keras's published ImageNet files through
``keras.utils.get_file`` (md5-verified, cached under ``~/.keras/models``), and
any file ``model.load_weights`` understands.
"""

import os

import keras

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"

# md5 of Keras's published files: (with top, without top).
_KERAS_MD5 = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
    "resnext50": ("67a5b30d522ed92f75a1f16eef299d1a", "62527c363bdd9ec598bed41947b379fc"),
    "resnext101": ("34fb605428fcc7aa4d62f44404c11509", "0f678c91647380debd923963594981b3"),
}


def load_weights(model, weights, *, model_name, include_top):
    """Loads ``weights`` (``"imagenet"`` or a file path) into ``model``.

    Args:
        model: The built model.
        weights: ``"imagenet"`` or the path of a weight file.
        model_name: The registry key of the architecture (``"resnet50"``).
        include_top: Whether the model has its classifier.

    Raises:
        ValueError: If no published file exists for ``model_name``.
    """
    if os.path.exists(str(weights)):
        model.load_weights(weights)
        return
    if model_name not in _KERAS_MD5:
        raise ValueError(
            f"No published '{weights}' weights for {model_name!r}. Known: "
            f"{sorted(_KERAS_MD5)}. Received: weights={weights!r}"
        )
    suffix = "" if include_top else "_notop"
    file_name = f"{model_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    path = keras.utils.get_file(
        file_name,
        BASE_URL + file_name,
        cache_subdir="models",
        file_hash=_KERAS_MD5[model_name][0 if include_top else 1],
    )
    model.load_weights(path)
