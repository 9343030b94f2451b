"""Temporary files beside their target, with the mode a file written in place gets."""

import os
import secrets


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
