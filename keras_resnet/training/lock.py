"""One writer per run directory: an exclusive lock the kernel releases when its holder dies.

Two runs writing one directory interleave their log rows, overwrite each
other's ``run.json`` and delete each other's checkpoints. A run therefore
holds ``flock`` on ``run.lock`` in its directory for as long as it writes
there. The kernel drops the lock when the process ends, however it ends, so
a ``kill -9`` never leaves a stale lock behind; the file itself stays (it is
never deleted: a process could lock a deleted file while another creates a
new one, and both would think they hold the directory).

The lock is taken without waiting: a second run fails at once with
``RunDirInUse``, naming the holder's process id, which the holder writes into
the file once it holds the lock. Within one process the lock is reentrant,
so the command line can hold it around ``training.fit``, which takes it too.

Whoever takes the lock first (not again, within its process) removes the
temporary files that a writer killed in the middle of an atomic write left
in the directory and its ``backup/`` folder (``files.remove_temporaries``):
no process writes there but the holder, and the holder has not started
writing. A worker's ``workers/<index>/`` is its own, under its own lock.

On platforms without ``fcntl`` (Windows) run directories are not locked, and
no temporary file is removed (a live one cannot be told from a stale one).
"""

import contextlib
import os
import threading
import time

from keras_resnet.training.files import remove_temporaries

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_FILE = "run.lock"
# The folders of a run directory that atomic writes go to: itself and its backup.
_WRITTEN_FOLDERS = (".", "backup")

# The locks this process holds: lock file path -> [open file, depth].
_held = {}
_held_guard = threading.Lock()


class RunDirInUse(RuntimeError):
    """Another process holds the run directory.

    Attributes:
        run_dir: The directory.
        pid: The holder's process id, or None if it could not be read.
    """

    def __init__(self, run_dir, pid):
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(f"run directory {run_dir} is in use by {holder}")
        self.run_dir = run_dir
        self.pid = pid


@contextlib.contextmanager
def lock_run_dir(run_dir):
    """Holds ``run_dir`` (created if missing) for this process during the block.

    Taking it first in this process removes the temporary files a killed
    writer left there (see the module's docstring).

    Args:
        run_dir: The directory this process writes into.

    Raises:
        RunDirInUse: Another process holds it.
    """
    if fcntl is None:
        yield
        return
    os.makedirs(run_dir, exist_ok=True)
    key = os.path.realpath(os.path.join(run_dir, LOCK_FILE))
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
        else:
            _held[key] = [_acquire(run_dir, key), 1]
            for folder in _WRITTEN_FOLDERS:
                remove_temporaries(os.path.join(run_dir, folder))
    try:
        yield
    finally:
        with _held_guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                _held.pop(key)[0].close()  # closing the file releases the lock


def _acquire(run_dir, path):
    """Locks ``path`` and writes this process's id into it; returns the open file."""
    # "a+" creates the file without emptying it: the holder's id must
    # survive until the lock is ours.
    f = open(path, "a+")  # noqa: SIM115 (held open for as long as the lock)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RunDirInUse(run_dir, _holder_pid(path)) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def _holder_pid(path, attempts=20):
    """The process id in the lock file; waits briefly for a holder that has
    the lock but has not written its id yet."""
    for _ in range(attempts):
        with open(path) as f:
            text = f.read().strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    return None
