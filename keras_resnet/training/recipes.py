"""Training recipes as data: one frozen record per recipe, no scattered constants.

The paper's ImageNet recipe (He et al. 2015, section 3.4): SGD with momentum
0.9, weight decay 1e-4, mini-batch 256, learning rate 0.1 divided by 10 when
the error plateaus, no dropout. Its CIFAR-10 recipe (section 4.2): batch 128,
learning rate 0.1 divided by 10 at 32k and 48k of 64k iterations, i.e. at 50%
and 75% of training, 4-pixel padding, random 32x32 crop and horizontal flip.

The learning rate follows the *global* batch size linearly
(``base_lr * batch_size / base_batch_size``, Goyal et al. 2017), so a recipe
keeps its meaning on 1 GPU or 64.

Weight decay is the paper's (Caffe's) coupled L2 penalty: ``weight_decay * w``
is added to the gradient before momentum. Keras's ``SGD(weight_decay=...)`` is
decoupled (``w -= lr * wd * w`` outside momentum), which with momentum 0.9
decays about ten times less for the same number; see
``keras_resnet.training.SGD``.
"""

import dataclasses

SCHEDULES = ("plateau", "steps")
# keras_resnet.data.pipeline.AUGMENTATIONS, repeated so that a recipe is
# checked before TensorFlow is imported (tests check that the two agree).
AUGMENTATIONS = ("imagenet", "inception", "cifar", "translate", "none")

#: The largest training side a recipe accepts. ResNets train at 128 to 448 px;
#: at 4096 one image's stem output already holds 268 million values, and a
#: few times that overflows the 32-bit sizes of the backends' kernels (the
#: failure that 100,000 px reached only after building for tens of seconds).
MAX_IMAGE_SIZE = 4096


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train: optimiser, schedule, regularisation, augmentation.

    Attributes:
        name: The recipe's key in ``RECIPES``.
        epochs: Default number of epochs.
        batch_size: Default global batch size.
        base_lr: Learning rate at ``base_batch_size``.
        base_batch_size: The batch size ``base_lr`` is quoted for.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: Coupled L2 coefficient on convolution and dense kernels.
        schedule: ``"plateau"`` (divide by ``factor`` when the validation
            loss stops improving for ``patience`` epochs) or ``"steps"``
            (divide by ``factor`` at each of ``milestones``).
        milestones: Fractions of the total number of epochs at which the
            ``"steps"`` schedule divides the learning rate.
        factor: The divisor's inverse (0.1 = "divide by 10").
        patience: Epochs without improvement before a plateau drop.
        warmup_epochs: Linear warm-up from 0 to the peak learning rate.
        label_smoothing: Label smoothing of the cross-entropy.
        augmentation: The training transform (see ``keras_resnet.data``):
            ``"imagenet"`` (the paper's scale augmentation), ``"inception"``
            (random-resized-crop), ``"cifar"``, ``"translate"`` (CIFAR's pad
            and crop without the flip, for digits) or ``"none"``.
        image_size: Training resolution.
        frozen_epochs: Fine-tuning: epochs during which only the classifier
            learns (the pretrained backbone waits).
        backbone_lr_factor: Fine-tuning: the backbone's learning rate
            relative to the classifier's afterwards.
        freeze_batchnorm: Fine-tuning: BatchNorm layers keep their
            pretrained statistics and parameters (inference mode).
    """

    name: str
    epochs: int
    batch_size: int
    base_lr: float = 0.1
    base_batch_size: int = 256
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "plateau"
    milestones: tuple = (0.5, 0.75)
    factor: float = 0.1
    patience: int = 5
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augmentation: str = "imagenet"
    image_size: int = 224
    frozen_epochs: int = 0
    backbone_lr_factor: float = 1.0
    freeze_batchnorm: bool = False

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"`schedule` should be one of {SCHEDULES}. Received: schedule={self.schedule!r}"
            )
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(
                f"`augmentation` should be one of {AUGMENTATIONS}. "
                f"Received: augmentation={self.augmentation!r}"
            )
        if not all(0 < m < 1 for m in self.milestones):
            raise ValueError(
                "`milestones` are fractions of training in (0, 1). "
                f"Received: milestones={self.milestones!r}"
            )
        for field in ("epochs", "batch_size", "base_batch_size", "image_size"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(
                    f"`{field}` should be a positive integer. Received: {field}={value!r}"
                )
        if self.image_size > MAX_IMAGE_SIZE:
            raise ValueError(
                f"`image_size` should be at most {MAX_IMAGE_SIZE} pixels. "
                f"Received: image_size={self.image_size!r}"
            )
        # (field, interval); every bound is finite, so NaN and infinity are
        # refused with the rest.
        ranges = (
            ("base_lr", "(", 0.0, 10.0, "]"),
            ("weight_decay", "[", 0.0, 1.0, "]"),
            ("momentum", "[", 0.0, 1.0, ")"),
            ("factor", "(", 0.0, 1.0, "]"),
            ("warmup_epochs", "[", 0.0, float(self.epochs), "]"),
            ("label_smoothing", "[", 0.0, 1.0, ")"),
            ("backbone_lr_factor", "[", 0.0, 1.0, "]"),
        )
        for field, opening, low, high, closing in ranges:
            value = getattr(self, field)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            inside = number and (low < value or opening == "[" and value == low)
            inside = inside and (value < high or closing == "]" and value == high)
            if not inside:
                # Warm-up is counted in epochs, up to the run's length.
                top = f"epochs={high:g}" if field == "warmup_epochs" else f"{high:g}"
                interval = f"{opening}{low:g}, {top}{closing}"
                raise ValueError(
                    f"`{field}` should be a number in {interval}. Received: {field}={value!r}"
                )
        if not isinstance(self.frozen_epochs, int) or not 0 <= self.frozen_epochs < self.epochs:
            raise ValueError(
                f"`frozen_epochs` should be an integer in [0, epochs={self.epochs}). "
                f"Received: frozen_epochs={self.frozen_epochs!r}"
            )
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(
                f"`patience` should be a non-negative integer. Received: patience={self.patience!r}"
            )

    def learning_rate(self, batch_size=None):
        """The peak learning rate for a global ``batch_size`` (linear scaling)."""
        batch_size = self.batch_size if batch_size is None else batch_size
        return self.base_lr * batch_size / self.base_batch_size

    def milestone_epochs(self, epochs=None):
        """The epochs (0-based, sorted) at which the ``"steps"`` schedule drops."""
        epochs = self.epochs if epochs is None else epochs
        return sorted({max(1, round(m * epochs)) for m in self.milestones})

    def replace(self, **changes):
        """A copy with ``changes`` applied (``None`` values are ignored).

        A shorter or longer run keeps the fine-tuning phases in proportion:
        with ``epochs`` changed and ``frozen_epochs`` not given, the frozen
        phase scales with it (and leaves at least one epoch to the rest).
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        epochs = changes.get("epochs")
        if self.frozen_epochs and "frozen_epochs" not in changes and isinstance(epochs, int):
            scaled = round(self.frozen_epochs * epochs / self.epochs)
            changes["frozen_epochs"] = max(0, min(scaled, epochs - 1))
        return dataclasses.replace(self, **changes)


#: The recipes by name.
RECIPES = {
    # The paper trains for 60e4 iterations at batch 256 (about 120 epochs) and
    # drops on plateau; 90 epochs is the usual budget of the reproductions.
    "imagenet": Recipe(name="imagenet", epochs=90, batch_size=256, schedule="plateau"),
    # torchvision's reference ImageNet recipe (references/classification,
    # the one its V1 weights were trained with): 90 epochs, learning rate
    # 0.1 at batch 256 divided by 10 every 30 epochs, coupled weight decay
    # 1e-4 (PyTorch's SGD), Inception's random-resized-crop and flip.
    "torchvision": Recipe(
        name="torchvision",
        epochs=90,
        batch_size=256,
        schedule="steps",
        milestones=(1 / 3, 2 / 3),
        augmentation="inception",
    ),
    # 64k iterations of batch 128 on 45k images is about 182 epochs; the
    # paper's 32k/48k drops are 50% and 75% of that.
    "cifar": Recipe(
        name="cifar",
        epochs=182,
        batch_size=128,
        base_batch_size=128,
        schedule="steps",
        augmentation="cifar",
        image_size=32,
    ),
    # The embedded demo: the CIFAR recipe shortened to fit about two minutes
    # on two CPU cores (measured, see docs/compatibility.md), without the flip that would
    # turn digits into other shapes; the 8x8 scans are upsampled to 16x16.
    "digits": Recipe(
        name="digits",
        epochs=20,
        # Batch 32 (lr 0.025): 39 steps an epoch. At 64, seeded deterministic
        # runs ended between 0.967 and 0.992 test accuracy; at 32, 0.994.
        batch_size=32,
        base_batch_size=128,
        schedule="steps",
        warmup_epochs=1,
        augmentation="translate",
        image_size=16,
    ),
    # Fine-tuning an ImageNet backbone on a folder of one's own photos, from
    # about 50 images up: the new classifier learns alone for 4 epochs, then
    # the backbone joins at a tenth of its rate; BatchNorm keeps ImageNet's
    # statistics, which a batch of 8 photos could not estimate.
    "finetune": Recipe(
        name="finetune",
        epochs=12,
        batch_size=32,
        base_lr=0.02,
        base_batch_size=16,
        schedule="steps",
        milestones=(0.75,),
        frozen_epochs=4,
        backbone_lr_factor=0.1,
        freeze_batchnorm=True,
        label_smoothing=0.1,
        augmentation="imagenet",
        image_size=224,
    ),
    # Few images and no pretrained weights: a small network from scratch at
    # 64 px with CIFAR's augmentation, where a ResNet-50 at 224 px would
    # only memorise the training set.
    "small-data": Recipe(
        name="small-data",
        epochs=30,
        batch_size=32,
        base_batch_size=128,
        schedule="steps",
        warmup_epochs=1,
        augmentation="cifar",
        image_size=64,
    ),
}


def get(name):
    """Returns the recipe called ``name``.

    Raises:
        ValueError: For an unknown name.
    """
    if name not in RECIPES:
        raise ValueError(
            f"Unknown recipe. Known: {', '.join(RECIPES)}. Received: recipe={name!r}"
        )
    return RECIPES[name]
