#!/usr/bin/env bash
# ResNet-50 on a GPU: keras_resnet (Keras 3, JAX backend) beside torchvision's resnet50
# (torch.compile, AMP bfloat16, channels_last), training and inference img/s at batch 256,
# and the fraction of the GPU's measured bfloat16 matrix-product peak each reaches.
#
# Needs JAX (CUDA), PyTorch and torchvision. Where Keras is not installed (a GPU host
# without a package index), it is installed from wheels in .whl/ (git-ignored):
#
#   1. Where pip can reach the index, download keras and the two dependencies a JAX/PyTorch
#      environment may lack (namex, optree) into .whl/:
#        benchmarks/gpu.sh fetch
#   2. On the GPU host, with .whl/ in the repository folder:
#        benchmarks/gpu.sh run            # about 3 minutes on one H200; "quick" for a smoke test
#      It prints a table and writes gpu_results.json and gpu_log.txt to the folder named by
#      $GPU_RESULTS_DIR (default: the current folder).
set -euo pipefail
cd "$(dirname "$0")/.."

KERAS_VERSION=3.15.1
OPTREE_VERSION=0.20.0
NAMEX_VERSION=0.1.0

case "${1:-run}" in
fetch)
    mkdir -p .whl
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        "keras==${KERAS_VERSION}" "optree==${OPTREE_VERSION}" "namex==${NAMEX_VERSION}"
    ls -l .whl
    exit 0
    ;;
run) ;;
*) echo "usage: benchmarks/gpu.sh fetch|run [quick]" >&2; exit 2 ;;
esac

# Install the wheels in .whl/ where Keras is missing; elsewhere use the installed Keras.
export KERAS_BACKEND=jax
if ! python3 -c "import keras" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
fi
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
QUICK="${2:-}"
RESULTS="${GPU_RESULTS_DIR:-.}"
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# Each framework in its own process: JAX and PyTorch would otherwise fight over GPU memory.
cat > /tmp/gpu_common.py <<'EOF'
import json, os, statistics, sys, time
QUICK = len(sys.argv) > 1 and sys.argv[1] == "quick"
# GPU_BATCH / GPU_SIZE only for smoke tests on small machines; the figures are at 256 / 224.
BATCH, SIZE = int(os.environ.get("GPU_BATCH", 256)), int(os.environ.get("GPU_SIZE", 224))
STEPS, WARMUP = (5, 2) if QUICK else (30, 5)
# ResNet-50 at 224 px: 4.1 G multiply-adds forward = 8.2 GFLOP; a training step is about
# three forward passes (forward, gradients of activations, gradients of weights).
FORWARD_GFLOP = 8.2
def report(name, **values):
    print("GPU_RESULT " + json.dumps({"name": name, **values}), flush=True)
def median_rate(times):
    return BATCH / statistics.median(times)
EOF

cat > /tmp/gpu_torch.py <<'EOF'
import time, torch, torchvision
from gpu_common import *

torch.backends.cudnn.benchmark = True
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
device = "cuda"

# The yardstick: an 8192^3 bfloat16 matrix product.
a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
for _ in range(3):
    a @ a
torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(10):
    a @ a
torch.cuda.synchronize()
peak = 10 * 2 * 8192**3 / (time.perf_counter() - start) / 1e12
report("matmul_bf16", tflops=peak)
del a

def timed(step, steps, warmup):
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times

x = torch.randn(BATCH, 3, SIZE, SIZE, device=device).to(memory_format=torch.channels_last)
y = torch.randint(0, 1000, (BATCH,), device=device)

model = torchvision.models.resnet50().to(device).to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = torch.nn.CrossEntropyLoss()
compiled = torch.compile(model)

def train_step():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = loss_fn(compiled(x), y)
    loss.backward()
    optimizer.step()

model.train()
rate = median_rate(timed(train_step, STEPS, WARMUP))
report("torch_train", img_s=rate, tflops=rate * 3 * FORWARD_GFLOP / 1e3, peak=peak)

model.eval()
def infer_step():
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        compiled(x)
rate = median_rate(timed(infer_step, STEPS, WARMUP))
report("torch_infer", img_s=rate, tflops=rate * FORWARD_GFLOP / 1e3, peak=peak)
print("peak memory GiB", torch.cuda.max_memory_allocated() / 2**30)
EOF

cat > /tmp/gpu_keras.py <<'EOF'
import os, time
os.environ["KERAS_BACKEND"] = "jax"
import jax, keras, numpy as np
from gpu_common import *
import keras_resnet
from keras_resnet import optimize_for_inference
from keras_resnet.training import precision as performance

print("keras", keras.__version__, "jax", jax.__version__, jax.devices())
defaults = performance.training_defaults()
print("training defaults:", defaults)
rng = np.random.default_rng(0)
x = jax.device_put(rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype("float32"))
y = jax.device_put(rng.integers(0, 1000, BATCH))

def timed(step, steps, warmup):
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        jax.block_until_ready(step())
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times

model = performance.build_for_training(
    "resnet50", defaults=defaults, weights=None, input_shape=(SIZE, SIZE, 3))
performance.compile_for_training(
    model, keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
    defaults=defaults,
)
# train_on_batch runs the jitted train step on the arrays already on the GPU.
rate = median_rate(timed(lambda: model.train_on_batch(x, y), STEPS, WARMUP))
report("keras_train", img_s=rate, tflops=rate * 3 * FORWARD_GFLOP / 1e3,
       policy=defaults.dtype_policy)
del model

# The baseline: keras.applications compiled with Keras's defaults.
baseline = keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3))
baseline.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
rate = median_rate(timed(lambda: baseline.train_on_batch(x, y), STEPS, WARMUP))
report("keras_applications_train_fp32", img_s=rate, tflops=rate * 3 * FORWARD_GFLOP / 1e3)
del baseline

inference_model = keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3))
fast = optimize_for_inference(inference_model, precision="bfloat16")
rate = median_rate(timed(lambda: fast(x), STEPS, WARMUP))
report("keras_infer_fast", img_s=rate, tflops=rate * FORWARD_GFLOP / 1e3, precision=fast.precision)
rate = median_rate(timed(lambda: inference_model.predict(x, batch_size=BATCH, verbose=0),
                         STEPS, WARMUP))
report("keras_applications_predict_fp32", img_s=rate, tflops=rate * FORWARD_GFLOP / 1e3)
del fast

# Where the fast path's gain comes from: the same folding and jit in float32, and our
# model through the same `predict` call as keras.applications'.
fast32 = optimize_for_inference(inference_model, precision="float32")
rate = median_rate(timed(lambda: fast32(x), STEPS, WARMUP))
report("keras_infer_fast_fp32", img_s=rate, tflops=rate * FORWARD_GFLOP / 1e3)
del fast32
ours = keras_resnet.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3))
rate = median_rate(timed(lambda: ours.predict(x, batch_size=BATCH, verbose=0), STEPS, WARMUP))
report("keras_resnet_predict_fp32", img_s=rate, tflops=rate * FORWARD_GFLOP / 1e3)
EOF

cd /tmp
# A failure of one framework still leaves the other's figures.
{ python3 gpu_torch.py $QUICK || echo "torchvision run failed"
  python3 gpu_keras.py $QUICK || echo "keras run failed"; } 2>&1 | tee "$RESULTS/gpu_log.txt"

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = {}
for line in open(f"{sys.argv[1]}/gpu_log.txt"):
    if line.startswith("GPU_RESULT "):
        row = json.loads(line[len("GPU_RESULT "):])
        rows[row.pop("name")] = row
peak = rows.get("matmul_bf16", {}).get("tflops")
print(f"\nbfloat16 matrix product (8192^3): {peak:.0f} TFLOP/s" if peak else "\nno matmul peak")
print(f"{'ResNet-50, 224 px, batch 256':<44} {'img/s':>8} {'TFLOP/s':>8} {'of peak':>8}")
for name in ("keras_train", "keras_applications_train_fp32", "torch_train",
             "keras_infer_fast", "keras_infer_fast_fp32", "keras_resnet_predict_fp32",
             "keras_applications_predict_fp32", "torch_infer"):
    if name in rows:
        r = rows[name]
        share = f"{r['tflops'] / peak:.1%}" if peak else ""
        print(f"{name:<44} {r['img_s']:>8.0f} {r['tflops']:>8.1f} {share:>8}")
for ours, theirs in (("keras_train", "keras_applications_train_fp32"),
                     ("keras_infer_fast", "keras_applications_predict_fp32"),
                     ("keras_train", "torch_train"), ("keras_infer_fast", "torch_infer")):
    if ours in rows and theirs in rows:
        print(f"{ours} / {theirs}: {rows[ours]['img_s'] / rows[theirs]['img_s']:.2f}x")
json.dump(rows, open(f"{sys.argv[1]}/gpu_results.json", "w"), indent=2)
EOF
