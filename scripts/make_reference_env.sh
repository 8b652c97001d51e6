#!/usr/bin/env bash
# Build the *reference* environment: a separate venv (default ../refenv, beside the
# repository, outside it) holding the official Descript Audio Codec, EnCodec, SNAC and Moshi (Mimi) packages next
# to an editable install of RVQ Studio, so fixtures and benchmarks can run `dac`, `encodec`
# and our `model` in one process.  The project itself never depends on dac, encodec,
# audiotools or torchaudio; only this venv does.
#
# Why it is built the way it is:
#   * torch is pinned to 2.13.0, the CPU build lying on the machines' disk (pip's global
#     constraints cap torch; any other version would download gigabytes).
#   * descript-audio-codec, descript-audiotools and encodec require torchaudio, but no torchaudio
#     on PyPI is built for torch 2.13: its compiled ops fail to load.  dac and the parts of
#     audiotools we use (models, STFT/mel losses, SI-SDR) only need torchaudio's pure-Python
#     modules at import time (encodec imports it only for its audio-file helpers, which the
#     fixtures do not use).  torchaudio's loader treats a missing shared library as "built
#     without the extension" (it globs lib/<name>*.so and returns False when none matches),
#     so we install the newest wheel with --no-deps (it declares no torch pin, and
#     --no-deps keeps pip from touching torch anyway) and rename its .so files to
#     *.so.disabled inside this venv only.  Functions that need the extension (sox effects,
#     RNN-T loss, forced alignment) then fail with torchaudio's own clear message.
#   * A constraints file pins torch and torchaudio while dac's dependency tree resolves,
#     so nothing can swap them out behind our back.
#
# Idempotent: re-running checks what is there and repairs what is missing.
# Usage: scripts/make_reference_env.sh            (REFENV=/some/dir to build elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

REFENV=${REFENV:-$(dirname "$REPO")/refenv}
PY=${PYTHON:-python3.11}
TORCH_VERSION=2.13.0
TORCHAUDIO_VERSION=2.11.0
DAC_VERSION=1.0.0
ENCODEC_VERSION=0.1.1
SNAC_VERSION=1.2.1
MOSHI_VERSION=0.2.13

# pip install, quiet on success; on failure show pip's output (minus the machine's
# harmless "Location ... is ignored" noise) and stop.
pip_quiet() {
    local log
    log=$(mktemp)
    if ! "$REFENV/bin/pip" install -q --disable-pip-version-check "$@" >"$log" 2>&1; then
        grep -v "^WARNING: Location" "$log" >&2 || true
        rm -f "$log"
        echo "refenv: pip install $* failed" >&2
        exit 1
    fi
    rm -f "$log"
}

if [ ! -x "$REFENV/bin/python" ]; then
    "$PY" -m venv "$REFENV"
fi
"$REFENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "refenv: $REFENV is not a Python 3.11 venv" >&2; exit 1; }

pins="$REFENV/reference-pins.txt"
printf 'torch==%s\ntorchaudio==%s\n' "$TORCH_VERSION" "$TORCHAUDIO_VERSION" > "$pins"

pip_quiet "torch==$TORCH_VERSION"
pip_quiet --no-deps "torchaudio==$TORCHAUDIO_VERSION"

# Keep torchaudio's compiled extension from loading (see header).
ta_lib=$("$REFENV/bin/python" - <<'EOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("torchaudio")
print(pathlib.Path(spec.origin).parent / "lib")
EOF
)
for so in "$ta_lib"/*.so; do
    [ -e "$so" ] && mv "$so" "$so.disabled"
done

pip_quiet -c "$pins" "descript-audio-codec==$DAC_VERSION"
pip_quiet -c "$pins" "encodec==$ENCODEC_VERSION"
pip_quiet -c "$pins" "snac==$SNAC_VERSION"
# moshi pins an older torch; only its Mimi model is used, which runs on 2.13 without them.
pip_quiet --no-deps "moshi==$MOSHI_VERSION"
pip_quiet -c "$pins" numpy soundfile soxr safetensors constriction pyloudnorm einops huggingface-hub sentencepiece
pip_quiet --no-deps -e "$REPO"

"$REFENV/bin/python" - <<EOF
import torch, torchaudio, dac, audiotools, encodec, snac, model
from moshi.models import compression
assert torch.__version__.split("+")[0] == "$TORCH_VERSION", torch.__version__
assert dac.__version__ == "$DAC_VERSION", dac.__version__
assert encodec.__version__ == "$ENCODEC_VERSION", encodec.__version__
assert not torchaudio._extension._IS_TORCHAUDIO_EXT_AVAILABLE
print(f"refenv ready: torch {torch.__version__}, torchaudio {torchaudio.__version__} "
      f"(no extension), dac {dac.__version__}, encodec {encodec.__version__}, "
      f"audiotools {audiotools.__version__}, snac {snac.__version__ if hasattr(snac, '__version__') else '$SNAC_VERSION'}, moshi $MOSHI_VERSION")
EOF
