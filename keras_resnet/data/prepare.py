"""``prepare_shards``: an image folder written once as sharded TFRecord files (``shards``).

Every image is decoded once, as the check that the pipeline can read it. A
JPEG of 1 or 3 channels whose shorter side is at most ``shorter_side`` is
stored as it is (lossless, and fast); anything else (a larger image, PNG with
or without alpha, 16-bit PNG, CMYK JPEG, GIF, BMP) is decoded to 8-bit RGB,
its shorter side brought down to ``shorter_side`` (never up), and stored as a
JPEG of ``quality``. A JPEG whose EXIF orientation turns it (any value but
1) is stored upright, re-encoded, without the tag: shards hold images as
they are shown. A file TensorFlow cannot decode, or whose header claims more
than ``headers.MAX_PIXELS`` pixels (not decoded at all), is left out and
reported by path with the reason.

Each split's file list is shuffled with a fixed seed before it is cut into
shards, so every shard mixes the classes: training reads a few shards at a
time through a finite shuffle buffer, which a shard of one class would defeat.

Resuming and atomicity. ``prepare.json`` (the settings and a digest of every
source file's path, size and modification time) is written first. Each shard
is written to ``<name>.tmp-<pid>``, synced and renamed; then a done marker,
``.done/<name>.json``, records its byte size, records, class counts, skipped
files and a digest of the files planned for it. A rerun with the same plan
keeps every shard whose marker matches the file on disk (a ``stat``, no
re-reading) and writes the others; a shard renamed but killed before its
marker is simply written again. ``index.json`` comes last, atomically. A rerun
over a finished folder reads every shard's records (their CRC32C checksums)
and rewrites any that fail: the repair of a shard that training reported
damaged (flipped bytes keep its size). A rerun with other settings, or after
the source changed, is refused unless ``overwrite=True``.
"""

import concurrent.futures
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil

import numpy as np
import tensorflow as tf

from keras_resnet.data import atomic, folders, headers, orientation, shards
from keras_resnet.data.transforms import resize_shorter_side

PLAN_FILE = "prepare.json"
DONE_FOLDER = ".done"
_PLAN_FORMAT = "keras_resnet.prepare/1"
_OUR_FILES = re.compile(
    r"^([a-z]+-\d{5}-of-\d{5}\.tfrecord|.*\.tmp-\d+|index\.json|prepare\.json)$"
)


def prepare_shards(
    source,
    destination,
    *,
    shorter_side=480,
    images_per_shard=1024,
    quality=90,
    workers=None,
    overwrite=False,
    progress=print,
):
    """Writes an image-folder dataset as sharded TFRecord files, resumably.

    ``source`` is either one folder of class sub-folders (the split
    ``"train"``) or a folder with ``train/`` and optionally ``val/`` and
    ``test/`` (other sub-folders are ignored); ``val`` and ``test`` take
    ``train``'s class names.

    Args:
        source: The image folder.
        destination: The folder to write (created if needed).
        shorter_side: Largest shorter side stored. 480 is the largest the
            paper's scale augmentation asks for at 224 px, so no augmentation
            at 224 px upsamples beyond what was stored.
        images_per_shard: Images planned per shard file.
        quality: JPEG quality of re-encoded images (1-100).
        workers: Shards written in parallel (threads; default: CPU count).
        overwrite: Clear the destination's shards and index first.
        progress: Called with one line per finished shard and per skipped
            file; ``None`` for silence.

    Returns:
        The ``ShardIndex`` of the finished folder.

    Raises:
        ValueError: One line: a bad setting, a source ``find_images``
            refuses, a destination prepared with another plan (without
            ``overwrite``), a class with no readable image.
        DiskFull: The destination's disk filled up; the shards finished so
            far are kept, and a rerun once there is space resumes.
    """
    _check_settings(shorter_side, images_per_shard, quality, workers)
    say = progress or (lambda line: None)
    source = os.path.abspath(os.fspath(source))
    destination = os.path.abspath(os.fspath(destination))
    if os.path.commonpath([source, destination]) == source:
        raise ValueError(f"The destination must not be inside the source. Received: {destination}")
    splits = _find_splits(source)
    settings = {
        "shorter_side": shorter_side, "images_per_shard": images_per_shard, "quality": quality
    }
    plan = {"format": _PLAN_FORMAT, "source": source, **settings, "splits": {
        name: {"folder": folder_path, "files": len(folder), "digest": _digest(folder)}
        for name, (folder_path, folder) in splits.items()
    }}
    class_names = splits["train"][1].class_names
    tasks = [
        task for name, (_, folder) in splits.items()
        for task in _shard_tasks(name, folder, images_per_shard)
    ]
    try:
        if _open_destination(destination, plan, overwrite, say):
            return shards.read_index(destination)
        markers = _write_shards(destination, tasks, settings, len(class_names), workers, say)
        index = _index(class_names, settings, splits, tasks, markers)
        _report_skipped(index, splits, say)
        empty = [n for n, c in zip(class_names, index["splits"]["train"]["class_counts"]) if not c]
        if empty:
            raise ValueError(
                f"Class folder {empty[0]!r} has no readable images. Received: data={source!r}"
            )
        atomic.write_json(os.path.join(destination, shards.INDEX_FILE), index, indent=1)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        kept = sum(_done_marker(destination, task) is not None for task in tasks)
        raise DiskFull(destination, kept, len(tasks)) from e
    return shards.read_index(destination)


class DiskFull(OSError):
    """The destination's disk (or quota) filled up: one line, with how to resume."""

    def __init__(self, destination, kept, total):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), destination)
        self.line = (
            f"the disk holding {destination} is full; {kept} of {total} shards are written "
            "and kept: free some space and run the same command again to resume"
        )

    def __str__(self):
        return self.line


def _check_settings(shorter_side, images_per_shard, quality, workers):
    for name, value in (("shorter_side", shorter_side), ("images_per_shard", images_per_shard)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ValueError(f"`quality` must be an integer in [1, 100]. Received: quality={quality!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"`workers` must be a positive integer. Received: workers={workers!r}")


def _find_splits(source):
    """``{split: (folder, ImageFolder)}``: ``train`` (``val``, ``test``) or the source itself."""
    if not os.path.isdir(os.path.join(source, "train")):
        return {"train": (source, folders.find_images(source))}
    train_folder = os.path.join(source, "train")
    splits = {"train": (train_folder, folders.find_images(train_folder))}
    for name in ("val", "test"):
        folder = os.path.join(source, name)
        if os.path.isdir(folder):
            found = folders.find_images(folder, class_names=splits["train"][1].class_names)
            splits[name] = (folder, found)
    return splits


def _relative(folder, path, label):
    # find_images lists <folder>/<class>/<file>; "/" on every system.
    return f"{folder.class_names[label]}/{os.path.basename(path)}"


def _digest(folder):
    """sha256 of every file's relative path, label, size and modification time."""
    h = hashlib.sha256()
    for path, label in zip(folder.paths, folder.labels):
        stat = os.stat(path)
        h.update(os.fsencode(_relative(folder, path, label)))
        h.update(f"\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _open_destination(destination, plan, overwrite, say):
    """Readies ``destination`` for ``plan``; True if it is already prepared with it."""
    if overwrite and os.path.isdir(destination):
        _clear(destination)
    os.makedirs(destination, exist_ok=True)
    plan_path = os.path.join(destination, PLAN_FILE)
    try:
        with open(plan_path) as f:
            existing = json.load(f)
    except FileNotFoundError:
        existing = None
    except (OSError, ValueError):
        existing = {}
    if existing is not None and not isinstance(existing, dict):
        existing = {}
    if existing is None:
        foreign = sorted(n for n in os.listdir(destination) if n != DONE_FOLDER)
        if foreign and not overwrite:
            raise ValueError(
                f"{destination} is not empty and holds no keras-resnet prepare (it has "
                f"{foreign[0]!r}); choose another DST, or pass --overwrite to write there anyway"
            )
    elif existing != plan:
        raise ValueError(
            f"{destination} was prepared with {_difference(existing, plan)}; choose "
            "another DST, or pass --overwrite to replace it"
        )
    if existing == plan and shards.is_prepared(destination):
        try:
            index = shards.read_index(destination)
        except ValueError as e:
            say(f"prepare: {e}; rewriting what is damaged")
            os.remove(os.path.join(destination, shards.INDEX_FILE))
        else:
            if not _remove_damaged(destination, index, say):
                say(f"prepare: {destination} is already prepared (every shard's records checked)")
                return True
    for folder in (destination, os.path.join(destination, DONE_FOLDER)):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if re.search(r"\.tmp-\d+$", name):
                    os.remove(os.path.join(folder, name))  # a killed run's
    if existing != plan:
        atomic.write_json(plan_path, plan, indent=1)
    return False


def _remove_damaged(destination, index, say):
    """Removes each shard whose records fail their checksums, and the index; True if any.

    A shard of the right size may still hold flipped bytes, which only
    reading it finds (``shards.damage``): what training reports as damaged,
    a rerun rewrites. Without its done marker the shard is written again.
    """
    damaged = [
        (shard.path, reason) for files in index.splits.values() for shard in files
        if (reason := shards.damage(shard.path)) is not None
    ]
    for path, reason in damaged:
        say(f"prepare: shard {path} is damaged ({reason}); rewriting it")
        name = os.path.basename(path)
        for stale in (os.path.join(destination, DONE_FOLDER, name + ".json"), path):
            if os.path.exists(stale):
                os.remove(stale)
    if damaged:
        os.remove(os.path.join(destination, shards.INDEX_FILE))
    return bool(damaged)


def _difference(existing, plan):
    for key in ("source", "shorter_side", "images_per_shard", "quality"):
        if existing.get(key) != plan[key]:
            return f"{key} {existing.get(key)!r} (now {plan[key]!r})"
    return "other source files (some were added, removed or changed since)"


def _clear(destination):
    """Removes the shards and bookkeeping of a prepare; the index first."""
    index = os.path.join(destination, shards.INDEX_FILE)
    if os.path.exists(index):
        os.remove(index)
    shutil.rmtree(os.path.join(destination, DONE_FOLDER), ignore_errors=True)
    for name in os.listdir(destination):
        if _OUR_FILES.match(name):
            os.remove(os.path.join(destination, name))


def _shard_tasks(split, folder, images_per_shard):
    """The split's shards: ``(split, name, [(path, relative path, label), ...])``."""
    entries = [
        (path, _relative(folder, path, label), int(label))
        for path, label in zip(folder.paths, folder.labels)
    ]
    order = np.random.default_rng(0).permutation(len(entries))
    entries = [entries[i] for i in order]
    count = -(-len(entries) // images_per_shard)
    k = images_per_shard
    return [
        (split, shards.shard_name(split, i, count), entries[i * k : (i + 1) * k])
        for i in range(count)
    ]


def _task_digest(task):
    names = "\n".join(relative for _, relative, _ in task[2])
    return hashlib.sha256(names.encode(errors="surrogateescape")).hexdigest()


def _write_shards(destination, tasks, settings, num_classes, workers, say):
    """Writes the shards without a valid done marker; returns every shard's marker."""
    markers, todo = {}, []
    for task in tasks:
        marker = _done_marker(destination, task)
        if marker is None:
            todo.append(task)
        else:
            markers[task[1]] = marker
    total = len(tasks)
    if markers:
        say(f"prepare: resuming, {len(markers)} of {total} shards already written")
    pool = concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1)
    # libjpeg's messages about the files left out stay off the terminal:
    # each is reported once, by path, with the decoder's reason.
    with folders.decoder_messages_held(), pool:
        futures = [
            pool.submit(_write_shard, destination, task, settings, num_classes) for task in todo
        ]
        try:
            for future in concurrent.futures.as_completed(futures):
                marker = future.result()
                markers[marker["file"]] = marker
                say(
                    f"prepare: wrote {marker['file']} ({marker['records']} images) "
                    f"[{len(markers)}/{total}]"
                )
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return markers


def _done_marker(destination, task):
    """The shard's done marker if it matches the plan and the file on disk, else None."""
    try:
        with open(os.path.join(destination, DONE_FOLDER, task[1] + ".json")) as f:
            marker = json.load(f)
        size = os.stat(os.path.join(destination, task[1])).st_size
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("plan") != _task_digest(task):
        return None
    return marker if marker.get("bytes") == size else None


def _write_shard(destination, task, settings, num_classes):
    _, name, entries = task
    final = os.path.join(destination, name)
    tmp = f"{final}.tmp-{os.getpid()}"
    records, class_counts, skipped = 0, [0] * num_classes, []
    try:
        with _disk_errors(tmp), tf.io.TFRecordWriter(tmp) as writer:
            for path, relative, label in entries:
                encoded, reason = _encode(path, settings["shorter_side"], settings["quality"])
                if reason is not None:
                    skipped.append([folders.printable(relative), reason])
                    continue
                writer.write(shards.serialize_record(encoded, label, relative))
                records += 1
                class_counts[label] += 1
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    marker = {
        "file": name, "records": records, "bytes": os.stat(final).st_size,
        "plan": _task_digest(task), "class_counts": class_counts, "skipped": skipped,
    }
    try:
        atomic.write_json(os.path.join(destination, DONE_FOLDER, name + ".json"), marker, indent=1)
    except OSError:
        # A rerun rewrites a shard without its marker anyway; removing it
        # leaves under a final name only shards that have their marker.
        os.remove(final)
        raise
    return marker


@contextlib.contextmanager
def _disk_errors(path):
    """TensorFlow's full-disk error as the ``OSError`` Python gives (its errno lost: ENOSPC)."""
    try:
        yield
    except tf.errors.ResourceExhaustedError as e:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({e.message})", path) from e


def _encode(path, shorter_side, quality):
    """``(bytes to store, None)`` for a readable image file, ``(None, reason)`` otherwise."""
    too_large = headers.size_problem(path)
    if too_large is not None:
        return None, too_large
    try:
        with open(path, "rb") as f:
            contents = f.read()
    except OSError as e:
        return None, e.strerror or str(e)
    try:
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    except tf.errors.OpError as e:
        return None, folders._reason(e)
    # Shards hold the image as shown: a JPEG with an EXIF orientation other
    # than 1 is turned upright and re-encoded (without the tag), so any
    # reader of the shards sees it upright.
    turned = int(orientation.orientation_of(contents))
    image = orientation.upright(image, turned)
    small = min(image.shape[:2]) <= shorter_side
    # CMYK JPEGs (4 channels) are converted: readers ask libjpeg for 1 or 3.
    if small and turned == 1 and bool(tf.io.is_jpeg(contents)) and _channels(contents) in (1, 3):
        return contents, None
    if not small:
        resized = resize_shorter_side(tf.cast(image, tf.float32), shorter_side)
        image = tf.saturate_cast(tf.round(resized), tf.uint8)
    return tf.io.encode_jpeg(image, quality=quality).numpy(), None


def _channels(jpeg):
    return int(tf.io.extract_jpeg_shape(jpeg)[2])


def _index(class_names, settings, splits, tasks, markers):
    index = {"format": shards.SHARD_FORMAT, "class_names": class_names,
             "shorter_side": settings["shorter_side"], "quality": settings["quality"], "splits": {}}
    for name in splits:
        done = [markers[task[1]] for task in tasks if task[0] == name]
        index["splits"][name] = {
            "count": sum(m["records"] for m in done),
            "class_counts": [int(c) for c in np.sum([m["class_counts"] for m in done], axis=0)],
            "shards": [
                {"file": m["file"], "records": m["records"], "bytes": m["bytes"]} for m in done
            ],
            "skipped": sorted(item for m in done for item in m["skipped"]),
        }
    return index


def _report_skipped(index, splits, say):
    total = 0
    for name, entry in index["splits"].items():
        for relative, reason in entry["skipped"]:
            path = os.path.join(splits[name][0], relative)
            say(f"prepare: skipped unreadable image {path}: {reason}")
            total += 1
    if total:
        say(f"prepare: skipped {total} unreadable file(s)")
