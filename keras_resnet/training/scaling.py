"""Data-parallel scaling arithmetic: gradient bytes, all-reduce traffic, bandwidth, cores.

In synchronous data parallelism every device computes the gradient of its
share of the global batch, then all devices sum their gradients (an
all-reduce) before the optimizer step. A step therefore costs the compute of
one device's share plus whatever part of the all-reduce is not hidden behind
the compute. These functions put numbers on that, from quantities one can
measure: trainable parameters, a step's compute time, a link's bandwidth and
an input pipeline's images per second per core.

The cost model is the alpha-beta model of collective communication
(Thakur, Rabenseifner & Gropp, "Optimization of Collective Communication
Operations in MPICH", IJHPCA 19(1), 2005) for the ring all-reduce of
Patarasuk & Yuan ("Bandwidth optimal all-reduce algorithms for clusters of
workstations", J. Parallel Distrib. Comput. 69(2), 2009): a reduce-scatter
then an all-gather, each of ``N - 1`` steps in which every device sends and
receives ``1/N`` of the message. NCCL's benchmarks report the same
quantity as "bus bandwidth" (nccl-tests, doc/PERFORMANCE.md, "algbw vs
busbw": ``busbw = algbw * 2 (N - 1) / N`` for all-reduce).

Pure Python: nothing here imports Keras, so the arithmetic costs nothing to
import and also serves plans made away from any accelerator.

Example:
    >>> grads = gradient_bytes(25_583_592)          # ResNet-50, float32
    >>> round(ring_allreduce_bytes(8, grads) / 1e6)  # MB each GPU sends a step
    179
    >>> round(required_bandwidth(8, grads, 256 / 5260) / 1e9, 2)  # GB/s per GPU
    3.68
"""

import math
import numbers


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"`{name}` should be a non-negative integer. Received: {name}={value!r}")
    return int(value)


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"`{name}` should be a positive number. Received: {name}={value!r}")
    return float(value)


def _non_negative(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(
            f"`{name}` should be a non-negative number. Received: {name}={value!r}"
        )
    return float(value)


def _devices(num_devices):
    if isinstance(num_devices, bool) or not isinstance(num_devices, numbers.Integral) or (
            num_devices < 1):
        raise ValueError(
            f"`num_devices` should be a positive integer. Received: num_devices={num_devices!r}"
        )
    return int(num_devices)


def trainable_parameter_count(model_or_param_count):
    """Trainable parameters of a model, or the count itself when given one.

    Only trainable weights have gradients; BatchNorm's moving mean and
    variance are weights of the model (``count_params()`` includes them) but
    are not all-reduced with the gradients.

    Args:
        model_or_param_count: A Keras model (anything with
            ``trainable_weights``, each with a ``shape``), or an integer.

    Returns:
        An ``int``.

    Raises:
        ValueError: For a negative or non-integer count, or an object without
            ``trainable_weights``.
    """
    if isinstance(model_or_param_count, numbers.Integral):
        return _count(model_or_param_count, "model_or_param_count")
    weights = getattr(model_or_param_count, "trainable_weights", None)
    if weights is None:
        raise ValueError(
            "`model_or_param_count` should be a model (with `trainable_weights`) or an "
            f"integer. Received: model_or_param_count={model_or_param_count!r}"
        )
    return sum(math.prod(int(d) for d in weight.shape) for weight in weights)


def gradient_bytes(model_or_param_count, dtype_bytes=4):
    """Bytes of gradient one data-parallel step all-reduces.

    ``bytes = trainable parameters x dtype_bytes``. Keras keeps variables in
    float32 under ``mixed_bfloat16`` and ``mixed_float16`` (only the
    computation is in 16 bits), so the gradients, taken with respect to the
    variables, are float32: 4 bytes, the default. ``dtype_bytes=2`` is the
    figure for gradients compressed to 16 bits before the all-reduce.

    Args:
        model_or_param_count: A Keras model or its trainable parameter count.
        dtype_bytes: Bytes per gradient element.

    Returns:
        An ``int``.

    Example:
        >>> gradient_bytes(25_583_592)      # keras.applications ResNet50
        102334368
    """
    dtype_bytes = _count(dtype_bytes, "dtype_bytes")
    return trainable_parameter_count(model_or_param_count) * dtype_bytes


def ring_allreduce_bytes(num_devices, message_bytes):
    """Bytes each device sends (and as many receives) in a ring all-reduce.

    ``2 (N - 1) / N x message_bytes``: a reduce-scatter and an all-gather,
    each ``N - 1`` steps of ``message_bytes / N`` (Patarasuk & Yuan 2009;
    nccl-tests' "busbw"). The lower bound for any all-reduce in which every
    device must end with the whole sum, so no algorithm moves less per
    device; it approaches twice the message as ``N`` grows, which is why a
    ring's time hardly grows with ``N`` once bandwidth dominates.

    Args:
        num_devices: Devices taking part, ``N >= 1`` (one sends nothing).
        message_bytes: Bytes of the array being summed (``gradient_bytes``).

    Returns:
        A ``float``.

    Example:
        >>> ring_allreduce_bytes(4, 1000)
        1500.0
    """
    n = _devices(num_devices)
    message = _non_negative(message_bytes, "message_bytes")
    return 2.0 * (n - 1) / n * message


def allreduce_seconds(num_devices, message_bytes, bandwidth_bytes_per_s, latency_s=0.0):
    """Time of one ring all-reduce under the alpha-beta model.

    ``2 (N - 1) alpha + 2 (N - 1) / N x bytes / beta`` (Thakur et al. 2005,
    ring / reduce-scatter + all-gather), with ``alpha`` the latency of one
    step (``latency_s``) and ``beta`` each device's link bandwidth in one
    direction. The time of the reduction arithmetic itself is left out: on
    a GPU it is far below the transfer time; on a CPU measured end to end it
    is part of the effective bandwidth one measures.

    Args:
        num_devices: Devices taking part.
        message_bytes: Bytes summed.
        bandwidth_bytes_per_s: Each device's send (= receive) bandwidth.
        latency_s: Latency of one of the ``2 (N - 1)`` steps.

    Returns:
        Seconds, a ``float``.
    """
    n = _devices(num_devices)
    bandwidth = _positive(bandwidth_bytes_per_s, "bandwidth_bytes_per_s")
    latency = _non_negative(latency_s, "latency_s")
    return 2 * (n - 1) * latency + ring_allreduce_bytes(n, message_bytes) / bandwidth


def hierarchical_allreduce_seconds(num_nodes, devices_per_node, message_bytes,
                                   intra_bandwidth_bytes_per_s, inter_bandwidth_bytes_per_s,
                                   latency_s=0.0, inter_latency_s=0.0):
    """Time of a two-level all-reduce: inside each node, then between nodes.

    A reduce-scatter among the node's ``G`` devices over the fast link (NVLink) leaves each
    device ``1/G`` of the node's sum; device ``g`` of every node all-reduces its ``1/G``
    with the ``g``-th devices of the other ``M`` nodes over the network; an all-gather
    inside the node completes it (Horovod's hierarchical all-reduce has this shape)::

        2 (G-1)/G x bytes / intra  +  2 (M-1)/M x (bytes / G) / inter

    plus ``2 (G - 1)`` intra-node and ``2 (M - 1)`` inter-node latencies. ``inter`` is
    the network bandwidth each device has: its own NIC's, or a shared NIC's divided by
    ``G``, when one NIC serves the node (then the node's NIC carries ``2 (M-1)/M x
    bytes``, the ring figure of ``M`` devices).

    Args:
        num_nodes: Nodes, ``M``.
        devices_per_node: Devices in each node, ``G``.
        message_bytes: Bytes all-reduced.
        intra_bandwidth_bytes_per_s: Each device's link inside the node, one way.
        inter_bandwidth_bytes_per_s: Each device's share of the network, one way.
        latency_s: Latency of one intra-node step.
        inter_latency_s: Latency of one inter-node step.

    Returns:
        Seconds, a ``float``.
    """
    nodes = _devices(num_nodes)
    per_node = _devices(devices_per_node)
    message = _non_negative(message_bytes, "message_bytes")
    inside = allreduce_seconds(per_node, message, intra_bandwidth_bytes_per_s, latency_s)
    between = allreduce_seconds(
        nodes, message / per_node, inter_bandwidth_bytes_per_s, inter_latency_s
    )
    return inside + between


def bus_bandwidth(num_devices, message_bytes, seconds):
    """The link bandwidth a measured all-reduce achieved (nccl-tests' "busbw").

    ``2 (N - 1) / N x bytes / seconds``: the inverse of ``allreduce_seconds``
    without latency, so a figure comparable across device counts and with a
    link's rated bandwidth.

    Args:
        num_devices: Devices that took part.
        message_bytes: Bytes summed.
        seconds: Measured time of one all-reduce.

    Returns:
        Bytes per second, a ``float``.
    """
    return ring_allreduce_bytes(num_devices, message_bytes) / _positive(seconds, "seconds")


def required_bandwidth(num_devices, message_bytes, step_seconds, *, overlap=True,
                       overhead=0.1, latency_s=0.0):
    """Per-device link bandwidth at which the all-reduce keeps scaling near-linear.

    Two assumptions, chosen with ``overlap``:

    - ``overlap=True``: the all-reduce runs while the backward pass still
      computes (gradients sent in buckets as they are ready, as PyTorch DDP
      and XLA's asynchronous collectives do) and is hidden as long as it
      takes no longer than the step's compute: ``bandwidth = ring bytes /
      step_seconds``. The least bandwidth at which scaling can be linear.
    - ``overlap=False``: the all-reduce follows the compute (what
      ``predicted_step_seconds`` models) and may add at most ``overhead`` x
      ``step_seconds``: ``bandwidth = ring bytes / (overhead x
      step_seconds)``; 0.1 keeps 91% of linear scaling (1 / 1.1).

    With ``latency_s``, the ``2 (N - 1)`` step latencies come out of the time
    first; a budget they use up entirely gives ``math.inf``.

    Args:
        num_devices: Devices in the ring.
        message_bytes: Bytes all-reduced each step (``gradient_bytes``).
        step_seconds: One device's compute time for its share of a step:
            per-device batch / per-device images per second.
        overlap: Whether the all-reduce overlaps the compute (see above).
        overhead: With ``overlap=False``, the fraction of ``step_seconds`` the
            all-reduce may add.
        latency_s: Latency of one ring step.

    Returns:
        Bytes per second each device must send (and receive), a ``float``.
    """
    step = _positive(step_seconds, "step_seconds")
    budget = step if overlap else _positive(overhead, "overhead") * step
    n = _devices(num_devices)
    budget -= 2 * (n - 1) * _non_negative(latency_s, "latency_s")
    traffic = ring_allreduce_bytes(n, message_bytes)
    if traffic == 0:
        return 0.0
    return traffic / budget if budget > 0 else math.inf


def predicted_step_seconds(compute_seconds, message_bytes, num_devices,
                           bandwidth_bytes_per_s, latency_s=0.0, *, collectives=1):
    """A data-parallel step's time when the all-reduce does not overlap compute.

    ``compute_seconds + collectives x 2 (N - 1) alpha + 2 (N - 1) / N x
    bytes / beta``: each device computes its share of the batch, then the
    gradients are summed, then every device applies the same update (part
    of ``compute_seconds``, measured on one device at its share of the
    batch). XLA's CPU backend and a step with no bucketing run this way;
    where communication overlaps the backward pass, the step lies between
    ``compute_seconds`` and this. With ``collectives=1`` it is
    ``compute_seconds + allreduce_seconds(N, bytes, bandwidth, latency)``.

    Args:
        compute_seconds: One device's step time at its per-device batch,
            without communication.
        message_bytes: Bytes all-reduced (``gradient_bytes``).
        num_devices: Devices.
        bandwidth_bytes_per_s: Each device's send bandwidth (or a measured
            ``bus_bandwidth``).
        latency_s: Latency of one ring step.
        collectives: Separate all-reduces the step makes, each paying the
            ``2 (N - 1)`` latencies: one when the gradients travel as one
            buffer; one per bucket where they are bucketed (PyTorch DDP);
            one per array where each is sent alone (XLA's CPU runtime,
            even for a combined all-reduce), plus BatchNorm's statistics
            where they are summed over the global batch.

    Returns:
        Seconds, a ``float``.
    """
    compute = _non_negative(compute_seconds, "compute_seconds")
    count = _count(collectives, "collectives")
    n = _devices(num_devices)
    latency = _non_negative(latency_s, "latency_s")
    return (compute + allreduce_seconds(n, message_bytes, bandwidth_bytes_per_s)
            + count * 2 * (n - 1) * latency)


def scaling_efficiency(compute_seconds, step_seconds):
    """Fraction of linear scaling a step keeps: ``compute_seconds / step_seconds``.

    With a fixed per-device batch, ``N`` devices process ``N x efficiency``
    times one device's images per second.
    """
    return _non_negative(compute_seconds, "compute_seconds") / _positive(
        step_seconds, "step_seconds"
    )


def cores_per_device(device_images_per_second, pipeline_images_per_second_per_core):
    """CPU cores the input pipeline needs to keep one device busy.

    ``device img/s / pipeline img/s per core``, assuming the pipeline scales
    linearly with cores (measured on two cores: 1.9-2.1x from one thread to
    two for keras_resnet.data's training pipelines, benchmarks/RESULTS.md).
    Round up, and leave cores for the framework's own threads.

    Args:
        device_images_per_second: Training images per second one device
            consumes.
        pipeline_images_per_second_per_core: What one core of the input
            pipeline produces.

    Returns:
        A ``float``.

    Example:
        >>> round(cores_per_device(5260, 713), 1)
        7.4
    """
    return _non_negative(device_images_per_second, "device_images_per_second") / _positive(
        pipeline_images_per_second_per_core, "pipeline_images_per_second_per_core"
    )
