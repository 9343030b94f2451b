# Two commands set everything up on a fresh machine:
#   make demo   train a ResNet on the embedded digits and predict with it
#   make test   the test suite, on the TensorFlow and then the JAX backend
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-tf test-jax clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tensorflow,jax,train,test]"
	touch $(STAMP)

# Trains a small ResNet on scikit-learn's digits (about 2 minutes on 2 cores),
# prints the test accuracy, writes runs/digits/curves.png, then classifies a
# few held-out test digits saved as PNG files.
demo: $(STAMP)
	rm -rf runs/digits
	$(VENV)/bin/keras-resnet train --run-dir runs/digits --deterministic
	$(VENV)/bin/keras-resnet predict --run-dir runs/digits runs/digits/samples/*.png

test: test-tf test-jax

test-tf: $(STAMP)
	$(PY) -m pytest -q

# The backend-agnostic tests again, on JAX.
test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest -q -m backend_agnostic

clean:
	rm -rf $(VENV) build *.egg-info runs
