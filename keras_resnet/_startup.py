"""Imports Keras and its backend: quietly, and with one clear line when one is missing.

Importing TensorFlow prints native log lines before its logging is set up
("oneDNN custom operations are on", "Could not find cuda drivers"), and on a
machine without a GPU a CUDA initialisation error when devices are first
listed. None of them is about the user's program. TensorFlow's own switch,
``TF_CPP_MIN_LOG_LEVEL``, silences the later ones only if it is set before
TensorFlow is imported, and the earliest lines are written before TensorFlow
reads it at all. So ``import keras_resnet`` sets the level and arranges that
TensorFlow's first import, by this package or by the user's ``import keras``
after it, runs with file descriptor 2 (where C++ code writes) sent to a file,
which is shown after all if the import fails.

A user who sets ``TF_CPP_MIN_LOG_LEVEL`` themselves gets exactly what they
asked for: nothing here changes it or hides anything then. Importing Keras
before ``keras_resnet`` is also the user's choice: its lines are printed.

This module is the package's lowest layer: it imports nothing of Keras.
"""

import contextlib
import importlib.abc
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


def quiet_native_log():
    """Keeps TensorFlow's native start-up lines out, unless the user chose a log level.

    Cheap (imports nothing): called when ``keras_resnet`` is imported, before
    anything imports TensorFlow. Sets ``TF_CPP_MIN_LOG_LEVEL`` to 3 and holds
    back what native code prints while TensorFlow is first imported.
    """
    if _USER_LOG_LEVEL or "tensorflow" in sys.modules or _HELD_IMPORT in sys.meta_path:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.meta_path.insert(0, _HELD_IMPORT)


def show_native_log():
    """Undoes ``quiet_native_log`` (``keras-resnet --debug``) if TensorFlow is not loaded yet."""
    if _HELD_IMPORT in sys.meta_path:
        sys.meta_path.remove(_HELD_IMPORT)
    if not _USER_LOG_LEVEL:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)


class _HeldTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, once, and runs its import with fd 2 held."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # Once: the real finders do the finding.
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _HeldLoader(spec.loader)
        return spec


class _HeldLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _native_stderr_held():
            self._loader.exec_module(module)


_HELD_IMPORT = _HeldTensorFlowImport()


def import_keras():
    """Imports Keras (and so its backend), naming the extra if the backend is missing.

    Returns:
        The ``keras`` module.

    Raises:
        BackendMissing: The backend Keras is set to use is not installed.
    """
    try:
        return importlib.import_module("keras")
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


def import_tensorflow(purpose):
    """Imports TensorFlow, for ``purpose`` (tf.data on any Keras backend).

    Raises:
        BackendMissing: TensorFlow is not installed; the message says
            ``purpose`` needs it.
    """
    try:
        return importlib.import_module("tensorflow")
    except ModuleNotFoundError as e:
        if _missing_backend(e) != "tensorflow":
            raise
        raise BackendMissing(
            f"{purpose} with tf.data, which needs TensorFlow on every Keras backend; "
            f"TensorFlow is not installed; {install_hint('tensorflow')}"
        ) from None


def _missing_backend(error):
    """The backend package whose absence ``error`` reports, or None."""
    root = (error.name or "").split(".")[0]
    return root if root in _EXTRAS else None


@contextlib.contextmanager
def _native_stderr_held():
    """Sends file descriptor 2 to a file inside the block; shows it if the block fails.

    Python's own ``sys.stderr`` is flushed first and after, so nothing the
    program wrote before is lost or reordered.
    """
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
