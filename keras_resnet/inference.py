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

PRECISIONS = ("auto", "float32", "bfloat16")
_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def cpu_has_bfloat16(cpuinfo_path="/proc/cpuinfo"):
    """Whether the CPU has native bfloat16 arithmetic (``avx512_bf16`` or AMX).

    Args:
        cpuinfo_path: Where to read the CPU flags (Linux).

    Returns:
        True if a ``flags`` line lists ``avx512_bf16`` or ``amx_bf16``;
        False otherwise, including where the file does not exist.
    """
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def gpu_compute_capability():
    """The (major, minor) compute capability of the first GPU, or None without one."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tf.config.experimental.get_device_details(gpus[0]).get(
                    "compute_capability"
                )
        elif backend == "jax":
            import jax

            for device in jax.devices():
                if device.platform == "gpu":
                    return tuple(int(v) for v in str(device.compute_capability).split("."))
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_capability(0)
    except Exception:  # A missing driver or plugin means no usable GPU.
        return None
    return None


def hardware_has_bfloat16():
    """Whether the device Keras computes on has native bfloat16 arithmetic.

    A GPU of compute capability 8.0 or more (Ampere and later) does; on CPU
    see ``cpu_has_bfloat16``.
    """
    capability = gpu_compute_capability()
    if capability is not None:
        return tuple(capability) >= (8, 0)
    return cpu_has_bfloat16()


def resolve_precision(precision):
    """Turns ``"auto"`` into ``"bfloat16"`` or ``"float32"`` for this hardware.

    Raises:
        ValueError: For anything but ``"auto"``, ``"float32"`` or ``"bfloat16"``.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` should be one of {', '.join(map(repr, PRECISIONS))}. "
            f"Received: precision={precision!r}"
        )
    if precision == "auto":
        return "bfloat16" if hardware_has_bfloat16() else "float32"
    return precision


def _producer(tensor):
    """The layer that produced a Keras tensor."""
    return tensor._keras_history.operation


def _channel_axis(conv):
    return 1 if conv.data_format == "channels_first" else conv.rank + 1


def _foldable_pairs(model):
    """Maps the name of each BN that can be folded to the convolution before it.

    A BN folds when its only input is a convolution's output, nothing else
    reads that output, and the BN normalizes the convolution's channel axis.
    """
    consumers = {}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                key = id(tensor)
                consumers[key] = consumers.get(key, 0) + 1
    for output in model.outputs:
        consumers[id(output)] = consumers.get(id(output), 0) + 1

    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        if len(layer._inbound_nodes) != 1:
            continue
        inputs = layer._inbound_nodes[0].input_tensors
        if len(inputs) != 1:
            continue
        conv = _producer(inputs[0])
        if not isinstance(conv, _CONVOLUTIONS) or len(conv._inbound_nodes) != 1:
            continue
        rank = len(inputs[0].shape)
        if layer.axis % rank != _channel_axis(conv) or consumers[id(inputs[0])] != 1:
            continue
        pairs[layer.name] = conv.name
    return pairs


def _folded_weights(conv, bn):
    """The kernel and bias of one convolution that computes ``bn(conv(x))``."""
    kernel = keras.ops.convert_to_numpy(conv.kernel).astype("float64")
    bias = (
        keras.ops.convert_to_numpy(conv.bias).astype("float64")
        if conv.use_bias
        else np.zeros(kernel.shape[-1])
    )
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype("float64")
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype("float64")
    gamma = (
        keras.ops.convert_to_numpy(bn.gamma).astype("float64") if bn.scale else 1.0
    )
    beta = keras.ops.convert_to_numpy(bn.beta).astype("float64") if bn.center else 0.0
    scale = gamma / np.sqrt(variance + bn.epsilon)
    # Keras kernels are (*spatial, in / groups, out) in either data format.
    return [
        (kernel * scale).astype("float32"),
        ((bias - mean) * scale + beta).astype("float32"),
    ]


def fold_batch_norms(model, *, dtype=None):
    """Returns a copy of ``model`` with each conv + BatchNorm pair as one biased conv.

    The copy has the same layers, names, topology and outputs, minus the folded
    BN layers. BNs that do not directly follow a convolution are kept.

    Args:
        model: A functional ``keras.Model`` (any model of this package or of
            keras.applications).
        dtype: Optional dtype policy name for every layer of the copy (e.g.
            ``"bfloat16"``) except the last one, which keeps float32 so that the
            classifier and its softmax stay in full precision.

    Returns:
        A new ``keras.Model`` in inference form (its folded layers no longer
        learn batch statistics, so it is not for training).

    Raises:
        ValueError: If ``model`` is not a functional model.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_run_through_graph"):
        raise ValueError(
            "`model` should be a functional keras.Model. "
            f"Received: model={type(model).__name__}"
        )
    pairs = _foldable_pairs(model)
    folded_convs = set(pairs.values())
    last = {_producer(t).name for t in model.outputs}

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in folded_convs:
            config["use_bias"] = True
        if dtype is not None and layer.name not in last:
            config["dtype"] = dtype
        return layer.__class__.from_config(config)

    def call_layer(layer, *args, **kwargs):
        if layer.name in pairs:  # Folded: the BN is the identity now.
            return args[0]
        return layer(*args, **kwargs)

    folded = keras.models.clone_model(
        model, clone_function=clone_layer, call_function=call_layer
    )
    for layer in folded.layers:
        if not layer.weights:
            continue
        if layer.name in folded_convs:
            bn_name = next(b for b, c in pairs.items() if c == layer.name)
            values = _folded_weights(model.get_layer(layer.name), model.get_layer(bn_name))
        else:
            values = model.get_layer(layer.name).get_weights()
        layer.set_weights(values)
    return folded


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
    once instead of on every call (the reorders were 9% of ResNet-50's oneDNN time at batch 8
    on the benchmark machine).
    """
    import tensorflow as tf

    try:  # Not in TensorFlow's public API, though stable since TF 2.2.
        from tensorflow.python.framework import convert_to_constants
    except ImportError:
        return function
    frozen = convert_to_constants.convert_variables_to_constants_v2(
        function.get_concrete_function()
    )

    def forward(x):
        (y,) = frozen(tf.convert_to_tensor(x, tf.float32))  # Outputs come as a flat list.
        return y

    return forward


def _default_jit_compile():
    """XLA where it pays: on GPUs (and always on JAX, which compiles anyway).

    On TensorFlow's CPU kernels (oneDNN) the graph without XLA was faster
    for ResNet-50 on the machine of benchmarks/RESULTS.md, since grappler
    already fuses each convolution with its bias and ReLU.
    """
    return gpu_compute_capability() is not None


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
    precision = resolve_precision(precision)
    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(
            "`jit_compile` should be 'auto', True or False. "
            f"Received: jit_compile={jit_compile!r}"
        )
    if jit_compile == "auto":
        jit_compile = _default_jit_compile()
    folded = fold_batch_norms(model, dtype="bfloat16" if precision == "bfloat16" else None)
    return InferenceModel(folded, precision=precision, jit_compile=jit_compile)
