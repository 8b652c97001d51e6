#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install RVQ Studio
# with its test dependencies. Idempotent: a second run only checks what is there.
#
# torch is pinned to the CPU build that lies on the machines' disk; any other version
# would pull a multi-gigabyte CUDA build.  PortAudio (for sound output) comes from Debian
# when we are root; without it the studio still runs, silently, and says why.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q libportaudio.so; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libportaudio2) \
            >/dev/null 2>&1 || echo "setup: could not install libportaudio2; sound output disabled" >&2
    else
        echo "setup: libportaudio2 missing (install it for sound output)" >&2
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/pip install -q --disable-pip-version-check -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, PySide6, soundfile, soxr, safetensors" \
    || { echo "setup: installation incomplete" >&2; exit 1; }
# Optional: compile the fused Snake kernel for this CPU (about a minute, once; cached).
.venv/bin/python -c "from model.fused_snake import build; build(verbose=True)" >/dev/null \
    || echo "setup: fused Snake kernel not built; inference uses the slower eager path" >&2
