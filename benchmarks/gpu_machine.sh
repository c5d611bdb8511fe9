#!/usr/bin/env bash
# The GPU check, as one prepared script: run from the repository root on a GPU machine.
# A bare machine has torch but not skorch or constriction: they come as wheels in .whl/
# (see docs/benchmarks.rst, "The GPU path", for how to download them). Writes its logs and
# the section's JSON to $OUT (or /tmp).
set -o pipefail
out=${OUT:-/tmp}
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
python3 -c "import torch, skorch, skvae; print('torch', torch.__version__, 'cuda',
    torch.cuda.is_available(), 'skorch', skorch.__version__, 'skvae', skvae.__version__)" || exit 1
python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/test_persistence.py \
    2>&1 | tee "$out/pytest_gpu.log"
python3 benchmarks/run.py --only gpu --out "$out/gpu.json" 2>&1 | tee "$out/gpu_section.log"
