"""Keeps the backend's start-up noise out of the command line's output.

Importing TensorFlow prints native log lines before its logging is set up
("Could not find cuda drivers ...", CPU feature notes) and, on machines
without a GPU, a CUDA initialisation error when devices are first listed.
None of them is about the user's command. ``keras-resnet --debug`` shows them.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def _native_stderr_to(path):
    """Sends file descriptor 2 (where C++ code writes) to ``path`` inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def import_backend_quietly():
    """Imports Keras and its backend with the native log silenced.

    TensorFlow's own log level is raised to errors-only for the rest of the
    process (so the CUDA probe stays quiet too), unless the user set it. If
    the import fails, what it printed is shown after all.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "import.log")
        try:
            with _native_stderr_to(log):
                import keras  # noqa: F401  (imports the backend)
        except BaseException:
            with open(log, errors="replace") as f:
                sys.stderr.write(f.read())
            raise
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
