# Two commands set everything up on a fresh machine:
#   make demo   .venv with TensorFlow and Keras only, then train a ResNet on
#               the embedded digits and predict with it
#   make test   adds the test stack (PyTorch, torchvision, timm, JAX, tf_keras,
#               the export runtimes)
#               and runs the suite on TensorFlow, then its backend-agnostic
#               part on JAX and on PyTorch
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: demo test test-tf test-jax test-torch clean

# Two layers: the demo's environment is the package with TensorFlow, Keras and
# what the demo uses (scikit-learn, Pillow, matplotlib); no PyTorch, JAX or
# tf_keras. The tests add those: they are the references the tests compare
# against and the other two backends.
DEMO_STAMP := $(VENV)/.demo-installed
TEST_STAMP := $(VENV)/.test-installed

# torchvision needs the torch release it was built against; this pair is the
# one the tests were run with.
TORCH_PAIR ?= torch==2.14.1 torchvision==0.29.1

$(DEMO_STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tensorflow]"
	touch $(DEMO_STAMP)

$(TEST_STAMP): $(DEMO_STAMP)
	$(PY) -m pip install --quiet $(TORCH_PAIR)
	$(PY) -m pip install --quiet -e ".[tensorflow,jax,torch,export,test]"
	touch $(TEST_STAMP)

# Trains a small ResNet on scikit-learn's digits, prints the test accuracy,
# writes runs/digits/curves.png, then classifies a few held-out test digits
# saved as PNG files: 31 s once installed (18 s of it training), about 1 min 20 s
# from a fresh clone with pip's cache warm (2-core AMD EPYC, 2026-12-05).
demo: $(DEMO_STAMP)
	rm -rf runs/digits
	$(VENV)/bin/keras-resnet train --run-dir runs/digits --deterministic
	$(VENV)/bin/keras-resnet predict --run-dir runs/digits runs/digits/samples/*.png

test: test-tf test-jax test-torch

# Two test processes (pytest-xdist): most of a test's time is Python building
# models on one core.
PYTEST := $(PY) -m pytest -q -n 2 --durations=10

test-tf: $(TEST_STAMP)
	$(PYTEST)

# The backend-agnostic tests again, on JAX and on PyTorch.
test-jax: $(TEST_STAMP)
	KERAS_BACKEND=jax $(PYTEST) -m backend_agnostic

test-torch: $(TEST_STAMP)
	KERAS_BACKEND=torch $(PYTEST) -m backend_agnostic

clean:
	rm -rf $(VENV) build *.egg-info runs
