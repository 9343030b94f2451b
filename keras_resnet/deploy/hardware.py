"""What the hardware computes natively: the one place the package asks.

``precision="auto"`` in ``optimize_for_inference`` and the training
defaults both come here: bfloat16 where it is native (a GPU of compute
capability 8.0+, a CPU with ``avx512_bf16`` or AMX), since emulated bfloat16
is several times slower than float32.
"""

import keras

#: Every compute precision the package knows. Inference takes the first
#: three; float16 (with loss scaling) is for training on GPUs without bfloat16.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
    """The CPU's feature flags (Linux ``/proc/cpuinfo``), or an empty set where unknown."""
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_has_bfloat16(cpuinfo_path="/proc/cpuinfo"):
    """Whether the CPU has native bfloat16 arithmetic (``avx512_bf16`` or AMX).

    Args:
        cpuinfo_path: Where to read the CPU flags (Linux).

    Returns:
        True if a ``flags`` line lists ``avx512_bf16`` or ``amx_bf16``;
        False otherwise, including where the file does not exist.
    """
    return bool(cpu_flags(cpuinfo_path) & {"avx512_bf16", "amx_bf16"})


def cpu_has_vnni(cpuinfo_path="/proc/cpuinfo"):
    """Whether the CPU has int8 dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX)."""
    return bool(cpu_flags(cpuinfo_path) & {"avx512_vnni", "avx_vnni", "amx_int8"})


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


def resolve_precision(precision, *, allowed=PRECISIONS):
    """Turns ``"auto"`` into the fastest precision this hardware computes natively.

    ``"auto"`` gives ``"bfloat16"`` where it is native, ``"float16"`` on a
    GPU with tensor cores but no bfloat16 (compute capability 7.x; only when
    ``allowed`` includes it), else ``"float32"``.

    Args:
        precision: ``"auto"`` or one of ``allowed``.
        allowed: The precisions the caller supports.

    Raises:
        ValueError: For a precision outside ``allowed``.
    """
    if precision not in allowed:
        raise ValueError(
            f"`precision` should be one of {', '.join(map(repr, allowed))}. "
            f"Received: precision={precision!r}"
        )
    if precision != "auto":
        return precision
    if hardware_has_bfloat16():
        return "bfloat16"
    capability = gpu_compute_capability()
    if "float16" in allowed and capability is not None and tuple(capability) >= (7, 0):
        return "float16"
    return "float32"
