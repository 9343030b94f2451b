"""The training recipe as a record: every setting of a recipe, checked once.

``Recipe`` holds what a publisher states (optimiser, schedule, regularisation,
augmentation, evaluation sizes) and checks it when made; ``recipes`` holds
the named recipes. The learning rate follows the *global* batch size
linearly (``base_lr * batch_size / base_batch_size``, Goyal et al. 2017).
"""

import dataclasses

SCHEDULES = ("plateau", "steps", "cosine")
OPTIMIZERS = ("sgd", "lamb")
LOSSES = ("cross_entropy", "binary_cross_entropy")
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
        source: Where the settings come from (a paper, a command line).
        optimizer: ``"sgd"`` or ``"lamb"``.
        norm_weight_decay: Weight decay of BatchNorm parameters and biases;
            None for ``weight_decay``'s (their parameters are then decayed
            too, which the paper's recipes do).
        warmup_start_factor: torchvision's warm-up (``LinearLR``): the first
            epoch's learning rate as a fraction of the peak.
        warmup_lr: timm's warm-up (``CosineLRScheduler``): the first
            epoch's learning rate itself, whatever the batch size.
        min_lr: The cosine schedule's floor.
        mixup_alpha, cutmix_alpha: Beta(alpha, alpha) of MixUp and CutMix;
            a batch is mixed by one of them, chosen by a fair coin when both
            are set (timm's ``Mixup``, torchvision's ``RandomChoice``).
        augment: The publisher's automatic augmentation policy:
            torchvision's ``"ta_wide"`` (TrivialAugmentWide) or timm's
            RandAugment string (``"rand-m7-mstd0.5-inc1"``).
        random_erasing: Probability of random erasing per image.
        ema_decay: The exponential moving average's decay as the
            publisher's flag gives it (torchvision's ``--model-ema-decay``).
        ema_every: Optimiser steps between two updates of the average.
        eval_resize: Shorter side the evaluation resizes to.
        eval_size: Side of the evaluation's centre crop.
        repeated_augmentation: Copies of each image per epoch (timm's
            ``RepeatAugSampler``, torchvision's ``RASampler``); None for off.
        drop_path: Stochastic depth's largest drop rate (the last block's),
            the others rising linearly to it (timm's rule).
        loss: ``"cross_entropy"`` or ``"binary_cross_entropy"`` (RSB's,
            with targets at or above ``bce_target_threshold`` set to 1).
        bce_target_threshold: timm's ``--bce-target-thresh``.
        mix_partner: Whom MixUp/CutMix mixes each image with: ``"flip"``
            (the batch reversed, timm's) or ``"roll"`` (rolled by one,
            torchvision's).
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
    source: str = None
    optimizer: str = "sgd"
    norm_weight_decay: float = None
    warmup_start_factor: float = None
    warmup_lr: float = None
    min_lr: float = None
    mixup_alpha: float = None
    cutmix_alpha: float = None
    augment: str = None
    random_erasing: float = None
    ema_decay: float = None
    ema_every: int = None
    eval_resize: int = None
    eval_size: int = None
    repeated_augmentation: int = None
    drop_path: float = None
    loss: str = "cross_entropy"
    bce_target_threshold: float = None
    mix_partner: str = "flip"

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"`optimizer` should be one of {OPTIMIZERS}. Received: optimizer={self.optimizer!r}"
            )
        if self.loss not in LOSSES:
            raise ValueError(f"`loss` should be one of {LOSSES}. Received: loss={self.loss!r}")
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
        self._check_ingredients()
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(
                f"`patience` should be a non-negative integer. Received: patience={self.patience!r}"
            )

    def settings(self):
        """The recipe as the publishers state it: ``keras-resnet recipes show NAME --json``.

        ``lr`` is for the recipe's own global ``batch_size``; null where the
        recipe has no such setting, 0 where it sets zero.
        """
        return {
            "name": self.name,
            "source": self.source,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "lr": self.learning_rate(),
            "momentum": self.momentum if self.optimizer == "sgd" else None,
            "weight_decay": self.weight_decay,
            "norm_weight_decay": self.norm_weight_decay,
            "schedule": self.schedule,
            "warmup_epochs": self.warmup_epochs,
            "warmup_start_factor": self.warmup_start_factor,
            "warmup_lr": self.warmup_lr,
            "min_lr": self.min_lr,
            "label_smoothing": self.label_smoothing,
            "mixup_alpha": self.mixup_alpha,
            "cutmix_alpha": self.cutmix_alpha,
            "augment": self.augment,
            "crop": self.augmentation,
            "random_erasing": self.random_erasing,
            "ema_decay": self.ema_decay,
            "ema_every": self.ema_every,
            "train_size": self.image_size,
            "eval_resize": self.eval_resize,
            "eval_size": self.eval_size,
            "repeated_augmentation": self.repeated_augmentation,
            "drop_path": self.drop_path,
            "loss": self.loss,
            "bce_target_threshold": self.bce_target_threshold,
            "mix_partner": self.mix_partner if self.mixup_alpha or self.cutmix_alpha else None,
        }

    def _check_ingredients(self):
        """The newer recipes' settings: each None (off) or a number in its range."""
        if self.augment is not None and not (
            self.augment == "ta_wide" or str(self.augment).startswith("rand-")
        ):
            raise ValueError(
                "`augment` should be 'ta_wide' or a RandAugment string such as "
                f"'rand-m7-mstd0.5-inc1'. Received: augment={self.augment!r}"
            )
        if self.mix_partner not in ("flip", "roll"):
            raise ValueError(
                "`mix_partner` should be 'flip' or 'roll'. "
                f"Received: mix_partner={self.mix_partner!r}"
            )
        numbers = (
            ("random_erasing", 0.0, 1.0), ("drop_path", 0.0, 0.99), ("ema_decay", 0.0, 1.0),
            ("mixup_alpha", 0.0, 100.0), ("cutmix_alpha", 0.0, 100.0),
        )
        for field, low, high in numbers:
            value = getattr(self, field)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if value is not None and not (number and low <= value <= high):
                raise ValueError(
                    f"`{field}` should be a number in [{low:g}, {high:g}] or None. "
                    f"Received: {field}={value!r}"
                )
        for field in ("ema_every", "eval_resize", "eval_size", "repeated_augmentation"):
            value = getattr(self, field)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(
                    f"`{field}` should be a positive integer or None. Received: {field}={value!r}"
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
        The warm-up keeps its share of the run too (unless given).
        Another ``image_size`` scales ``eval_size`` and
        ``eval_resize`` (torchvision's 176 / 232 / 224 keeps its ratios).
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        size = changes.get("image_size")
        if isinstance(size, int) and size > 0 and size != self.image_size:
            # The evaluation's sizes keep their ratio to the training's (FixRes).
            for field in ("eval_size", "eval_resize"):
                if getattr(self, field) and field not in changes:
                    changes[field] = max(1, round(getattr(self, field) * size / self.image_size))
        epochs = changes.get("epochs")
        if isinstance(epochs, int) and epochs > 0 and "warmup_epochs" not in changes:
            # A trial of a long recipe keeps its shape: 5 warm-up epochs of 600
            # are 0.05 of a 6-epoch run, not most of it.
            changes["warmup_epochs"] = self.warmup_epochs * epochs / self.epochs
        if self.frozen_epochs and "frozen_epochs" not in changes and isinstance(epochs, int):
            scaled = round(self.frozen_epochs * epochs / self.epochs)
            changes["frozen_epochs"] = max(0, min(scaled, epochs - 1))
        return dataclasses.replace(self, **changes)


