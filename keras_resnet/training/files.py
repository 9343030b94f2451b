"""Files written atomically: a crash leaves the old file or the new one, never half of one.

A write that fails because the disk is full raises ``OSError(ENOSPC)`` naming
the file it was for (not its temporary file), and leaves the old file as it
was.
"""

import contextlib
import errno
import io
import json
import logging
import os
import re
import shutil

from keras_resnet._files import create_temporary
from keras_resnet.training import faults

logger = logging.getLogger(__name__)

# The names ``_new_temporary`` makes: ``.tmp-`` then ``secrets.token_hex(4)``.
_TEMPORARY = re.compile(r"\.tmp-[0-9a-f]{8}-.+")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in ``path``'s folder; renames it to ``path`` on success.

    Raises:
        OSError: With ``errno.ENOSPC`` and ``filename=path`` when the disk is
            full; ``path`` is then unchanged.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = _new_temporary(folder, os.path.basename(path))
    try:
        yield tmp
        faults.before_replace(path)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno != errno.ENOSPC or e.filename == path:
            raise
        # The temporary file's name means nothing to the reader.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _new_temporary(folder, name):
    """Creates an empty ``.tmp-<random>-<name>`` in ``folder`` and returns its path.

    The file gets the mode any new file gets (see ``_files.create_temporary``).
    The name keeps ``name``'s suffix (``.weights.h5``), which Keras checks.
    """
    return create_temporary(folder, ".tmp-", f"-{name}")


def remove_temporaries(folder):
    """Removes the temporary files ``atomic_path`` left in ``folder`` (not its sub-folders).

    A process killed during an atomic write (``kill -9``, a power cut)
    leaves its ``.tmp-<8 hex digits>-<name>`` file behind. Only files of
    exactly that form are removed. Whoever calls this must hold ``folder``
    for writing (a run directory's lock, say): a temporary file of a process
    writing there now would be removed from under it.

    Returns:
        The names removed. A file that cannot be removed is logged at debug
        level and left (it is no more in the way than before).
    """
    removed = []
    try:
        entries = [entry for entry in os.scandir(folder) if _TEMPORARY.fullmatch(entry.name)]
    except OSError as e:  # no such folder (a new run has no backup yet), or unreadable
        if e.errno != errno.ENOENT:
            logger.debug("cannot list %s for stale temporary files: %s", folder, e)
        return removed
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                continue  # not one of ours
            os.remove(entry.path)
        except OSError as e:
            logger.debug("cannot remove the stale temporary file %s: %s", entry.path, e)
        else:
            removed.append(entry.name)
    return removed


def write_json(path, obj):
    """Writes ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2)


def copy_file(source, path):
    """Copies ``source`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)


class _WeightsBuffer(io.BytesIO):
    """An in-memory ``.weights.h5`` file for ``model.save_weights``.

    Keras checks the suffix of ``str(filepath)`` and hands anything file-like
    to h5py, which then writes into this buffer.
    """

    def __str__(self):
        return "memory.weights.h5"


def save_weights(model, path):
    """``model.save_weights`` atomically, HDF5 writing to memory only.

    HDF5 crashes the process (a segmentation fault, after h5py's errors) when
    it closes a file whose write failed for a full disk. So the file is made
    in memory, and only the finished bytes go to disk, where a full disk is
    an ordinary ``OSError``. The cost is one copy of the file in memory for
    the time of the write.
    """
    buffer = _WeightsBuffer()
    with _outside_distribution():
        model.save_weights(buffer)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(buffer.getbuffer())


@contextlib.contextmanager
def _outside_distribution():
    """Keras's global distribution unset for the block (a no-op without one).

    Saving makes throwaway objects (a reference optimizer to tell its own
    attributes from the model's), whose variables a multi-process
    ``keras.distribution`` would place with a collective that the processes
    not saving never join: the one process that writes would wait forever.
    The model's replicated weights are read locally either way.
    """
    import keras

    current = keras.distribution.distribution()
    if current is None:
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)
