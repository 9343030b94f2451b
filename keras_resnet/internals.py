"""The one door to Keras and TensorFlow internals.

Everything else in the package uses public APIs. The three uses here have no
public equivalent in Keras 3.15 / TensorFlow 2.21; each is one small function
so that a release that changes it breaks in one place, and
tests/test_internals.py checks each against the installed Keras and
TensorFlow, so such a release fails the tests loudly rather than training or
resuming wrongly.

1. ``resume_fit_at``: a callback's ``on_train_begin`` tells ``fit`` which
   epoch to start from through ``model._initial_epoch`` (Keras's own
   ``BackupAndRestore`` does the same); ``fit(initial_epoch=...)`` is public
   but cannot be set from a callback, and resuming from a callback is what
   lets users keep calling ``model.fit`` themselves.
2. ``variable_index``: the slot of a variable in an optimizer's per-variable
   state (``Optimizer._get_variable_index``), which every Keras optimizer's
   own ``update_step`` uses.
3. ``freeze``: a ``tf.function``'s variables turned into constants
   (``convert_variables_to_constants_v2``), which TensorFlow exports only
   under ``tensorflow.python``.
"""


def resume_fit_at(model, epoch):
    """Makes the running ``model.fit`` start at ``epoch`` (call in ``on_train_begin``)."""
    model._initial_epoch = epoch


def variable_index(optimizer, variable):
    """The index of ``variable`` in ``optimizer``'s per-variable state."""
    return optimizer._get_variable_index(variable)


def freeze(concrete_function):
    """The concrete function with its variables as constants, or None if TF moved the API."""
    try:
        from tensorflow.python.framework import convert_to_constants
    except ImportError:
        return None
    return convert_to_constants.convert_variables_to_constants_v2(concrete_function)
