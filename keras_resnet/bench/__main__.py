"""``python -m keras_resnet.bench``: the benchmark harness (also ``keras-resnet bench``)."""

import sys

from keras_resnet.bench import main

sys.exit(main())
