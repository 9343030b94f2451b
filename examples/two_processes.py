"""Two JAX processes on one machine, training as one run: what several machines do.

Starts ``keras-resnet train --strategy multiworker`` twice on the JAX
backend, as process 0 and 1 of a cluster whose coordinator listens on
127.0.0.1, and waits for both. Process 0 prints the run and writes the run
folder; process 1 trains its half of every batch and writes nothing. On
several machines, run the same command on each with process 0's address in
``--coordinator`` and each machine's own ``--process-id`` (SLURM: the
process id and count come from ``SLURM_PROCID`` and ``SLURM_NTASKS``).

    python examples/two_processes.py                      # the digits, 3 epochs
    python examples/two_processes.py --data shards --epochs 10 --batch-size 64

Any other flag goes to ``keras-resnet train``. Rerunning the same command
resumes the run from its last completed epoch, also after one process
was killed (the other then stops with one line instead of waiting).
"""

import argparse
import os
import socket
import subprocess
import sys


def free_port():
    """A port nothing listens on now, for the coordinator."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2, help="how many processes (2)")
    parser.add_argument("--run-dir", default="runs/two-processes")
    parser.add_argument("--epochs", default="3")
    args, train_flags = parser.parse_known_args(argv)
    coordinator = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, KERAS_BACKEND="jax")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "keras_resnet", "train", "--strategy", "multiworker",
             "--coordinator", coordinator, "--num-processes", str(args.processes),
             "--process-id", str(index), "--run-dir", args.run_dir, "--epochs", args.epochs,
             "--verbose", "2", *train_flags],
            env=env,
            # Process 0 speaks for the run; the others' output would repeat it.
            stdout=None if index == 0 else subprocess.DEVNULL,
        )
        for index in range(args.processes)
    ]
    statuses = [p.wait() for p in processes]
    return max(statuses, key=abs)


if __name__ == "__main__":
    sys.exit(main())
