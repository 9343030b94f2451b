"""A fast inference path: BatchNorm folded into convolutions, compiled, bfloat16 where it pays.

``optimize_for_inference(model)`` returns an ``InferenceModel`` with the same
``predict`` and call API as the Keras model it came from. It

1. folds every BatchNormalization that directly follows a convolution into
   that convolution (``W' = W * s``, ``b' = (b - mean) * s + beta`` with
   ``s = gamma / sqrt(var + eps)`` per output channel), so a conv + BN pair
   becomes one biased convolution; this covers v1 blocks, v2's post-conv BNs
   and ResNeXt's grouped convolutions. BNs that follow something else (v2's
   ``preact_bn`` after an ``Add``, its ``post_bn``) are left as they are:
   in inference mode a BN is already a per-channel scale and shift;
2. compiles the forward pass once (``tf.function``, XLA when asked for or
   where it pays: on GPUs; ``jax.jit`` on JAX);
3. computes in bfloat16 when the hardware has native bfloat16 arithmetic
   (CPU flags ``avx512_bf16``/``amx_bf16``, or a GPU of compute capability
   8.0 or more); the classifier stays in float32.

Without native bfloat16 (on a CPU with AVX-512 but no ``avx512_bf16``, say),
bfloat16 is emulated and several times slower than float32, which is why
``precision="auto"`` looks at the hardware rather than assuming.
"""

import functools

import keras
import numpy as np

from keras_resnet import internals
from keras_resnet.deploy import hardware
from keras_resnet.deploy.folding import fold_batch_norms

#: What ``optimize_for_inference`` computes in.
PRECISIONS = hardware.PRECISIONS[:3]


class InferenceModel:
    """A compiled, inference-only model with the call and ``predict`` API of Keras.

    Attributes:
        model: The folded ``keras.Model`` that is run.
        precision: ``"float32"`` or ``"bfloat16"``: the compute precision.
        jit_compile: Whether the forward pass is compiled with XLA.
    """

    def __init__(self, model, *, precision, jit_compile):
        self.model = model
        self.precision = precision
        self.jit_compile = jit_compile
        self._forward = _compile_forward(model, jit_compile=jit_compile)

    @property
    def inputs(self):
        return self.model.inputs

    @property
    def outputs(self):
        return self.model.outputs

    def __call__(self, x):
        """Runs one batch; returns a backend tensor in float32."""
        return self._forward(x)

    def predict(self, x, batch_size=32, verbose=0):
        """Runs ``x`` in batches of ``batch_size``; returns a NumPy array.

        The last, partial batch is padded to ``batch_size`` so that the
        compiled program is reused rather than rebuilt for a new shape.

        Args:
            x: A NumPy array (or array-like) of images.
            batch_size: Images per call of the compiled forward pass.
            verbose: Accepted for compatibility with ``keras.Model.predict``.

        Returns:
            The outputs, a float32 NumPy array.
        """
        del verbose
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"`batch_size` should be a positive integer. Received: batch_size={batch_size!r}"
            )
        x = np.asarray(x, dtype="float32")
        outputs = []
        for start in range(0, len(x), batch_size):
            batch = x[start : start + batch_size]
            n = len(batch)
            if n < batch_size and len(x) > batch_size:
                pad = np.zeros((batch_size - n,) + batch.shape[1:], batch.dtype)
                batch = np.concatenate([batch, pad])
            outputs.append(keras.ops.convert_to_numpy(self._forward(batch))[:n])
        return np.concatenate(outputs).astype("float32")


def _compile_forward(model, *, jit_compile):
    """One compiled function from an image batch to float32 outputs."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None,) + tuple(model.inputs[0].shape[1:]), tf.float32)

        @tf.function(jit_compile=jit_compile, input_signature=[spec])
        def forward(x):
            return tf.cast(model(x, training=False), tf.float32)

        if jit_compile:
            return forward
        return _freeze(forward)
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def stateless_forward(trainable, non_trainable, x):
            y, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return y.astype("float32")

        return functools.partial(stateless_forward, trainable, non_trainable)
    if backend == "torch":
        import torch

        def forward(x):
            with torch.no_grad():
                return model(x, training=False).float()

        return forward
    return lambda x: keras.ops.cast(model(x, training=False), "float32")


def _freeze(function):
    """The function with its variables turned into constants (TensorFlow).

    oneDNN then reorders each convolution's weights into its blocked layout
    once instead of on every call (the reorders were 9% of ResNet-50's
    oneDNN time at batch 8 on the CPU of benchmarks/RESULTS.md).
    """
    import tensorflow as tf

    frozen = internals.freeze(function.get_concrete_function())
    if frozen is None:
        return function

    def forward(x):
        (y,) = frozen(tf.convert_to_tensor(x, tf.float32))  # Outputs come as a flat list.
        return y

    return forward


def _default_jit_compile():
    """XLA where it pays: on GPUs (and always on JAX, which compiles anyway).

    On TensorFlow's CPU kernels (oneDNN) the graph without XLA was faster
    for ResNet-50 on the CPUs of benchmarks/RESULTS.md, since grappler
    already fuses each convolution with its bias and ReLU.
    """
    return hardware.gpu_compute_capability() is not None


def optimize_for_inference(model, precision="auto", *, jit_compile="auto"):
    """Returns a fast, inference-only version of ``model``.

    Args:
        model: A functional ``keras.Model`` (a ResNet of this package or of
            keras.applications, or any model with conv + BatchNorm pairs).
        precision: ``"auto"`` (bfloat16 where the hardware computes it
            natively, else float32), ``"float32"`` or ``"bfloat16"``.
        jit_compile: ``"auto"`` (XLA on GPUs), True or False. Only the
            TensorFlow backend reads it; JAX always compiles with XLA.

    Returns:
        An ``InferenceModel``: call it on a batch, or ``predict(x, batch_size)``.
        Its outputs stay within about 1e-4 (float32) or 2e-2 (bfloat16) of
        ``model``'s, relative to the largest output.

    Raises:
        ValueError: For an unknown ``precision`` or ``jit_compile``, or a model
            that is not functional.

    Example:
        >>> import keras_resnet
        >>> model = keras_resnet.ResNet50(weights=None)
        >>> fast = keras_resnet.optimize_for_inference(model)
        >>> probabilities = fast.predict(images, batch_size=32)
    """
    precision = hardware.resolve_precision(precision, allowed=PRECISIONS)
    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(
            "`jit_compile` should be 'auto', True or False. "
            f"Received: jit_compile={jit_compile!r}"
        )
    if jit_compile == "auto":
        jit_compile = _default_jit_compile()
    folded = fold_batch_norms(model, dtype="bfloat16" if precision == "bfloat16" else None)
    return InferenceModel(folded, precision=precision, jit_compile=jit_compile)
