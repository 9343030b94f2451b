"""The input's work done on the accelerator: a model's first layer, on every backend.

The host ships uint8 RGB batches, channels last (``keras_resnet.data.pipeline``).
``InputPreprocessing`` turns them into what the network was trained on, inside
the compiled step, in ``keras.ops`` (TensorFlow, JAX or PyTorch alike):

1. cast to float32;
2. training only: a random horizontal flip and AlexNet's PCA lighting noise,
   drawn per image;
3. the family's ``preprocess_input`` (``"caffe"``, ``"tf"`` or ``"torch"``);
4. a transpose to channels first, where the model is built that way;
5. a cast to the layer's compute dtype (float16 under mixed precision).

The layer has no weights, so a weights file written by a model that has it
loads into the same network without it, and the other way round: a training
run's ``best.weights.h5`` serves ``training.build_model(...)`` (float,
preprocessed inputs, as in release 0.2) and ``build_model(...,
input_preprocessing=...)`` (uint8 RGB inputs) alike.
"""

import keras
from keras import ops

from keras_resnet import preprocessing

# AlexNet's PCA of ImageNet RGB pixels (values in [0, 1]), as published with
# fb.resnet.torch; the offset is scaled to [0, 255] where it is added.
PCA_EIGENVALUES = (0.2175, 0.0188, 0.0045)
PCA_EIGENVECTORS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def lighting_offset(alpha):
    """AlexNet's RGB offset in [0, 255] units for coefficients ``alpha`` (N, 3)."""
    eigenvalues = ops.convert_to_tensor(PCA_EIGENVALUES, "float32")
    eigenvectors = ops.convert_to_tensor(PCA_EIGENVECTORS, "float32")
    return ops.matmul(alpha * eigenvalues, ops.transpose(eigenvectors)) * 255.0


def preprocess(images, mode):
    """``preprocess_input`` on float32 RGB channels-last images, in ``keras.ops``."""
    if mode == "tf":
        return images / 127.5 - 1.0
    if mode == "torch":
        mean = ops.convert_to_tensor(preprocessing.TORCH_MEAN, "float32")
        std = ops.convert_to_tensor(preprocessing.TORCH_STD, "float32")
        return (images / 255.0 - mean) / std
    if mode == "caffe":
        mean = ops.convert_to_tensor(preprocessing.CAFFE_BGR_MEAN, "float32")
        return ops.flip(images, axis=-1) - mean
    raise ValueError(f"`mode` should be 'caffe', 'tf' or 'torch'. Received: mode={mode!r}")


@keras.saving.register_keras_serializable(package="keras_resnet")
class InputPreprocessing(keras.layers.Layer):
    """uint8 RGB batches in, the network's input out; augments when training.

    Args:
        mode: The family's ``preprocess_input`` mode.
        flip: Flip each image left-right with probability 1/2 when training.
        pca_std: Standard deviation of AlexNet's PCA lighting coefficients
            when training (0: none; the paper uses 0.1).
        data_format: The network's; ``"channels_first"`` transposes. Inputs
            are always channels last. Defaults to Keras's global setting.
        seed: Seed of the augmentation's random draws.
    """

    def __init__(self, mode, *, flip=False, pca_std=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        preprocess(ops.zeros((1, 1, 1, 3)), mode)  # Validates the mode now.
        if not 0 <= pca_std <= 1:
            raise ValueError(f"`pca_std` should be in [0, 1]. Received: pca_std={pca_std!r}")
        self.mode = mode
        self.flip = bool(flip)
        self.pca_std = float(pca_std)
        self.data_format = data_format or keras.config.image_data_format()
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # uint8 inputs must not be cast to the float policy before `call`.
        self.autocast = False

    def call(self, inputs, training=False):
        images = ops.cast(inputs, "float32")
        if training and self.flip:
            flip = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
            images = ops.where(flip < 0.5, ops.flip(images, axis=2), images)
        if training and self.pca_std > 0:
            alpha = keras.random.normal(
                (ops.shape(images)[0], 3), stddev=self.pca_std, seed=self.seed_generator
            )
            images = images + lighting_offset(alpha)[:, None, None, :]
        images = preprocess(images, self.mode)
        if self.data_format == "channels_first":
            images = ops.transpose(images, (0, 3, 1, 2))
        return ops.cast(images, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_first":
            return (input_shape[0], input_shape[3], input_shape[1], input_shape[2])
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=False):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            mode=self.mode, flip=self.flip, pca_std=self.pca_std,
            data_format=self.data_format, seed=self.seed,
        )
        return config
