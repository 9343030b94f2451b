"""A training run's data: the digits, an image folder or prepared shards, as uint8 batches.

``load_splits`` finds the splits of ``--data`` (and ``--val-data``) and
``Split.dataset`` turns one into batches for a model whose first layer is
``data.device.InputPreprocessing`` (uint8 RGB in, channels last). Shards are
read by each worker of a multi-worker run from its own files.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from keras_resnet import data


@dataclasses.dataclass
class Split:
    """One split of the data: arrays, files or shards.

    Attributes:
        images: Image paths or a uint8 array (None for shards).
        labels: Integer labels (None for shards).
        shards: ``data.ShardFile`` list (None otherwise).
        count: Number of images.
        skipped: ``(path, reason)`` of files left out as unreadable.
    """

    images: object = None
    labels: np.ndarray = None
    shards: list = None
    count: int = 0
    skipped: list = dataclasses.field(default_factory=list)

    def repeats(self, distribution):
        """Whether the training dataset repeats (shards read per worker): fit needs steps."""
        return (
            self.shards is not None
            and distribution is not None
            and distribution.name == "multiworker"
        )

    def dataset(
        self, *, augmentation, image_size, batch_size, num_classes, train=False, seed=None,
        distribution=None,
    ):
        """uint8 batches of this split: the augmentation's transform when ``train``.

        Shards under a multi-worker distribution are read by each worker from
        its own files (``data.worker_shards``) through
        ``distribute_datasets_from_function``; the training set then repeats,
        and ``steps_per_epoch`` says where an epoch ends.
        """
        if train:
            transform = data.training_transform(augmentation, image_size=image_size)
        else:
            transform = data.eval_transform(augmentation, image_size=image_size)
        options = dict(
            transform=transform, batch_size=batch_size, num_classes=num_classes,
            drop_remainder=train,
        )
        if self.shards is None:
            return data.make_dataset(
                self.images, self.labels, shuffle=train, seed=seed, **options
            )
        files = [shard.path for shard in self.shards]
        if not (train and self.repeats(distribution)):
            # The index's count: Keras then knows an epoch's length (and a
            # shard holding other than its count of records fails loudly).
            records = data.shard_records(files, shuffle=train, seed=seed).apply(
                tf.data.experimental.assert_cardinality(self.count)
            )
            return data.records_dataset(
                records, shuffle_buffer=_SHUFFLE_BUFFER if train else 0, seed=seed, **options
            )

        def worker_dataset(context):
            records = data.shard_records(
                files, shuffle=True, seed=seed, worker_index=context.input_pipeline_id,
                num_workers=context.num_input_pipelines,
            )
            options["batch_size"] = context.get_per_replica_batch_size(batch_size)
            return data.records_dataset(
                records, shuffle_buffer=_SHUFFLE_BUFFER, seed=seed, **options
            ).repeat()

        return distribution.tf_strategy.distribute_datasets_from_function(worker_dataset)


# Records shuffled after the shards' interleave: a few thousand JPEGs
# (a few hundred MB at ImageNet's sizes).
_SHUFFLE_BUFFER = 2048


def load_splits(root, *, val_data=None, seed=0, verify=True):
    """``{"train": Split, "val": Split, ["test": Split], "class_names": [...]}``.

    ``root`` is a folder ``keras-resnet prepare`` wrote (shards), a folder
    with ``train/`` (and ``val/``, ``test/``) sub-folders, or one image
    folder. Without a validation split, a tenth is held out: of each class's
    files, or of the shards (which mix the classes).

    Raises:
        ValueError: With one line naming the folder or file at fault.
    """
    if data.is_prepared(root):
        index = data.read_index(root)
        splits = {name: _shard_split(index, name) for name in index.splits}
        if val_data is not None:
            splits["val"] = load_splits(val_data, seed=seed, verify=verify)["train"]
        splits["class_names"] = index.class_names
        if "val" not in splits:
            splits["train"], splits["val"] = _hold_out_shards(splits["train"], root)
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
        splits["val"] = Split(*val_part, count=len(val_part[0]))
    return splits


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
