"""A training run's data: the digits, an image folder or prepared shards, as uint8 batches.

``load_splits`` finds the splits of ``--data`` (and ``--val-data``) and
``Split.dataset`` turns one into batches for a model whose first layer is
``data.device.InputPreprocessing`` (uint8 RGB in, channels last). Shards are
read by each worker of a multi-worker run from its own files; a folder's or
the digits' images are shared out among JAX's processes batch by batch
(``data.sharing``).
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from keras_resnet import data
from keras_resnet.data import mixing, policies, repeated, sharing


@dataclasses.dataclass
class Split:
    """One split of the data: arrays, files or shards.

    Attributes:
        images: Image paths or a uint8 array (None for shards).
        labels: Integer labels (None for shards).
        shards: ``data.ShardFile`` list (None otherwise).
        count: Number of images.
        skipped: ``(path, reason)`` of files left out as unreadable.
        missing_classes: Names of the classes with no image in this split (a
            validation split held out of classes too small to give one).
    """

    images: object = None
    labels: np.ndarray = None
    shards: list = None
    count: int = 0
    skipped: list = dataclasses.field(default_factory=list)
    missing_classes: list = dataclasses.field(default_factory=list)

    def repeats(self, distribution):
        """Whether the training dataset repeats (shards read per worker): fit needs steps."""
        return (
            self.shards is not None
            and distribution is not None
            and distribution.name == "multiworker"
        )

    def epoch_images(self, recipe=None, replicas=1):
        """Images in one training epoch: the split's count, or repeated augmentation's length."""
        if recipe is None or not recipe.repeated_augmentation:
            return self.count
        return repeated.epoch_length(
            self.count, repeats=recipe.repeated_augmentation, num_replicas=replicas
        )

    def dataset(
        self, *, augmentation, image_size, batch_size, num_classes, train=False, seed=None,
        distribution=None, recipe=None,
    ):
        """uint8 batches of this split: the augmentation's transform when ``train``.

        Shards under a multi-worker distribution are read by each worker from
        its own files (``data.worker_shards``) through
        ``distribute_datasets_from_function``; the training set then repeats,
        and ``steps_per_epoch`` says where an epoch ends.

        ``recipe`` adds its ingredients: in training its automatic policy and
        random erasing after the crop, repeated augmentation, and MixUp/CutMix
        on each batch; in evaluation its ``eval_size`` crop of an
        ``eval_resize`` side (FixRes).

        Under a distribution whose processes each feed their own part of the
        global batch (JAX's ``multiworker``), the dataset is this process's
        part: batches of ``batch_size / processes``.
        """
        ingredients = _Ingredients(recipe, distribution)
        if train:
            transform = data.training_transform(
                augmentation, image_size=image_size, augment=ingredients.augment,
                random_erasing=ingredients.random_erasing,
            )
        else:
            transform = data.eval_transform(
                augmentation, image_size=ingredients.eval_size or image_size,
                resize=ingredients.eval_resize,
            )
        options = dict(
            transform=transform, batch_size=batch_size, num_classes=num_classes,
            drop_remainder=train, batch_transform=ingredients.mixer if train else None,
        )
        repeats = ingredients.repeats if train else None
        if distribution is not None and distribution.jax_processes:
            return self._process_dataset(
                distribution, train=train, seed=seed, repeats=repeats,
                replicas=ingredients.replicas, options=options,
            )
        if self.shards is None:
            order = None
            if repeats:
                order = repeated.order_dataset(
                    self.count, repeats=repeats, num_replicas=ingredients.replicas,
                    batch_size=batch_size, seed=seed or 0,
                )
            return data.make_dataset(
                self.images, self.labels, shuffle=train, seed=seed, order=order, **options
            )
        files = [shard.path for shard in self.shards]
        if not (train and self.repeats(distribution)):
            # The index's count: Keras then knows an epoch's length (and a
            # shard holding other than its count of records fails loudly).
            records = data.shard_records(files, shuffle=train, seed=seed).apply(
                tf.data.experimental.assert_cardinality(self.count)
            )
            if repeats:
                length = self.epoch_images(recipe, ingredients.replicas)
                records = _repeated(records, repeats).take(length).apply(
                    tf.data.experimental.assert_cardinality(length)
                )
            return data.records_dataset(
                records, shuffle_buffer=_SHUFFLE_BUFFER if train else 0, seed=seed, **options
            )

        def worker_dataset(context):
            records = data.shard_records(
                files, shuffle=True, seed=seed, worker_index=context.input_pipeline_id,
                num_workers=context.num_input_pipelines,
            )
            if repeats:
                records = _repeated(records, repeats)
            options["batch_size"] = context.get_per_replica_batch_size(batch_size)
            return data.records_dataset(
                records, shuffle_buffer=_SHUFFLE_BUFFER, seed=seed, **options
            ).repeat()

        return distribution.tf_strategy.distribute_datasets_from_function(worker_dataset)

    def _process_dataset(self, distribution, *, train, seed, repeats, replicas, options):
        """This process's part of every global batch (``data.sharing``)."""
        index, count, local = distribution.process_slice(options["batch_size"])
        options = dict(options, batch_size=local)
        seed = seed or 0
        if self.shards is not None:
            files = [shard.path for shard in self.shards]
            if train:
                # Each process its own shards, as TensorFlow's workers read them.
                records = data.shard_records(
                    files, shuffle=True, seed=seed, worker_index=index, num_workers=count
                )
                if repeats:
                    records = _repeated(records, repeats)
                return data.records_dataset(
                    records, shuffle_buffer=_SHUFFLE_BUFFER, seed=seed, **options
                ).repeat()
            # Every count-th record, an equal share each; its length told to
            # Keras (as for one process), so a short shard fails loudly.
            share = self.count // count
            records = data.shard_records(files).shard(count, index).take(share).apply(
                tf.data.experimental.assert_cardinality(share)
            )
            return data.records_dataset(records, shuffle_buffer=0, seed=seed, **options)
        if not train:
            part = sharing.evaluation_part(self.count, process_index=index, num_processes=count)
            order = tf.data.Dataset.from_tensor_slices(part)
        elif repeats:
            order = repeated.order_dataset(
                self.count, repeats=repeats, num_replicas=replicas, batch_size=local * count,
                seed=seed, process_index=index, num_processes=count,
            )
        else:
            order = sharing.order_dataset(
                lambda epoch: sharing.process_part(
                    sharing.epoch_permutation(self.count, seed=seed, epoch=epoch),
                    batch_size=local * count, process_index=index, num_processes=count,
                ),
                seed=seed,
            )
        return data.make_dataset(self.images, self.labels, order=order, seed=seed, **options)


def _repeated(records, repeats):
    """Each record ``repeats`` times in a row; the shuffle buffer then spreads the copies.

    A stream of shards has no index to deal copies out as timm's sampler does
    (``repeated.global_order``); the buffer puts them in different batches.
    """
    return records.flat_map(lambda *record: tf.data.Dataset.from_tensors(record).repeat(repeats))


class _Ingredients:
    """What a recipe adds to the input pipeline (nothing without a recipe)."""

    def __init__(self, recipe, distribution):
        self.augment, self.random_erasing, self.repeats, self.replicas = None, 0.0, None, 1
        self.eval_size = self.eval_resize = self.mixer = None
        if recipe is None:
            return
        self.augment = recipe.augment
        self.random_erasing = recipe.random_erasing or 0.0
        self.repeats = recipe.repeated_augmentation
        if self.repeats and distribution is not None:
            self.replicas = distribution.num_replicas
        self.eval_size, self.eval_resize = recipe.eval_size, recipe.eval_resize
        if recipe.mixup_alpha or recipe.cutmix_alpha:
            options = dict(
                mixup_alpha=recipe.mixup_alpha, cutmix_alpha=recipe.cutmix_alpha,
                convention=recipe.mix_partner,
            )
            self.mixer = lambda images, labels: mixing.mix_batch(
                images, labels, policies.element_seed(), **options
            )


# Records shuffled after the shards' interleave: a few thousand JPEGs
# (a few hundred MB at ImageNet's sizes).
_SHUFFLE_BUFFER = 2048


def load_splits(root, *, val_data=None, seed=0, verify=True):
    """``{"train": Split, "val": Split, ["test": Split], "class_names": [...]}``.

    ``root`` is a folder ``keras-resnet prepare`` wrote (shards), a folder
    with ``train/`` (and ``val/``, ``test/``) sub-folders, or one image
    folder. ``val_data`` (a folder of the same classes) is the validation
    split as it is, all of it. Without a validation split, a tenth is held
    out: of each class's files, or of the shards (which mix the classes).

    A class of one image gives none (its image is all it has to train on),
    so the held-out tenth comes from the classes of 2 or more images; those
    without a validation image are listed in the validation split's
    ``missing_classes`` (``missing_classes_note`` says it to the user). When
    no class can give one, there is no validation split to make, and the
    folder is refused: Keras, given an empty validation set, would warn that
    its "input ran out of data", score no epoch and save no best weights,
    which the commands reading a run (``evaluate``, ``predict``) rely on.

    Raises:
        ValueError: With one line naming the folder or file at fault, or
            saying that no validation split can be made and what to do.
    """
    if data.is_prepared(root):
        index = data.read_index(root)
        splits = {name: _shard_split(index, name) for name in index.splits}
        if val_data is not None:
            splits["val"] = _validation_folder(val_data, index.class_names, verify=verify)
        splits["class_names"] = index.class_names
        if "val" not in splits:
            splits["train"], splits["val"] = _hold_out_shards(splits["train"], root)
        _check_validation(splits["val"], root)
        return splits
    if os.path.isdir(os.path.join(root, "train")):
        train = data.image_folder(os.path.join(root, "train"), verify=verify)
        folders = {"train": train}
        for name in ("val", "test"):
            folder = os.path.join(root, name)
            if name == "val" and val_data:
                folder = val_data
            if os.path.isdir(folder):
                folders[name] = data.image_folder(
                    folder, class_names=train.class_names, verify=verify
                )
    else:
        train = data.image_folder(root, verify=verify)
        folders = {"train": train}
        if val_data:
            folders["val"] = data.image_folder(
                val_data, class_names=train.class_names, verify=verify
            )
    splits = {
        name: Split(folder.paths, folder.labels, count=len(folder), skipped=folder.skipped)
        for name, folder in folders.items()
    }
    splits["class_names"] = train.class_names
    if "val" not in splits:
        train_part, val_part = split_off(train.paths, train.labels, fraction=0.1, seed=seed)
        splits["train"] = Split(*train_part, count=len(train_part[0]), skipped=train.skipped)
        held = set(val_part[1].tolist())
        missing = [name for i, name in enumerate(train.class_names) if i not in held]
        splits["val"] = Split(*val_part, count=len(val_part[0]), missing_classes=missing)
    _check_validation(splits["val"], root)
    return splits


def missing_classes_note(split, *, shown=5):
    """One line saying which classes ``split`` (a held-out validation split) lacks, or None.

    Their accuracy is measured in no epoch, and the best epoch is chosen
    without them: worth a line, not a refusal (a class of one photo beside
    classes of hundreds is common).
    """
    missing = split.missing_classes
    if not missing:
        return None
    names = ", ".join(map(repr, missing[:shown]))
    if len(missing) > shown:
        names += f" and {len(missing) - shown} more"
    which, each = ("class", "") if len(missing) == 1 else (f"{len(missing)} classes", " each")
    return (
        f"no validation image for {which} {names} (a single image{each}, kept for training); "
        "to validate every class, pass --val-data DIR or add a val/ sub-folder"
    )


def _check_validation(split, root):
    """Refuses an empty validation split: see ``load_splits``."""
    if split.count > 0:
        return
    if split.shards is not None:
        what = "the held-out shards hold no images"
    else:
        what = (
            "every class has a single image (a tenth of each class of 2 or more images "
            "is held out for validation)"
        )
    raise ValueError(
        f"no validation split can be made: {what}; pass --val-data DIR or add a val/ "
        f"sub-folder, or add images so that classes have 2 or more. "
        f"Received: data={os.fspath(root)!r}"
    )


def _validation_folder(val_data, class_names, *, verify):
    """All of ``val_data`` (an image folder or a prepared one) as a split of ``class_names``."""
    if not data.is_prepared(val_data):
        folder = data.image_folder(val_data, class_names=class_names, verify=verify)
        return Split(folder.paths, folder.labels, count=len(folder), skipped=folder.skipped)
    index = data.read_index(val_data)
    if list(index.class_names) != list(class_names):
        raise ValueError(
            f"Validation data has other classes than the training data ({len(index.class_names)} "
            f"against {len(class_names)}). Received: val_data={os.fspath(val_data)!r}"
        )
    # A prepared folder's own validation split if it has one, else all it has.
    return _shard_split(index, "val" if "val" in index.splits else "train")


def digits_splits(seed=0):
    """The embedded digits as splits (uint8 arrays)."""
    loaded = data.load_digits(seed=seed)
    splits = {
        name: Split(*loaded[name], count=len(loaded[name][1])) for name in ("train", "val", "test")
    }
    splits["class_names"] = loaded["class_names"]
    return splits


def _shard_split(index, name):
    return Split(shards=index.splits[name], count=index.counts[name])


def _hold_out_shards(split, root):
    shards = split.shards
    if len(shards) < 2:
        raise ValueError(
            f"Prepared data has no validation split and one training shard to hold out "
            f"from; prepare a folder with train/ and val/ or pass --val-data. Received: "
            f"data={os.fspath(root)!r}"
        )
    held = max(1, round(0.1 * len(shards)))
    train, val = shards[:-held], shards[-held:]
    count = lambda files: sum(f.records for f in files)
    return Split(shards=train, count=count(train)), Split(shards=val, count=count(val))


def split_off(paths, labels, *, fraction, seed):
    """Holds out ``fraction`` of each class (at least one image) for validation."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(paths), dtype=bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) > 1:
            k = max(1, round(fraction * len(members)))
            val[rng.choice(members, size=k, replace=False)] = True
    pick = lambda mask: ([p for p, m in zip(paths, mask) if m], labels[mask])
    return pick(~val), pick(val)
