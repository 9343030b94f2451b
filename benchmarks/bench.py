"""keras_resnet beside keras.applications: ``keras-resnet bench`` from a source checkout.

The harness lives in the package (``keras_resnet.bench``), so that installed
copies can run it too; this script runs it against the checkout it sits in.
Its results are recorded in benchmarks/RESULTS.md and results-*.json.

Usage:
    python benchmarks/bench.py --rounds 2 --json benchmarks/results-cpu.json
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_resnet.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/bench.py"))
