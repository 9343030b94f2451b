"""The package's fast training defaults: mixed precision and XLA where they pay.

``training_defaults()`` decides, for the hardware at hand, the Keras dtype
policy and whether to compile the train step with XLA:

- ``mixed_bfloat16`` where bfloat16 is native (a GPU of compute capability
  8.0+, a CPU with ``avx512_bf16``/AMX); ``mixed_float16`` (with loss scaling,
  which Keras adds in ``compile``) on older GPUs; ``float32`` elsewhere,
  since emulated bfloat16 is several times slower than float32;
- XLA on GPUs and on JAX (which compiles anyway); not on TensorFlow's CPU
  kernels, where the oneDNN graph trained ResNet-50 about twice as fast as
  the XLA one on the CPU of benchmarks/RESULTS.md.

``build_for_training`` builds a catalogued model under that policy with the
classifier (and its softmax) in float32, and ``compile_for_training``
compiles it with the XLA flag; the benchmark harness uses them.
"""

import contextlib
import dataclasses

import keras

from keras_resnet import catalog
from keras_resnet.deploy import hardware
from keras_resnet.deploy.graph import read_graph

PRECISIONS = hardware.PRECISIONS


@dataclasses.dataclass(frozen=True)
class TrainingDefaults:
    """What ``training_defaults`` chose.

    Attributes:
        dtype_policy: A Keras dtype policy name: ``"float32"``,
            ``"mixed_bfloat16"`` or ``"mixed_float16"``.
        jit_compile: Whether to compile the train step with XLA.
    """

    dtype_policy: str
    jit_compile: bool


def training_defaults(precision="auto", jit_compile="auto"):
    """The dtype policy and XLA flag that train fastest on this hardware.

    Args:
        precision: ``"auto"`` (decide from the hardware), ``"float32"``,
            ``"bfloat16"`` (``mixed_bfloat16``) or ``"float16"``
            (``mixed_float16``).
        jit_compile: ``"auto"``, True or False.

    Returns:
        A ``TrainingDefaults``.

    Raises:
        ValueError: For an unknown ``precision`` or ``jit_compile``.
    """
    precision = hardware.resolve_precision(precision)
    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(
            "`jit_compile` should be 'auto', True or False. "
            f"Received: jit_compile={jit_compile!r}"
        )
    capability = hardware.gpu_compute_capability()
    policy = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    if jit_compile == "auto":
        jit_compile = capability is not None or keras.backend.backend() == "jax"
    return TrainingDefaults(dtype_policy=policy[precision], jit_compile=bool(jit_compile))


@contextlib.contextmanager
def dtype_policy_scope(policy):
    """Sets Keras's global dtype policy inside the block, restoring it after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_outputs(model):
    """Returns ``model`` with the layers that produce its outputs computing in float32.

    Under a mixed policy the classifier's softmax would otherwise run in
    16 bits, which loses the small probabilities the loss depends on. The
    copy keeps every layer name and weight.

    Args:
        model: A functional ``keras.Model``.

    Returns:
        ``model`` itself when its outputs are already float32, else a copy.
    """
    last = read_graph(model).output_layers()
    if all(model.get_layer(name).compute_dtype == "float32" for name in last):
        return model

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in last:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone_layer)
    for layer in copy.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def build_for_training(name, *, defaults=None, **build_kwargs):
    """Builds a registered model under the fast training dtype policy.

    Args:
        name: A catalogued model's name (``keras_resnet.list_models()``).
        defaults: A ``TrainingDefaults``; ``training_defaults()`` if None.
        **build_kwargs: Passed to ``keras_resnet.build`` (``weights``,
            ``input_shape``, ``classes`` ...).

    Returns:
        A ``keras.Model`` whose layers compute in the policy's dtype, with
        float32 variables and float32 outputs (the classifier and its softmax).
    """
    defaults = defaults or training_defaults()
    with dtype_policy_scope(defaults.dtype_policy):
        model = catalog.build(name, **build_kwargs)
    return float32_outputs(model)


def compile_for_training(model, optimizer, loss, *, metrics=None, defaults=None, **kwargs):
    """Compiles ``model`` with the fast training defaults.

    Under ``mixed_float16`` Keras wraps ``optimizer`` in a loss-scale
    optimizer itself. The loss is computed in float32 because the model's
    outputs are (see ``build_for_training``).

    Args:
        model: A ``keras.Model``, best built by ``build_for_training``.
        optimizer, loss, metrics: As for ``keras.Model.compile``.
        defaults: A ``TrainingDefaults``; ``training_defaults()`` if None.
        **kwargs: Other ``compile`` arguments (``steps_per_execution`` ...).

    Returns:
        ``model``, compiled.

    Raises:
        ValueError: If the model's outputs are not float32 (build it with
            ``build_for_training`` or pass it through ``float32_outputs``).
    """
    defaults = defaults or training_defaults()
    for output in model.outputs:
        if output.dtype != "float32":
            raise ValueError(
                "The model's outputs must be float32 so that the loss is computed in "
                "full precision; build it with `build_for_training` or pass it "
                f"through `float32_outputs`. Received: output dtype={output.dtype}"
            )
    kwargs.setdefault("jit_compile", defaults.jit_compile)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
    return model
