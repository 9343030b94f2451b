# Two commands set everything up on a fresh machine:
#   make demo   train a ResNet on the embedded digits and predict with it
#   make test   the test suite on TensorFlow, then its backend-agnostic part on
#               JAX and on PyTorch
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: demo test test-tf test-jax test-torch clean

# torchvision needs the torch release it was built against; this pair is the
# one the tests were run with (torch and torchvision are only for the tests:
# the PyTorch backend and the checks against torchvision's and timm's models).
TORCH_PAIR ?= torch==2.14.1 torchvision==0.29.1

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PAIR)
	$(PY) -m pip install --quiet -e ".[tensorflow,jax,torch,train,test]"
	touch $(STAMP)

# Trains a small ResNet on scikit-learn's digits (about 2 minutes on 2 cores),
# prints the test accuracy, writes runs/digits/curves.png, then classifies a
# few held-out test digits saved as PNG files.
demo: $(STAMP)
	rm -rf runs/digits
	$(VENV)/bin/keras-resnet train --run-dir runs/digits --deterministic
	$(VENV)/bin/keras-resnet predict --run-dir runs/digits runs/digits/samples/*.png

test: test-tf test-jax test-torch

# Two test processes (pytest-xdist): most of a test's time is Python building
# models on one core.
PYTEST := $(PY) -m pytest -q -n 2 --durations=10

test-tf: $(STAMP)
	$(PYTEST)

# The backend-agnostic tests again, on JAX and on PyTorch.
test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PYTEST) -m backend_agnostic

test-torch: $(STAMP)
	KERAS_BACKEND=torch $(PYTEST) -m backend_agnostic

clean:
	rm -rf $(VENV) build *.egg-info runs
