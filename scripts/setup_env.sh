#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv and install RVQ Studio
# with its test dependencies. Idempotent: a second run only checks what is there.
#
# torch is pinned to the CPU build that lies on the machines' disk; any other version
# would pull a multi-gigabyte CUDA build.  System libraries come from Debian when we are
# root: PortAudio for sound output (without it the studio still runs, silently, and says
# why), libopus for the Opus reference in the quality panel, and what Qt's xcb platform
# plugin loads to open the window on an X server.  Qt names only xcb-cursor when any of
# them is missing, so the whole set is listed here:
# every library `ldd` finds behind PySide6's plugins/platforms/libqxcb.so and its
# xcbglintegrations that a minimal Debian lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

SOUND_PACKAGES=(libportaudio2 libopus0)
WINDOW_PACKAGES=(libxcb1 libx11-6 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
                 libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
                 libxcb-xfixes0 libxcb-xkb1 libxcb-glx0 libxkbcommon0 libxkbcommon-x11-0 libegl1 libgl1
                 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0)
if command -v dpkg-query >/dev/null; then
    missing=()
    for package in "${SOUND_PACKAGES[@]}" "${WINDOW_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
                >/dev/null 2>&1 || echo "setup: could not install ${missing[*]}; without libportaudio2" \
                "there is no sound, without libopus0 no Opus reference, without the others no window" \
                "on an X server" >&2
        else
            echo "setup: missing ${missing[*]} (install them as root: libportaudio2 for sound output," \
                "libopus0 for the Opus reference, the others for the window on an X server)" >&2
        fi
    fi
elif ! ldconfig -p 2>/dev/null | grep -q libportaudio.so; then
    echo "setup: PortAudio missing (install it for sound output)" >&2
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
.venv/bin/python -c "from model.native_kernels import build; build(verbose=True)" >/dev/null \
    || echo "setup: native kernels not built; inference uses the slower PyTorch paths" >&2
