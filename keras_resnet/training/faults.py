"""Fault injection for the crash tests: one environment variable, read here only.

A crash at a precise point cannot be provoked by timing a ``kill`` from the
outside. ``KERAS_RESNET_FAULT`` names the point instead:

    kill-after-checkpoint:<epoch>
        The process kills itself (SIGKILL, as ``kill -9`` does) once the
        checkpoint of ``epoch`` (1-based) is committed, before anything
        derived from it (log row, best weights) is written.
    no-space:<file name>
        The atomic write of the file with that name fails as a full disk
        makes it fail: ``OSError(ENOSPC)``, after the temporary file is
        written and before it replaces the old one.

Unset (always, outside tests), every function here does nothing.
"""

import errno
import os
import signal

VARIABLE = "KERAS_RESNET_FAULT"


def _fault():
    """``(point, argument)`` of the fault asked for, or ``("", "")``."""
    point, _, argument = os.environ.get(VARIABLE, "").partition(":")
    return point, argument


def checkpoint_committed(epoch):
    """Dies here if asked to after ``epoch``'s checkpoint."""
    if _fault() == ("kill-after-checkpoint", str(epoch)):
        os.kill(os.getpid(), signal.SIGKILL)


def before_replace(path):
    """Raises ``OSError(ENOSPC)`` here if asked to for ``path``'s file name."""
    if _fault() == ("no-space", os.path.basename(path)):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
