#!/usr/bin/env bash
# The GPU test plan for a lent NVIDIA machine (issue 18), in stages that each fit one `run` (600 s),
# writing everything under $OUT:   bash tools/gpu_session.sh setup|tests|train|bench
#
# Before `setup`, carry the pieces there one `run` at a time, each copied to /root/whl/ ($WHL):
#   bash ../shared/tools/gpu-ort-parts      -> .gpuwhl/part-00..05 and .gpuwhl/meta (onnxruntime-gpu)
#   bash tools/gpu_deps.sh                  -> .gpuwhl/deps-part-NN (test and benchmark wheels)
# and the `setup` run carries .gpuwhl/meta (and runs/cgan-digits-ema, for PyTorch eager on the
# bundled model). The machine keeps its files between runs while it stays warm.
#
# setup  joins and checks the onnxruntime-gpu wheel, swaps it for the CPU one, installs the missing
#        wheels without the network, builds genrt's extension in place; nvidia-smi, versions, genrt info
# tests  the gpu tests, then the whole suite
# train  a short AMP training run of a 64x64 DCGAN, its export (fp16 too), its graph optimized on CUDA
# bench  batch 1, 8, 64, 256 on CPU, CUDA, CUDA graphs, fp16 and the optimized graph, each against bare
#        onnxruntime (host and device I/O) and PyTorch eager
# Each step's output goes to its own file; a failing step is recorded and the next one still runs.
set -u
stage=${1:?usage: gpu_session.sh setup|tests|train|bench}
OUT=${OUT:-/tmp/genrt-gpu}
mkdir -p "$OUT"
PY=${PY:-python3}
WHL=${WHL:-/root/whl}  # where the carried parts were copied
WORK=${WORK:-/root/genrt-work}  # what `train` makes and `bench` uses, kept between runs
GPU=${GPU:-cuda}  # GPU=cpu dry-runs the train and bench command lines on a machine without one

log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.txt"; }
step() {  # step NAME COMMAND...: output in $OUT/NAME.txt, status in steps.txt
  local name=$1; shift
  log "start $name"
  timeout "${STEP_TIMEOUT:-900}" "$@" > "$OUT/$name.txt" 2>&1
  log "end $name: exit $?"
}

setup() {
  # The onnxruntime-gpu wheel, joined from its parts and checked.
  name=$(cat .gpuwhl/meta/NAME)
  cat "$WHL"/part-0? > "$WHL/$name"
  if [ "$(sha256sum "$WHL/$name" | cut -d' ' -f1)" != "$(cat .gpuwhl/meta/SHA256)" ]; then
    log "sha256 mismatch for $name: a part is missing or doubled"; return 1
  fi
  if ls "$WHL"/deps-part-* > /dev/null 2>&1; then
    cat "$WHL"/deps-part-* | tar -C "$WHL" -xf -
  fi
  step pip-before "$PY" -m pip list
  "$PY" -m pip uninstall -y onnxruntime > "$OUT/uninstall.txt" 2>&1
  step install-ort "$PY" -m pip install --no-deps --no-index "$WHL/$name"
  # module:distribution, for what genrt's tests, training and benchmarks import
  local wanted=(Cython:cython pytest:pytest hypothesis:hypothesis onnx:onnx onnxscript:onnxscript click:click
                PIL:Pillow starlette:starlette uvicorn:uvicorn httptools:httptools uvloop:uvloop tqdm:tqdm
                safetensors:safetensors matplotlib:matplotlib scipy:scipy)
  local missing=() pair
  for pair in "${wanted[@]}"; do
    "$PY" -c "import ${pair%%:*}" 2> /dev/null || missing+=("${pair#*:}")
  done
  log "missing before install: ${missing[*]:-none}"
  [ ${#missing[@]} -gt 0 ] && step install-deps "$PY" -m pip install --no-index --find-links "$WHL/deps" "${missing[@]}"
  step build-ext "$PY" setup.py build_ext --inplace
  # The machine and what onnxruntime really gets.
  step nvidia-smi nvidia-smi
  local versions="import numpy, onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_device(),
o.get_available_providers()); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn',
torch.backends.cudnn.version()); print('numpy', numpy.__version__)"
  step versions "$PY" -c "$versions"
  step info "$PY" -m genrt.cli info --json
}

tests() {
  step tests-gpu "$PY" -m pytest -m gpu -q -p no:cacheprovider -x
  STEP_TIMEOUT=420 step tests-all "$PY" -m pytest -q -p no:cacheprovider
}

train() {
  work=$WORK
  step train-amp "$PY" -m genrt.cli train dcgan --data fake:4096 --size 64 --channels 3 --epochs 2 --device "$GPU" \
    --out "$work/dcgan64" --quiet
  step export "$PY" -m genrt.cli export "$work/dcgan64" -o "$work/dcgan64.onnx" --fp16 --no-optimize
  step optimize "$PY" -m genrt.cli optimize "$work/dcgan64.onnx" -o "$work/dcgan64.opt.onnx" --device "$GPU" \
    --uint8-output --batch 1,8,64,256
  cp "$work/dcgan64/metrics.jsonl" "$OUT/train-metrics.jsonl" 2>/dev/null
}

bench() {  # bench NAME MODEL CHECKPOINT ARGS...: CHECKPOINT "-" leaves PyTorch eager out
  local name=$1 model=$2 checkpoint=$3 torch=(); shift 3
  [ "$checkpoint" != - ] && torch=(--compare "torch:$checkpoint")
  step "bench-$name" "$PY" -m genrt.cli bench "$model" --batch 1,8,64,256 --seconds "${SECONDS_PER_BATCH:-2}" \
    --compare onnxruntime "${torch[@]}" --json "$OUT/bench-$name.json" "$@"
}

benches() {
  work=$WORK
  bundled=$("$PY" -c "from genrt.runtime.environment import default_model_path as p; print(p())")
  # The bundled model's checkpoint is not in git (runs/ is ignored): carry runs/cgan-digits-ema to compare eager.
  bundled_run=-
  [ -f runs/cgan-digits-ema/checkpoint.safetensors ] && bundled_run=runs/cgan-digits-ema
  bench bundled-cpu "$bundled" "$bundled_run" --device cpu
  bench bundled-cuda "$bundled" "$bundled_run" --device "$GPU"
  bench bundled-cuda-graph "$bundled" "$bundled_run" --device "$GPU" --cuda-graph
  bench dcgan64-cpu "$work/dcgan64.onnx" "$work/dcgan64" --device cpu
  bench dcgan64-cuda "$work/dcgan64.onnx" "$work/dcgan64" --device "$GPU"
  bench dcgan64-cuda-graph "$work/dcgan64.onnx" "$work/dcgan64" --device "$GPU" --cuda-graph
  bench dcgan64-fp16 "$work/dcgan64.onnx" "$work/dcgan64" --device "$GPU" --variant fp16
  bench dcgan64-opt "$work/dcgan64.opt.onnx" "$work/dcgan64" --device "$GPU"
}

case $stage in
  setup) setup ;;
  tests) tests ;;
  train) train ;;
  bench) benches ;;
  *) echo "unknown stage $stage: setup, tests, train or bench" >&2; exit 2 ;;
esac
log "stage $stage done"
