"""Keeps the backend's start-up noise out of the command line's output.

Importing TensorFlow prints native log lines before its logging is set up
("Could not find cuda drivers ...", CPU feature notes) and, on machines
without a GPU, a CUDA initialisation error when devices are first listed.
None of them is about the user's command. ``keras-resnet --debug`` shows them.
"""

import contextlib

from keras_resnet import _startup


def import_backend_quietly(*, needs_tensorflow=None):
    """Imports Keras and its backend with the native log silenced.

    ``import keras_resnet`` already arranged the quiet (keras_resnet._startup):
    TensorFlow's log level errors-off unless the user set one, and its first
    import's native lines held back (shown if the import fails).

    Args:
        needs_tensorflow: None, or what the command does with tf.data (its
            input pipeline), which needs TensorFlow on every backend.

    Raises:
        keras_resnet._startup.BackendMissing: With one line naming the extra.
    """
    _startup.import_keras()
    if needs_tensorflow:
        _startup.import_tensorflow(needs_tensorflow)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
