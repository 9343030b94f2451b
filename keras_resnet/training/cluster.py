"""The processes of a multi-process JAX run: who they are, how they meet, how one's death ends it.

``Cluster.from_flags`` reads ``--coordinator HOST:PORT --num-processes N
--process-id I`` or, where the flags are absent, the variables Keras's
``keras.distribution.initialize`` reads (``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
``KERAS_DISTRIBUTION_NUM_PROCESSES``, ``KERAS_DISTRIBUTION_PROCESS_ID``) and
those SLURM sets (``SLURM_PROCID``, ``SLURM_NTASKS``; the coordinator is then
still needed, as a flag or ``KERAS_DISTRIBUTION_JOB_ADDRESSES``). ``join``
starts JAX's distributed runtime with timeouts that keep a broken cluster from
hanging: JAX's defaults wait 5 minutes for the others to connect and 100 s for
a missed heartbeat.
"""

import contextlib
import dataclasses
import os
import re
import socket
import sys
import time

# How long a process waits for the others to connect before giving up.
CONNECT_TIMEOUT_SECONDS = 90
# After this long without a heartbeat a process counts as dead and the
# others stop (a process that exits closes its connections, which stops the
# others sooner: at their next collective).
HEARTBEAT_TIMEOUT_SECONDS = 30

_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


@dataclasses.dataclass(frozen=True)
class Cluster:
    """One process's view of a multi-process run.

    Attributes:
        coordinator: ``HOST:PORT`` of process 0, where the others connect.
        num_processes: How many processes take part.
        process_id: This process's index, 0 to ``num_processes - 1`` (0 writes
            the run directory).
        connect_timeout: Seconds to wait for every process to connect.
    """

    coordinator: str
    num_processes: int
    process_id: int
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS

    @classmethod
    def from_flags(cls, coordinator=None, num_processes=None, process_id=None, environ=None,
                   connect_timeout=CONNECT_TIMEOUT_SECONDS):
        """The cluster from the flags, else the environment; checked.

        Raises:
            ValueError: One line naming the flag (or variable) at fault and
                the value received.
        """
        environ = os.environ if environ is None else environ
        sources = {}

        def pick(flag, value, *variables):
            if value is not None:
                sources[flag] = flag
                return value
            for variable in variables:
                if environ.get(variable):
                    sources[flag] = variable
                    return environ[variable]
            return None

        coordinator = pick("--coordinator", coordinator, "KERAS_DISTRIBUTION_JOB_ADDRESSES")
        num_processes = pick(
            "--num-processes", num_processes, "KERAS_DISTRIBUTION_NUM_PROCESSES", "SLURM_NTASKS"
        )
        process_id = pick(
            "--process-id", process_id, "KERAS_DISTRIBUTION_PROCESS_ID", "SLURM_PROCID"
        )
        missing = [
            flag for flag, value in (("--coordinator", coordinator),
                                     ("--num-processes", num_processes),
                                     ("--process-id", process_id)) if value is None
        ]
        if missing:
            raise ValueError(
                f"--strategy multiworker on JAX needs {', '.join(missing)} (or the "
                f"KERAS_DISTRIBUTION_* variables keras.distribution.initialize reads). "
                f"Received: coordinator={coordinator!r}, num_processes={num_processes!r}, "
                f"process_id={process_id!r}"
            )
        # Keras's variable may list every job; the first is the coordinator.
        coordinator = str(coordinator).split(",")[0].strip()
        match = _ADDRESS.match(coordinator)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ValueError(
                f"{sources['--coordinator']} should be HOST:PORT (the address of process 0 "
                f"and a free port there). Received: {coordinator!r}"
            )
        num_processes = _integer(sources["--num-processes"], num_processes)
        process_id = _integer(sources["--process-id"], process_id)
        if num_processes < 1:
            raise ValueError(
                f"{sources['--num-processes']} must be positive. Received: {num_processes}"
            )
        if not 0 <= process_id < num_processes:
            raise ValueError(
                f"{sources['--process-id']} must be from 0 to {num_processes - 1} "
                f"(--num-processes {num_processes}). Received: {process_id}"
            )
        if connect_timeout < 1:
            raise ValueError(f"--connect-timeout must be positive. Received: {connect_timeout}")
        return cls(coordinator, num_processes, process_id, int(connect_timeout))

    def join(self):
        """Starts JAX's distributed runtime: returns when every process has connected.

        Called before JAX touches a device. ``keras.distribution.initialize``
        does the same with JAX's default timeouts, which ``join`` shortens.
        The address is checked first (JAX's client would end the process
        with a page of logs), and the processes then compare their
        ``--num-processes`` through the coordinator.

        Raises:
            ValueError: One line if the coordinator cannot be reached (or, on
                process 0, its port cannot be bound), or the processes were
                started with different process counts.
        """
        import jax

        self._check_address()
        try:
            jax.distributed.initialize(
                coordinator_address=self.coordinator,
                num_processes=self.num_processes,
                process_id=self.process_id,
                initialization_timeout=self.connect_timeout,
                heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_SECONDS,
            )
        except Exception as e:  # XLA's errors come as several types.
            raise ValueError(
                f"process {self.process_id} of {self.num_processes} could not join the "
                f"cluster at {self.coordinator} within {self.connect_timeout} s "
                f"({_first_line(e)}); check that every process was started with the same "
                f"--coordinator and --num-processes and its own --process-id"
            ) from None
        self._compare_counts(jax.process_count())

    def _check_address(self):
        """Process 0 binds the coordinator's port; the others wait until it listens."""
        host, port = self.coordinator.rsplit(":", 1)
        host, port = host.strip("[]"), int(port)
        if self.process_id == 0:
            try:
                with socket.create_server((host, port)):
                    return
            except OSError as e:
                raise ValueError(
                    f"--coordinator {self.coordinator}: process 0 runs the coordinator there and "
                    f"cannot listen on it ({e.strerror or e}); give this machine's address and a "
                    f"free port"
                ) from None
        deadline = time.monotonic() + self.connect_timeout
        while True:
            try:
                with socket.create_connection((host, port), timeout=5):
                    return
            except OSError as e:
                if time.monotonic() > deadline:
                    raise ValueError(
                        f"--coordinator {self.coordinator}: nothing answered there within "
                        f"{self.connect_timeout} s ({e.strerror or e}); start process 0 with the "
                        f"same --coordinator, or give its address"
                    ) from None
                time.sleep(0.5)

    def _compare_counts(self, count):
        """Each process's ``--num-processes`` against the cluster's and the others'.

        JAX's coordinator takes the count of process 0; a process started
        with another one joins all the same and would wait in its first
        collective. The counts are exchanged through the coordinator's
        key-value store (JAX's client; its interface is not public API, so the
        exchange is skipped where it is missing).
        """
        client = getattr(_distributed_state(), "client", None)
        if client is None:
            if count != self.num_processes:
                raise ValueError(self._count_line(self.process_id, self.num_processes, count))
            return
        client.key_value_set(f"keras_resnet/num_processes/{self.process_id}",
                             str(self.num_processes))
        for other in range(count):
            try:
                said = int(client.blocking_key_value_get(
                    f"keras_resnet/num_processes/{other}", self.connect_timeout * 1000))
            except Exception as e:
                raise ValueError(
                    f"process {other} joined the cluster at {self.coordinator} but did not "
                    f"check in within {self.connect_timeout} s ({_first_line(e)})"
                ) from None
            if said != count:
                raise ValueError(self._count_line(other, said, count))

    def _count_line(self, process, said, count):
        who = "this process" if process == self.process_id else f"process {process}"
        return (
            f"--num-processes {said} ({who}), but the cluster at {self.coordinator} has "
            f"{count} processes (process 0's count); start every process with the same "
            f"--num-processes"
        )


def _distributed_state():
    from jax._src import distributed

    return distributed.global_state


def _integer(source, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be an integer. Received: {value!r}") from None


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


@contextlib.contextmanager
def peer_failures_end_the_process(distribution):
    """Ends this process with one line when another process of the run is gone.

    A process that dies closes its connections, and the others' next
    collective fails (within a step; a process that hangs is caught by the
    heartbeat, ``HEARTBEAT_TIMEOUT_SECONDS``). The line says so, and the
    process exits at once with status 1: JAX's exit handlers would wait on a
    shutdown barrier the dead process never reaches, then abort with pages
    of logs. The run directory holds the last completed epoch (the chief
    commits atomically), from which a rerun of every process resumes.
    """
    try:
        yield
    except Exception as e:
        if not distribution.jax_processes or not is_peer_failure(e):
            raise
        print(stopped_line(e, distribution), file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(1)  # (see the docstring: not Python's exit)


def stopped_line(error, distribution):
    """The one line a process says when another process of its run stopped."""
    return (
        f"keras-resnet train: error: process {distribution.worker_index} of "
        f"{distribution.num_workers} stopped: another process of the run is gone or never "
        f"joined "
        f"({_first_line(error)}); rerun every process with the same command to resume "
        f"from the last completed epoch"
    )


def is_peer_failure(error):
    """Whether ``error`` is a collective failing because another process is gone."""
    text = str(error)
    return any(sign in text for sign in _PEER_GONE)


# What JAX's CPU collectives (gloo) and its coordination service say when a
# peer closed its connections or stopped sending heartbeats.
_PEER_GONE = (
    "Connection closed by peer",
    "Connection reset by peer",
    "heartbeat",
    "Gloo",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
)
