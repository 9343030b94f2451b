"""A recipe's per-image augmentation after the crop: its automatic policy, then random erasing.

torchvision's V2 recipe applies TrivialAugmentWide (``ta_wide``) and timm's
RSB recipes apply RandAugment (``rand-m7-mstd0.5-inc1``) to the cropped
image, and then random erasing, before the batch is formed; here they run
in tf.data on the uint8 crop (``keras_resnet.data.trivial_augment``,
``rand_augment``, ``erasing``), and the flip stays on the device. The flip
comes after the policy in the publishers' order; the policy's geometric
operations take a random sign, so the two orders draw the same distribution.
"""

import dataclasses

import tensorflow as tf

from keras_resnet.data import erasing

#: torchvision's name of TrivialAugmentWide; timm's RandAugment strings start with "rand-".
TRIVIAL_AUGMENT = "ta_wide"


def check_policy(name):
    """Refuses a policy name neither torchvision's ``ta_wide`` nor a RandAugment string."""
    if name == TRIVIAL_AUGMENT:
        return
    if isinstance(name, str) and name.startswith("rand-"):
        from keras_resnet.data import rand_augment

        rand_augment.parse(name)
        return
    raise ValueError(
        f"`augment` should be {TRIVIAL_AUGMENT!r} or a RandAugment string such as "
        f"'rand-m7-mstd0.5-inc1'. Received: augment={name!r}"
    )


def policy(name):
    """The function ``(uint8 image, seed) -> uint8 image`` of a policy name."""
    check_policy(name)
    if name == TRIVIAL_AUGMENT:
        from keras_resnet.data import trivial_augment

        return trivial_augment.trivial_augment_wide
    from keras_resnet.data import rand_augment

    return lambda image, seed: rand_augment.rand_augment(image, seed, name)


def element_seed():
    """A fresh stateless seed for one element of a dataset.

    A stateful draw: under ``keras.utils.set_random_seed`` the sequence of
    seeds repeats from run to run, and every element gets its own.
    """
    return tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int64)


@dataclasses.dataclass(frozen=True)
class PolicyTransform:
    """A training transform followed by a policy and random erasing; uint8 out.

    Attributes:
        base: The crop (``pipeline.CropTransform`` or ``ImageTransform``).
        augment: A policy name (``policy``), or None.
        random_erasing: The probability of erasing a rectangle, or 0.
        size: The crop's side (the policy needs a static shape).
    """

    base: object
    size: int
    augment: str = None
    random_erasing: float = 0.0

    def __post_init__(self):
        if self.augment is not None:
            check_policy(self.augment)

    def decode(self, contents):
        return self._augment(self.base.decode(contents))

    def __call__(self, image):
        return self._augment(self.base(image))

    def _augment(self, image):
        image = tf.ensure_shape(image, (self.size, self.size, 3))
        seeds = tf.random.experimental.stateless_split(element_seed(), 2)
        if self.augment is not None:
            image = policy(self.augment)(image, seeds[0])
        if self.random_erasing:
            image = erasing.random_erasing(image, seeds[1], self.random_erasing)
        return image
