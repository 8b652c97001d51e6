"""Where a command writes: the ``-o`` argument checked against the ways it could destroy data.

* ``-o`` naming the input itself (also through a symbolic or hard link) is refused: the
  source would be replaced by its own encoding.
* An existing folder, or any path ending in a slash, is a folder: the output goes inside it,
  named after the input (``clip.wav`` -> ``clip.rvq``); a missing one is an error, never a
  file named like the folder.
* A symbolic link is followed: the file it points to is replaced and the link stays.
* A device, FIFO or socket is refused: writes are atomic (a new file renamed into place),
  which would replace the node itself with a regular file (``-o /dev/null`` run as root
  would replace /dev/null).
* An extension that does not say what is written is a warning on stderr.

A command that writes a folder (``export --onnx DIR``) gets the same care: the input itself,
an existing file, a missing parent or one it may not write into are refused before any work.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from app.cli.terminal_text import printable


def output_path(argument: str, source: str, suffix: str) -> Path:
    """The file to write for ``-o argument``, given the input ``source`` and the output's ``suffix``."""
    out = Path(argument).expanduser()
    if argument.endswith(("/", os.sep)) or out.is_dir():
        if not out.is_dir():
            raise ValueError(f"{argument}: the output folder does not exist")
        out = out / (Path(source).stem + suffix)
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise ValueError(f"{out}: the output folder does not exist")
    if out.exists():
        if not out.is_file():
            raise ValueError(f"{out}: not a regular file (a device, FIFO or socket); give a file path")
        if Path(source).exists() and os.path.samefile(out, source):
            raise ValueError(f"{argument}: this is the input file; choose another output")
    return out


def warn_unless_suffix(out: Path, suffix: str) -> None:
    """A warning on stderr when ``out``'s extension is not ``suffix`` (the data is written anyway)."""
    if out.suffix.lower() != suffix:
        print(f"rvq-studio: warning: {printable(str(out))} holds {suffix} data despite its "
              f"'{printable(out.suffix) or 'missing'}' extension", file=sys.stderr)


def output_folder(argument: str, source: str) -> Path:
    """The folder to write for ``argument`` (created by the command if missing), given the input
    ``source``."""
    out = Path(argument).expanduser()
    if Path(source).is_file() and out.exists() and os.path.samefile(out, source):
        raise ValueError(f"{argument}: this is the input; choose another output folder")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{argument}: exists and is not a folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise ValueError(f"{argument}: the folder it would be made in does not exist")
    writable = out if out.is_dir() else parent
    if not os.access(writable, os.W_OK | os.X_OK):
        raise ValueError(f"{argument}: no permission to write in {writable}")
    return out
