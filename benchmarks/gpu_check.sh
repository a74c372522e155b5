#!/usr/bin/env bash
# One-shot GPU check of bench (benchmarks/gpu_check.py): bf16 DPO throughput/MFU of bench vs TRL, generation.
#
#   remote (repo root, wheels in .whl/):  bash benchmarks/gpu_check.sh
#   here, on the CPU:                     bash benchmarks/gpu_check.sh --tiny --no-install   (or GPU_CHECK_TINY=1)
#
# Installs the carried wheels (.whl/*.whl: trl, datasets and what the machine lacks) into /tmp/site unless
# --no-install is given or .whl/ is absent, then runs the check under `timeout 470` so a slow run still leaves
# the JSON of the sections it finished. Results: $OUT/gpu_check.json and $OUT/gpu_check.log.
set -uo pipefail
cd "$(dirname "$0")/.."

export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TQDM_DISABLE=1
OUT="${OUT:-$(mktemp -d -t gpu-check-out-XXXX)}"
mkdir -p "$OUT"
export OUT

python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python

install=1
args=()
for arg in "$@"; do
    case "$arg" in
        --no-install) install=0 ;;
        *) args+=("$arg") ;;
    esac
done
[ -n "${GPU_CHECK_TINY:-}" ] && args+=(--tiny)
[ -n "${GPU_CHECK_NO_INSTALL:-}" ] && install=0

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "$install" = 1 ] && compgen -G ".whl/*.whl" >/dev/null; then
    started=$SECONDS
    if "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl; then
        export PYTHONPATH="/tmp/site:$PYTHONPATH"
        echo "wheels installed into /tmp/site in $((SECONDS - started)) s: $(cd .whl && ls *.whl | tr '\n' ' ')"
    elif "$python" -c "import glob, zipfile; [zipfile.ZipFile(w).extractall('/tmp/site') for w in glob.glob('.whl/*.whl')]"; then
        export PYTHONPATH="/tmp/site:$PYTHONPATH"   # all carried wheels are pure Python: unpacking them installs them
        echo "pip failed: wheels unpacked into /tmp/site instead"
    else
        echo "wheel install failed: the TRL section will fail, bench's still run"
    fi
fi

timeout -k 10 470 "$python" benchmarks/gpu_check.py ${args[@]+"${args[@]}"} 2>&1 | tee "$OUT/gpu_check.log"
status=${PIPESTATUS[0]}
[ "$status" = 124 ] && echo "gpu_check.py hit the 470 s limit: $OUT/gpu_check.json has the sections it finished"
echo "exit status $status; results in $OUT"
exit "$status"
