"""``train``'s flags for the processes of a multi-process JAX run, and their checks.

``--coordinator HOST:PORT --num-processes N --process-id I`` (or the
environment, see ``training.cluster.Cluster.from_flags``) make the
``Cluster`` that ``--strategy multiworker`` joins on JAX; TensorFlow reads its
cluster from ``TF_CONFIG`` instead.
"""

from keras_resnet.cli.errors import UsageError

_FLAGS = ("coordinator", "num_processes", "process_id", "connect_timeout")


def add_arguments(parser):
    """Adds the cluster's flags to ``train``'s ``parser``."""
    parser.add_argument(
        "--coordinator", metavar="HOST:PORT", default=None,
        help="JAX multiworker: process 0's address and a free port there",
    )
    parser.add_argument("--num-processes", type=int, default=None,
                        help="JAX multiworker: how many processes take part")
    parser.add_argument("--process-id", type=int, default=None,
                        help="JAX multiworker: this process's index, from 0 (0 writes the run dir)")
    parser.add_argument(
        "--connect-timeout", type=int, default=None, metavar="SECONDS",
        help="JAX multiworker: how long to wait for every process to connect (default 90)",
    )


def check(args):
    """Refuses the cluster's flags without ``--strategy multiworker``, and bad numbers."""
    if args.connect_timeout is not None and args.connect_timeout < 1:
        raise UsageError(f"--connect-timeout must be positive. Received: {args.connect_timeout}")
    given = [f"--{n.replace('_', '-')}" for n in _FLAGS if getattr(args, n) is not None]
    if given and args.strategy != "multiworker":
        raise UsageError(f"{given[0]} needs --strategy multiworker. Received: --strategy "
                         f"{args.strategy}")


def cluster_from_args(args, keras):
    """The JAX processes of ``--strategy multiworker`` (None otherwise).

    Raises:
        UsageError: One line for flags that do not make a cluster, or given to
            a backend that does not read them.
    """
    from keras_resnet.training.cluster import CONNECT_TIMEOUT_SECONDS, Cluster

    flags = (args.coordinator, args.num_processes, args.process_id)
    timeout = args.connect_timeout or CONNECT_TIMEOUT_SECONDS
    if args.strategy != "multiworker":
        return None
    if keras.backend.backend() != "jax":
        if any(flag is not None for flag in flags):
            raise UsageError(
                f"--coordinator, --num-processes and --process-id are for the JAX backend; "
                f"{keras.backend.backend()} reads its cluster from TF_CONFIG. Received: "
                f"KERAS_BACKEND={keras.backend.backend()}"
            )
        return None
    try:
        return Cluster.from_flags(*flags, connect_timeout=timeout)
    except ValueError as e:
        raise UsageError(str(e)) from None
