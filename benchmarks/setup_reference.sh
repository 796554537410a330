#!/usr/bin/env bash
# Installs the PyTorch / Hugging Face reference of the benchmarks into its own
# venv, benchmarks/reference/.venv, apart from the TensorFlow stack in .venv.
#
#   bash benchmarks/setup_reference.sh        (from the repository root)
#
# Rerunning it is cheap: pip leaves what is installed at the pinned versions.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${here}/reference/.venv"
python="${PYTHON:-python3}"
if [[ ! -x "${venv}/bin/python" ]]; then
  "${python}" -m venv "${venv}"
fi
"${venv}/bin/python" -m pip install -q --upgrade pip
# torch first, alone and pinned exactly, so that nothing else resolves it.
"${venv}/bin/python" -m pip install -q "torch==2.13.0"
"${venv}/bin/python" -m pip install -q -r "${here}/reference/requirements.txt"
"${venv}/bin/python" -c "import torch, transformers; print('reference venv:', \
'torch', torch.__version__, 'transformers', transformers.__version__)"
