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

# The record and its checks; re-exported, their home was this module.
from keras_resnet.training.recipe import (  # noqa: F401
    AUGMENTATIONS,
    LOSSES,
    MAX_IMAGE_SIZE,
    OPTIMIZERS,
    SCHEDULES,
    Recipe,
)


def _rsb(name, *, epochs, lr, weight_decay, mixup_alpha, label_smoothing, augment,
         repeated_augmentation, drop_path, train_size):
    """One of "ResNet strikes back"'s procedures (timm's ``train.py`` flags)."""
    return Recipe(
        name=name,
        source=(
            "Wightman, Touvron, Jegou 2021, 'ResNet strikes back', Table 1 (procedure "
            f"{name[-2:].upper()}), with timm's train.py flags for what the table leaves out"
        ),
        epochs=epochs,
        batch_size=2048,
        base_lr=lr,
        base_batch_size=2048,
        optimizer="lamb",
        weight_decay=weight_decay,
        # timm's optimiser factory exempts every 1-D parameter (BN, biases).
        norm_weight_decay=0.0,
        schedule="cosine",
        warmup_epochs=5,
        warmup_lr=1e-4,
        min_lr=1e-6,
        label_smoothing=label_smoothing,
        mixup_alpha=mixup_alpha,
        cutmix_alpha=1.0,
        augment=augment,
        augmentation="inception",
        random_erasing=0.0,
        image_size=train_size,
        # timm's crop_pct 0.95: resize to floor(224 / 0.95), crop 224.
        eval_resize=235,
        eval_size=224,
        repeated_augmentation=repeated_augmentation,
        drop_path=drop_path,
        loss="binary_cross_entropy",
        bce_target_threshold=0.2,
    )


#: The recipes the best published ResNet-50 weights were trained with,
#: every setting as its publisher states it (``source``).
PUBLISHED = {
    # torchvision's "new recipe" (pytorch/vision PR 5201; references/
    # classification README, ResNet-50 IMAGENET1K_V2, 80.858%): 8 GPUs x 128,
    # --lr 0.5 --lr-scheduler cosineannealinglr --lr-warmup-epochs 5
    # --lr-warmup-method linear --auto-augment ta_wide --epochs 600
    # --random-erase 0.1 --weight-decay 0.00002 --norm-weight-decay 0.0
    # --label-smoothing 0.1 --mixup-alpha 0.2 --cutmix-alpha 1.0
    # --train-crop-size 176 --model-ema --val-resize-size 232 --ra-sampler
    # --ra-reps 4; train.py's defaults for the rest (momentum 0.9,
    # --lr-warmup-decay 0.01, --lr-min 0, --model-ema-steps 32,
    # --model-ema-decay 0.99998, --val-crop-size 224).
    "torchvision-v2": Recipe(
        name="torchvision-v2",
        source=(
            "torchvision references/classification README (ResNet-50 IMAGENET1K_V2, "
            "pytorch/vision PR 5201) and train.py's defaults"
        ),
        epochs=600,
        batch_size=1024,
        base_lr=0.5,
        base_batch_size=1024,
        momentum=0.9,
        weight_decay=2e-5,
        norm_weight_decay=0.0,
        schedule="cosine",
        warmup_epochs=5,
        warmup_start_factor=0.01,
        min_lr=0.0,
        label_smoothing=0.1,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        # transforms.v2's MixUp and CutMix mix each image with the one before it.
        mix_partner="roll",
        augment="ta_wide",
        augmentation="inception",
        random_erasing=0.1,
        ema_decay=0.99998,
        ema_every=32,
        image_size=176,
        eval_resize=232,
        eval_size=224,
        repeated_augmentation=4,
    ),
    "rsb-a1": _rsb(
        "rsb-a1", epochs=600, lr=5e-3, weight_decay=0.01, mixup_alpha=0.2,
        label_smoothing=0.1, augment="rand-m7-mstd0.5-inc1", repeated_augmentation=3,
        drop_path=0.05, train_size=224,
    ),
    "rsb-a2": _rsb(
        "rsb-a2", epochs=300, lr=5e-3, weight_decay=0.02, mixup_alpha=0.1,
        label_smoothing=0.0, augment="rand-m7-mstd0.5-inc1", repeated_augmentation=3,
        drop_path=0.05, train_size=224,
    ),
    "rsb-a3": _rsb(
        "rsb-a3", epochs=100, lr=8e-3, weight_decay=0.02, mixup_alpha=0.1,
        label_smoothing=0.0, augment="rand-m6-mstd0.5-inc1", repeated_augmentation=None,
        drop_path=0.0, train_size=160,
    ),
}

#: The recipes by name.
RECIPES = {
    # The paper trains for 60e4 iterations at batch 256 (about 120 epochs) and
    # drops on plateau; 90 epochs is the usual budget of the reproductions.
    "imagenet": Recipe(
        name="imagenet", epochs=90, batch_size=256, schedule="plateau", eval_resize=256,
        eval_size=224, source="He et al. 2015, section 3.4",
    ),
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
        eval_resize=256,
        eval_size=224,
        source="torchvision references/classification README, ResNet (V1 weights)",
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
        eval_resize=32,
        eval_size=32,
        source="He et al. 2015, section 4.2",
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
        eval_resize=16,
        eval_size=16,
        source="this package: the CIFAR recipe shortened for the digits demo",
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
        eval_resize=256,
        eval_size=224,
        source="this package: fine-tuning a pretrained backbone on a small folder",
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
        eval_resize=64,
        eval_size=64,
        source="this package: a small network from scratch on a small folder",
    ),
    **PUBLISHED,
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
