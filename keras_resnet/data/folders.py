"""Image folders: one sub-folder of JPEG/PNG files per class, checked before use.

Files are checked with the decoder the pipeline reads them with
(``transforms.decode_image``), so a file that passes the check is one the
pipeline can read: two decoders would disagree on some files (PIL loads a PNG
whose chunk CRC is wrong; TensorFlow refuses it), and such a file used to be
dropped inside the pipeline, out of step with the list of paths.

Each file's verdict is cached with its size and modification time, so
checking a large folder again decodes only what changed (``verify_images``
says what invalidates the cache).

An image whose header claims more than ``headers.MAX_PIXELS`` pixels is
refused by that size, before decoding. What the native decoders print while
a file is checked ("Improper call to JPEG library in state 201" for a
truncated JPEG) is held back (``decoder_messages_held``): the file's one
line comes from the caller, with the decoder's reason.
"""

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import threading

import numpy as np
import tensorflow as tf

from keras_resnet.data import atomic, headers
from keras_resnet.data.transforms import decode_image

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass
class ImageFolder:
    """Files of a class-per-sub-folder dataset.

    Attributes:
        paths: Image paths, sorted by class then file name.
        labels: Integer label of each path.
        class_names: Sub-folder names, sorted; label ``i`` is ``class_names[i]``.
        skipped: ``(path, reason)`` of each file left out as unreadable.
    """

    paths: list
    labels: np.ndarray
    class_names: list
    skipped: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.paths)


def find_images(directory, *, class_names=None):
    """Lists the images of a class-per-sub-folder dataset.

    Args:
        directory: A folder with one sub-folder of JPEG/PNG files per class.
        class_names: Expected classes, in label order (e.g. the training
            set's, when listing a validation folder). Defaults to the sorted
            sub-folder names.

    Returns:
        An ``ImageFolder`` (nothing verified yet, ``skipped`` empty).

    Raises:
        ValueError: If the folder does not exist, has no class sub-folders,
            has fewer than 2 classes, has a class sub-folder without images,
            or lacks an expected class.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"Data folder not found. Received: data={directory!r}")
    found = sorted(
        entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith(".")
    )
    if not found:
        raise ValueError(
            "Data folder has no class sub-folders (expected one folder of images "
            f"per class). Received: data={directory!r}"
        )
    if class_names is None:
        class_names = found
    if len(class_names) < 2:
        # One class trains a model that answers it for every image, at 100%
        # accuracy: almost surely a wrong --data path, worth stopping at once.
        raise ValueError(
            f"Too few classes: {len(class_names)} ({', '.join(map(repr, class_names))}); "
            "a classifier needs at least 2 classes, one sub-folder of images each. "
            f"Received: data={directory!r}"
        )
    missing = sorted(set(class_names) - set(found))
    if missing:
        raise ValueError(
            f"Data folder lacks class folder(s) {missing}. Received: data={directory!r}"
        )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(directory, name)
        files = sorted(
            f for f in os.listdir(folder)
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        )
        if not files:
            raise ValueError(
                f"Class folder {name!r} has no JPEG or PNG images. "
                f"Received: data={directory!r}"
            )
        paths.extend(os.path.join(folder, f) for f in files)
        labels.extend([label] * len(files))
    return ImageFolder(paths, np.asarray(labels, dtype=np.int32), list(class_names))


def check_image(path):
    """Returns None if the pipeline can decode ``path``, else the reason.

    The file is decoded in full by ``transforms.decode_image``, the very op
    ``make_dataset`` reads it with; whatever that op reads (JPEG, PNG, GIF,
    BMP, WebP) passes, whatever it refuses does not. An image whose header
    claims more than ``headers.MAX_PIXELS`` pixels is refused without
    being decoded. The native decoders' own messages are held back
    (``decoder_messages_held``).
    """
    too_large = headers.size_problem(path)
    if too_large is not None:
        return too_large
    try:
        with decoder_messages_held():
            # Bytes: a name that is not UTF-8 (surrogate escapes in Python) is no tf.string.
            decode_image(os.fsencode(path))
    except tf.errors.OpError as e:
        return _reason(e)
    return None


_held_lock = threading.Lock()
_held = {"depth": 0, "saved": None, "file": None}


@contextlib.contextmanager
def decoder_messages_held():
    """Holds back what native code writes to stderr (file descriptor 2) meanwhile.

    libjpeg prints its errors there ("Improper call to JPEG library in
    state 201") before TensorFlow raises them as an exception, which the
    caller reports in its own words. They are held when TensorFlow's native
    log is off (``TF_CPP_MIN_LOG_LEVEL`` 3, what ``import keras_resnet``
    sets unless the user chose a level; ``keras-resnet --debug`` shows
    them), and logged at debug level instead. Re-entrant and shared by
    threads: descriptor 2 is the process's, redirected by the first to
    enter and restored by the last to leave.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() != "3":
        yield
        return
    with _held_lock:
        if _held["depth"] == 0:
            _hold()
        _held["depth"] += 1
    try:
        yield
    finally:
        with _held_lock:
            _held["depth"] -= 1
            if _held["depth"] == 0:
                _release_held()


def _hold():
    _flush_stderr()
    held = tempfile.TemporaryFile()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2: nothing to hold back
        held.close()
        return
    os.dup2(held.fileno(), 2)
    _held.update(saved=saved, file=held)


def _flush_stderr():
    with contextlib.suppress(Exception):
        sys.stderr.flush()


def _release_held():
    saved, held = _held["saved"], _held["file"]
    if saved is None:
        return
    _flush_stderr()
    os.dup2(saved, 2)
    os.close(saved)
    held.seek(0)
    text = held.read().decode(errors="replace").strip()
    held.close()
    _held.update(saved=None, file=None)
    if text:
        logger.debug("native decoder messages (held back): %s", text)


def _reason(error):
    """TensorFlow's message without its op and device decorations."""
    message = re.sub(r"\{\{.*?\}\}", "", error.message)
    message = re.sub(r"\[Op:\w+\].*", "", message, flags=re.DOTALL)
    return message.strip() or type(error).__name__


def printable(name):
    """A file or folder name as text that any terminal or log can write.

    The name itself when it is valid UTF-8; otherwise the repr of its bytes
    (``b'/data/\\xff.png'``): Python holds such a name with surrogate
    escapes, which a UTF-8 stream refuses to write.
    """
    text = os.fsdecode(name)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(text))
    return text


def verify_images(folder, *, workers=None, cache=True):
    """Decodes every file once and leaves out the unreadable ones, reporting each by path.

    A file that would crash (or, worse, be silently replaced) in the middle
    of an epoch is found here, before training, instead.

    The verdicts are cached, so a second run over a large folder decodes
    only what changed. The cache is one JSON file per data folder (the
    parent of the class folders), ``$KERAS_HOME/keras_resnet/verified/<key>.json``
    (``~/.keras`` without ``KERAS_HOME``; the key is a hash of the folder's
    absolute path), mapping each file's path relative to that folder to its
    size, modification time (ns) and verdict. A file is decoded again when
    its size or modification time differs from the cached one, when it is
    new, or when a file of the same name replaced it (which changes its
    modification time); the whole cache is dropped when TensorFlow's version
    differs from the one that wrote it (another decoder may accept other
    files); deleting the cache file drops it too. A cache that cannot be
    written is logged at debug level, and verification works as without it.

    Args:
        folder: An ``ImageFolder``.
        workers: Threads decoding in parallel (TensorFlow ops release the GIL).
        cache: Read and update the cache; ``False`` decodes every file.

    Returns:
        A new ``ImageFolder`` without the bad files; they are listed in
        ``skipped`` and logged as warnings.
    """
    workers = workers or min(16, (os.cpu_count() or 1) * 2)
    paths = folder.paths
    # Stat before decoding: a file changed during the check is checked again next time.
    stats = [_stat(path) for path in paths]
    cache_path, entries, keys = None, {}, [None] * len(paths)
    if cache and paths:
        directory = os.path.dirname(os.path.dirname(os.path.abspath(paths[0])))
        cache_path = _cache_path(directory)
        entries = _load_cache(cache_path)
        keys = [_cache_key(directory, path) for path in paths]
    reasons, todo = [None] * len(paths), []
    for i, (key, stat) in enumerate(zip(keys, stats)):
        entry = entries.get(key)
        if stat is not None and isinstance(entry, list) and entry[:2] == list(stat):
            reasons[i] = entry[2]
        else:
            todo.append(i)
    with decoder_messages_held(), concurrent.futures.ThreadPoolExecutor(workers) as pool:
        checked = list(pool.map(check_image, [paths[i] for i in todo]))
    for i, reason in zip(todo, checked):
        reasons[i] = reason
        if stats[i] is not None:
            entries[keys[i]] = [*stats[i], reason]
    if cache_path is not None:
        _save_cache(cache_path, entries, keys, changed=bool(todo))
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    skipped = [(p, r) for p, r in zip(paths, reasons) if r is not None]
    for path, reason in skipped:
        logger.warning("skipping unreadable image %s (%s)", printable(path), reason)
    return ImageFolder(
        [paths[i] for i in keep],
        folder.labels[keep],
        folder.class_names,
        folder.skipped + skipped,
    )


def _stat(path):
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _cache_path(directory):
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    key = hashlib.sha256(os.fsencode(directory)).hexdigest()[:16]
    return os.path.join(os.path.expanduser(home), "keras_resnet", "verified", key + ".json")


def _cache_key(directory, path):
    return os.path.relpath(os.path.abspath(path), directory).replace(os.sep, "/")


def _load_cache(path):
    """The cached entries, or none if the file is absent, unreadable or another TF's."""
    try:
        with open(path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(cache, dict) or cache.get("tensorflow") != tf.__version__:
        return {}
    files = cache.get("files")
    return files if isinstance(files, dict) else {}


def _save_cache(path, entries, keys, *, changed):
    # Entries of files gone from the listed class folders are dropped; those
    # of other class folders (a listing restricted by class_names) are kept.
    listed, classes = set(keys), {key.split("/")[0] for key in keys}
    kept = {k: v for k, v in entries.items() if k in listed or k.split("/")[0] not in classes}
    if not changed and len(kept) == len(entries):
        return
    try:
        atomic.write_json(
            path, {"tensorflow": tf.__version__, "files": kept}, separators=(",", ":")
        )
    except OSError as e:
        logger.debug("cannot write the verification cache %s: %s", path, e)


def image_folder(directory, *, class_names=None, verify=True, cache=True):
    """``find_images`` then, unless ``verify=False``, ``verify_images`` (cached, see there).

    Raises:
        ValueError: As ``find_images``, and for a class none of whose files
            can be read.
    """
    folder = find_images(directory, class_names=class_names)
    if not verify:
        return folder
    folder = verify_images(folder, cache=cache)
    _check_every_class_readable(folder, directory)
    return folder


def _check_every_class_readable(folder, directory):
    # A class with only unreadable files is as empty as a class folder
    # without images, which find_images refuses.
    counts = np.bincount(folder.labels, minlength=len(folder.class_names))
    for name, count in zip(folder.class_names, counts):
        if count == 0:
            path, reason = next(
                (p, r) for p, r in folder.skipped if os.path.basename(os.path.dirname(p)) == name
            )
            raise ValueError(
                f"Class folder {name!r} has no readable images (the first: "
                f"{printable(path)}: {reason}). Received: data={os.fspath(directory)!r}"
            )
