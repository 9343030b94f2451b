"""Sharded TFRecord datasets: the files ``keras-resnet prepare`` writes, and reading them back.

Why TFRecord: ``tf.data``, already the pipeline's engine, reads it natively,
many files at once with a parallel ``interleave``; and every record carries
CRC32C checksums of its length and of its data, so a damaged shard stops the
reader with an error instead of being read as garbage. ArrayRecord would add
a dependency for random access to single records, which training on shuffled
shards (shuffled file order, a few shards interleaved, a shuffle buffer) does
not need.

A prepared folder holds:

* ``<split>-00000-of-00012.tfrecord``: serialized ``tf.train.Example``
  records with ``image/encoded`` (JPEG bytes), ``image/class/label`` (int64)
  and ``image/filename`` (the path relative to the split's folder, bytes).
* ``index.json``: class names, counts, every shard's record count and byte
  size, the files left out as unreadable. Written last, atomically: a folder
  with an index is a finished one.
* ``prepare.json`` and ``.done/``: ``prepare``'s own record of its plan and
  of the shards already written, which lets an interrupted run resume.
"""

import contextlib
import dataclasses
import json
import os

import tensorflow as tf

from keras_resnet.data import folders

SHARD_FORMAT = "keras_resnet.shards/1"
INDEX_FILE = "index.json"

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def serialize_record(encoded, label, relative):
    """One shard record: the stored image bytes, its label and its path in the source folder.

    The writer's half of ``_FEATURES`` (``prepare`` writes with it): a
    ``tf.train.Example`` serialized deterministically. A protobuf map is
    written in an order that varies between processes (string hashing is
    seeded per process); sorted, the same images give the same shard bytes in
    every run, resumed or not.
    """
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "image/filename": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[os.fsencode(relative)])
        ),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


class DamagedShard(ValueError):
    """A shard whose records fail their checksums: one line naming it and the repair."""


@dataclasses.dataclass(frozen=True)
class ShardFile:
    """One TFRecord file of a prepared dataset.

    Attributes:
        path: Absolute path of the file.
        records: Number of images it holds.
        bytes: Its size, as written (checked by ``read_index``).
    """

    path: str
    records: int
    bytes: int


@dataclasses.dataclass
class ShardIndex:
    """What ``index.json`` says about a prepared folder.

    Attributes:
        directory: The folder, absolute.
        class_names: Label ``i`` is ``class_names[i]``.
        shorter_side: Images were stored with at most this shorter side.
        splits: ``{"train": [ShardFile, ...], "val": ...}``, in shard order.
        counts: Images per split.
        skipped: Per split, ``[relative path, reason]`` of each file left out
            as unreadable.
    """

    directory: str
    class_names: list
    shorter_side: int
    splits: dict
    counts: dict
    skipped: dict = dataclasses.field(default_factory=dict)


def shard_name(split, index, count):
    """``train-00003-of-00012.tfrecord``."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def is_prepared(path):
    """Whether ``path`` is a folder finished by ``prepare`` (it holds ``index.json``)."""
    return os.path.isfile(os.path.join(os.fspath(path), INDEX_FILE))


def read_index(path):
    """Reads a prepared folder's ``index.json`` and checks every shard it lists.

    Each shard must exist with exactly its recorded byte size: a cheap
    ``stat``, which refuses a truncated shard or a foreign file in its place
    before training starts, not hours into it.

    Args:
        path: The prepared folder (or its ``index.json``).

    Returns:
        A ``ShardIndex``.

    Raises:
        ValueError: One line naming the file: the index is missing,
            unreadable or not a shard index, or a shard is missing or has
            another size than recorded.
    """
    directory = os.path.abspath(os.fspath(path))
    if os.path.isfile(directory):
        directory = os.path.dirname(directory)
    index_path = os.path.join(directory, INDEX_FILE)
    try:
        with open(index_path, "rb") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise ValueError(
            f"{index_path} not found: not a folder finished by keras-resnet prepare"
        ) from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{index_path} cannot be read ({e}); rerun keras-resnet prepare") from None
    received = index.get("format") if isinstance(index, dict) else type(index).__name__
    if received != SHARD_FORMAT:
        raise ValueError(
            f"{index_path} is not a keras-resnet shard index (format {SHARD_FORMAT!r} "
            f"expected). Received: format={received!r}"
        )
    try:
        splits, counts, skipped = {}, {}, {}
        for split, entry in index["splits"].items():
            splits[split] = [
                ShardFile(
                    os.path.join(directory, shard["file"]),
                    int(shard["records"]),
                    int(shard["bytes"]),
                )
                for shard in entry["shards"]
            ]
            counts[split] = int(entry["count"])
            skipped[split] = [tuple(item) for item in entry.get("skipped", [])]
        class_names, shorter_side = list(index["class_names"]), int(index["shorter_side"])
        result = ShardIndex(directory, class_names, shorter_side, splits, counts, skipped)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{index_path} is malformed ({e!r}); rerun keras-resnet prepare") from None
    for files in splits.values():
        for shard in files:
            _check_size(shard)
    return result


def _check_size(shard):
    try:
        size = os.stat(shard.path).st_size
    except FileNotFoundError:
        raise ValueError(
            f"shard {shard.path} is missing, expected {shard.bytes} bytes; "
            "rerun keras-resnet prepare"
        ) from None
    if size != shard.bytes:
        raise ValueError(
            f"shard {shard.path} has {size} bytes, expected {shard.bytes} "
            "(truncated or replaced?); rerun keras-resnet prepare"
        )


def damage(path):
    """None if every record of the shard at ``path`` passes its checksums, else the reason.

    Reads the whole file (in TensorFlow's C++ reader, at disk speed):
    flipped bytes keep a shard's size, which ``read_index`` checks, but not
    its records' CRC32C.
    """
    try:
        tf.data.TFRecordDataset(os.fsencode(os.fspath(path))).reduce(0, lambda n, _: n + 1)
    except tf.errors.OpError as e:
        return folders._reason(e)  # "corrupted record at 2119"
    return None


@contextlib.contextmanager
def damaged_shards_named(files):
    """Turns a ``DataLossError`` raised inside into a ``DamagedShard`` naming the shard.

    TensorFlow's reader says only "corrupted record at 2119" (deep in a
    traceback), not which file; the shards are then read one by one
    (``damage``) to name the first damaged one. An error none of them
    explains is raised as it was.

    Args:
        files: ``ShardFile`` objects or paths the code inside reads.

    Raises:
        DamagedShard: ``shard PATH is damaged (corrupted record at N); rerun
            keras-resnet prepare to rewrite it``.
    """
    files = list(files)
    try:
        yield
    except tf.errors.DataLossError:
        for file in files:
            path = file.path if isinstance(file, ShardFile) else os.fspath(file)
            reason = damage(path)
            if reason is not None:
                raise DamagedShard(
                    f"shard {path} is damaged ({reason}); rerun keras-resnet prepare "
                    "to rewrite it"
                ) from None
        raise


def worker_shards(files, worker_index, num_workers):
    """The shards one of ``num_workers`` input workers reads: ``files[worker_index::num_workers]``.

    Raises:
        ValueError: If there are fewer shards than workers (a worker would
            read nothing), or ``worker_index`` is not in ``[0, num_workers)``.
    """
    files = list(files)
    if num_workers < 1 or not 0 <= worker_index < num_workers:
        raise ValueError(
            "`worker_index` must be in [0, num_workers). "
            f"Received: worker_index={worker_index}, num_workers={num_workers}"
        )
    if len(files) < num_workers:
        raise ValueError(
            f"{len(files)} shard file(s) for {num_workers} input workers: every worker "
            "needs at least one; prepare the data again with a smaller --images-per-shard"
        )
    return files[worker_index::num_workers]


def shard_records(
    files, *, shuffle=False, seed=None, worker_index=0, num_workers=1, cycle_length=None
):
    """A dataset of ``(contents, label)`` from TFRecord shards, images not decoded.

    ``contents`` is the stored file (a JPEG) as a ``tf.string`` scalar, for a
    transform that picks its crop from the JPEG header and decodes only that
    window; ``label`` is a ``tf.int32`` scalar.

    With ``shuffle``, the worker's shards are read in a new order every epoch
    (``seed`` makes the sequence of orders reproducible), ``cycle_length`` of
    them at a time, interleaved in parallel; records then come in no fixed
    order (follow with a shuffle buffer). Without it, by default, the shards
    are read one after the other: records in shard order, then record order,
    the same on every run, as evaluation wants. (A ``cycle_length`` given
    without ``shuffle`` reads that many shards at a time, taking records in
    turn: still the same order on every run.)

    The dataset is already this worker's part: its options turn off
    ``tf.distribute``'s auto-sharding (``AutoShardPolicy.OFF``), which would
    otherwise split it again among the replicas' input pipelines.

    Args:
        files: ``ShardFile`` objects (``ShardIndex.splits[split]``) or paths.
        shuffle: Shuffle the shard order every epoch; read shards in parallel.
        seed: Seed of the shard order.
        worker_index: This input worker's index, for ``worker_shards``.
        num_workers: Number of input workers.
        cycle_length: Shards read at a time (default 16 with ``shuffle``,
            1 without), at most the worker's number of shards.

    Returns:
        A ``tf.data.Dataset`` of ``(tf.string, tf.int32)`` scalars.
    """
    files = worker_shards(files, worker_index, num_workers)
    paths = [os.fsencode(f.path if isinstance(f, ShardFile) else f) for f in files]
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    if shuffle:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    cycle = min(len(paths), cycle_length or (16 if shuffle else 1))
    if cycle == 1:
        dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=1)
    else:
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=cycle,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=not shuffle,
        )
    dataset = dataset.map(_parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options)


def _parse(record):
    features = tf.io.parse_single_example(record, _FEATURES)
    return features["image/encoded"], tf.cast(features["image/class/label"], tf.int32)
