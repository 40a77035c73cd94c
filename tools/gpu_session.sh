#!/usr/bin/env bash
# The whole GPU test plan, run once on a lent NVIDIA machine (issue 18), writing everything under $OUT.
#
# Before it, carry the pieces there one `run` at a time, each copied to /root/whl/ ($WHL):
#   bash ../shared/tools/gpu-ort-parts      -> .gpuwhl/part-00..05 and .gpuwhl/meta (onnxruntime-gpu)
#   bash tools/gpu_deps.sh                  -> .gpuwhl/deps-part-NN (test and benchmark wheels)
# and the last `run` carries .gpuwhl/meta and runs: bash tools/gpu_session.sh
#
# It joins and checks the onnxruntime-gpu wheel, swaps it for the CPU one, installs the missing
# wheels without the network, builds genrt's extension in place, then: nvidia-smi, genrt info,
# the gpu tests, the whole suite, bench at batch 1, 8, 64, 256 (CPU, CUDA, CUDA graphs, fp16,
# the optimized graph; bare onnxruntime with host and device I/O; PyTorch eager), and a short
# AMP training run with its export. Each step's output goes to its own file; a failing step is
# recorded and the next one still runs.
set -u
OUT=${OUT:-/tmp/genrt-gpu}
mkdir -p "$OUT"
PY=${PY:-python3}
WHL=${WHL:-/root/whl}  # where the carried parts were copied
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.txt"; }
step() {  # step NAME COMMAND...: output in $OUT/NAME.txt, status in steps.txt
  local name=$1; shift
  log "start $name"
  timeout "${STEP_TIMEOUT:-900}" "$@" > "$OUT/$name.txt" 2>&1
  log "end $name: exit $?"
}

# 1. The onnxruntime-gpu wheel, joined from its parts and checked.
name=$(cat .gpuwhl/meta/NAME)
cat "$WHL"/part-0? > "$WHL/$name"
if [ "$(sha256sum "$WHL/$name" | cut -d' ' -f1)" != "$(cat .gpuwhl/meta/SHA256)" ]; then
  log "sha256 mismatch for $name: a part is missing or doubled"; exit 1
fi
if ls "$WHL"/deps-part-* > /dev/null 2>&1; then
  cat "$WHL"/deps-part-* | tar -C "$WHL" -xf -
fi
step pip-before "$PY" -m pip list
"$PY" -m pip uninstall -y onnxruntime > "$OUT/uninstall.txt" 2>&1
step install-ort "$PY" -m pip install --no-deps --no-index "$WHL/$name"
for module in cython pytest hypothesis onnx onnxscript click PIL starlette uvicorn httptools uvloop tqdm safetensors \
              matplotlib scipy; do
  "$PY" -c "import $module" 2> /dev/null || missing="${missing:-} $module"
done
log "missing before install:${missing:-} (none)"
[ -n "${missing:-}" ] && step install-deps "$PY" -m pip install --no-index --find-links "$WHL/deps" \
  cython pytest hypothesis "onnx>=1.21" "onnxscript>=0.5" click Pillow starlette uvicorn httptools uvloop tqdm \
  safetensors matplotlib scipy
step build-ext "$PY" setup.py build_ext --inplace

# 2. The machine and what onnxruntime really gets.
step nvidia-smi nvidia-smi
step versions "$PY" -c "
import numpy, onnxruntime as o, torch
print('onnxruntime', o.__version__, o.get_device(), o.get_available_providers())
print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())
print('numpy', numpy.__version__)"
step info "$PY" -m genrt.cli info --json

# 3. Tests: the gpu ones alone, then everything.
step tests-gpu "$PY" -m pytest -m gpu -q -p no:cacheprovider -x
STEP_TIMEOUT=1500 step tests-all "$PY" -m pytest -q -p no:cacheprovider

# 4. A short AMP training run of a 64x64 DCGAN, its export (fp16 too) and its optimized graph.
work=$OUT/work
step train-amp "$PY" -m genrt.cli train dcgan --data fake:4096 --size 64 --channels 3 --epochs 2 --device cuda \
  --out "$work/dcgan64" --quiet
step export "$PY" -m genrt.cli export "$work/dcgan64" -o "$work/dcgan64.onnx" --fp16 --no-optimize
step optimize "$PY" -m genrt.cli optimize "$work/dcgan64.onnx" -o "$work/dcgan64.opt.onnx" --device cuda \
  --uint8-output --batch 1,8,64,256

# 5. bench: every configuration, each against bare onnxruntime (host and device I/O) and PyTorch eager.
bundled=$("$PY" -c "from genrt.runtime.environment import default_model_path as p; print(p())")
bench() {  # bench NAME MODEL CHECKPOINT ARGS...: CHECKPOINT "-" leaves PyTorch eager out
  local name=$1 model=$2 checkpoint=$3 torch=(); shift 3
  [ "$checkpoint" != - ] && torch=(--compare "torch:$checkpoint")
  step "bench-$name" "$PY" -m genrt.cli bench "$model" --batch 1,8,64,256 --seconds 3 --compare onnxruntime \
    "${torch[@]}" --json "$OUT/bench-$name.json" "$@"
}
# The bundled model's checkpoint is not in git (runs/ is ignored): carry runs/cgan-digits-ema to compare eager.
bundled_run=-
[ -f runs/cgan-digits-ema/checkpoint.safetensors ] && bundled_run=runs/cgan-digits-ema
bench bundled-cpu "$bundled" "$bundled_run" --device cpu
bench bundled-cuda "$bundled" "$bundled_run" --device cuda
bench bundled-cuda-graph "$bundled" "$bundled_run" --device cuda --cuda-graph
bench dcgan64-cpu "$work/dcgan64.onnx" "$work/dcgan64" --device cpu
bench dcgan64-cuda "$work/dcgan64.onnx" "$work/dcgan64" --device cuda
bench dcgan64-cuda-graph "$work/dcgan64.onnx" "$work/dcgan64" --device cuda --cuda-graph
bench dcgan64-fp16 "$work/dcgan64.onnx" "$work/dcgan64" --device cuda --variant fp16
bench dcgan64-opt "$work/dcgan64.opt.onnx" "$work/dcgan64" --device cuda
log "done"
