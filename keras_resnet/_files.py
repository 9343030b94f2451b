"""Files written safely: temporaries with the mode a file written in place gets, and
whether a place can be written at all before minutes of work go into it."""

import os
import secrets
import tempfile


def create_temporary(folder, prefix, suffix=""):
    """Creates an empty ``<prefix><random><suffix>`` file in ``folder``; returns its path.

    Unlike ``tempfile.mkstemp`` (mode 0600), the file gets the mode any new
    file gets (0666 less the umask), so once renamed into place it is as
    readable as a file written there directly: a ``KERAS_HOME`` shared by a
    group stays readable by the group. The umask is applied by the kernel at
    creation, never read or changed (``os.umask`` would race other threads).
    """
    while True:
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return path
        except FileExistsError:
            continue


def unwritable(path, *, folder=False):
    """Why nothing can be written at ``path`` (one phrase), or None if it can. Creates nothing.

    Args:
        path: A file to be written, or with ``folder=True`` a folder to be
            made (with its parents) and written in.

    The test is a real write of a temporary file in the deepest folder that
    exists: permission bits say nothing to root or on a read-only mount.
    """
    path = os.path.abspath(path)
    if folder:
        if os.path.exists(path) and not os.path.isdir(path):
            return "is a file, not a folder"
        existing = path
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            return f"{existing} is a file, not a folder"
    else:
        if os.path.isdir(path):
            return "is a folder"
        existing = os.path.dirname(path)
        if not os.path.isdir(existing):
            return f"its folder {existing} does not exist"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        return f"cannot write in {existing} ({e.strerror})"
    return None
