"""Imports Keras and its backend: quietly, and with one clear line when one is missing.

Importing TensorFlow prints native log lines before its logging is set up
("oneDNN custom operations are on", "Could not find cuda drivers"), and on a
machine without a GPU a CUDA initialisation error when devices are first
listed. None of them is about the user's program. TensorFlow's own switch,
``TF_CPP_MIN_LOG_LEVEL``, silences the later ones only if it is set before
TensorFlow is imported, and the earliest lines are written before TensorFlow
reads it; so the first import runs with file descriptor 2 (where C++ code
writes) sent to a file, which is shown after all if the import fails.

A user who sets ``TF_CPP_MIN_LOG_LEVEL`` themselves gets exactly what they
asked for: nothing here changes it or hides anything then.

This module is the package's lowest layer: it imports nothing of Keras until
``import_keras`` is called.
"""

import contextlib
import importlib.util
import os
import sys
import tempfile

#: Set by the user (before anything of ours ran): their setting wins.
_USER_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ

#: The extra of ``setup.py`` that installs each backend's package.
_EXTRAS = {"tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax", "torch": "torch"}


class BackendMissing(ImportError):
    """Keras's backend (or TensorFlow, which tf.data needs) is not installed.

    Its message is one line that names the extra to install.
    """


def install_hint(extra):
    """How to install ``extra`` (the package is installed from its folder)."""
    return f'install the extra with pip install -e ".[{extra}]" in the keras_resnet folder'


def quiet_log_level():
    """Sets TensorFlow's native log level to errors-off unless the user chose one.

    Cheap (no import): called when ``keras_resnet`` is imported, so the level
    is in place before anything imports TensorFlow.
    """
    if not _USER_LOG_LEVEL:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_keras(*, hold_native_log=None):
    """Imports Keras (and so its backend) without TensorFlow's start-up lines.

    Args:
        hold_native_log: Hide what native code prints during the import.
            None: unless the user set ``TF_CPP_MIN_LOG_LEVEL`` (the Python
            API); the command line passes True unless ``--debug``.

    Returns:
        The ``keras`` module.

    Raises:
        BackendMissing: The backend Keras is set to use is not installed.
    """
    try:
        return _import("keras", hold_native_log)
    except ModuleNotFoundError as e:
        missing = _missing_backend(e)
        if missing is None:
            raise
        # Keras leaves a half-imported package behind; a retry after
        # installing must start clean.
        for name in [m for m in sys.modules if m == "keras" or m.startswith("keras.")]:
            del sys.modules[name]
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        raise BackendMissing(
            f"Keras's {backend} backend needs {missing}, which is not installed; "
            f"{install_hint(_EXTRAS[missing])}, or set KERAS_BACKEND to an installed backend"
        ) from None


def import_tensorflow(purpose, *, hold_native_log=None):
    """Imports TensorFlow quietly, for ``purpose`` (tf.data on any Keras backend).

    Raises:
        BackendMissing: TensorFlow is not installed; the message says
            ``purpose`` needs it.
    """
    try:
        return _import("tensorflow", hold_native_log)
    except ModuleNotFoundError as e:
        if _missing_backend(e) != "tensorflow":
            raise
        raise BackendMissing(
            f"{purpose} with tf.data, which needs TensorFlow on every Keras backend; "
            f"TensorFlow is not installed; {install_hint('tensorflow')}"
        ) from None


def _import(module, hold_native_log):
    if module in sys.modules:
        return sys.modules[module]
    quiet_log_level()
    if hold_native_log is None:
        hold_native_log = not _USER_LOG_LEVEL
    if not hold_native_log:
        return importlib.import_module(module)
    with _native_stderr_held():
        return importlib.import_module(module)


def _missing_backend(error):
    """The backend package whose absence ``error`` reports, or None."""
    root = (error.name or "").split(".")[0]
    return root if root in _EXTRAS else None


@contextlib.contextmanager
def _native_stderr_held():
    """Sends file descriptor 2 to a file inside the block; shows it if the block fails."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        else:
            _restore(saved)


def _restore(saved):
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
