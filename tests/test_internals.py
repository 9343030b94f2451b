"""The Keras and TensorFlow internals the package relies on still behave as it assumes.

``keras_resnet.internals`` is the one module that touches them; if a release
renames or changes one, these tests fail here, by name, instead of a resumed
run silently starting over or the optimizer decaying the wrong variables.
"""

import keras
import numpy as np
import pytest

from keras_resnet import internals
from conftest import requires_tensorflow


def _tiny_model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    model.compile("sgd", "mse")
    return model


@pytest.mark.backend_agnostic
def test_resume_fit_at_skips_the_completed_epochs():
    class Resume(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            internals.resume_fit_at(self.model, 3)

    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    _tiny_model().fit(x, y, epochs=5, verbose=0, callbacks=[Resume(), record])
    assert seen == [3, 4]


@pytest.mark.backend_agnostic
def test_variable_index_is_the_position_in_the_built_optimizer():
    model = _tiny_model()
    optimizer = keras.optimizers.SGD(momentum=0.9)
    optimizer.build(model.trainable_variables)
    for position, variable in enumerate(model.trainable_variables):
        assert internals.variable_index(optimizer, variable) == position


@requires_tensorflow
def test_freeze_turns_variables_into_constants():
    import tensorflow as tf

    model = _tiny_model()
    x = np.arange(6, dtype="float32").reshape(2, 3)
    function = tf.function(lambda x: model(x, training=False))
    frozen = internals.freeze(function.get_concrete_function(tf.TensorSpec((None, 3), tf.float32)))
    assert frozen is not None, "TensorFlow moved convert_variables_to_constants_v2"
    assert not frozen.variables
    (y,) = frozen(tf.constant(x))
    np.testing.assert_allclose(y.numpy(), np.asarray(model(x)), rtol=1e-6)
