"""``rvq-studio models list | get NAME | remove NAME``: the catalogue of official checkpoints.

Nothing is fetched but by ``get``; its progress bar goes to stderr, the kept path to stdout.
"""
from __future__ import annotations

import argparse

from app.cli.progress_bar import TerminalProgress
from app.cli.terminal_text import printable
from app.model_downloads.catalogue import find_entry, load_catalogue
from app.model_downloads.manager import ModelState, get_model, model_mirror, model_states, remove_model


def add_models_parser(sub) -> None:
    models = sub.add_parser("models", help="list, get or remove official checkpoints",
                            description="The catalogue of official checkpoints (DAC, EnCodec, SNAC, Mimi): "
                                        "what exists, what is downloaded and where. Files go to the cache "
                                        "folders of their own ecosystems (descript's, torch hub's, Hugging "
                                        "Face's), so other tools share them. RVQ_STUDIO_MODEL_MIRROR=URL (or "
                                        "the studio setting models/mirror) replaces each source's scheme and host.")
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the catalogue, with licences and what is downloaded where")
    get = actions.add_parser("get", help="download, verify (checksum, strict load) and keep a model; resumes")
    get.add_argument("name", help="a name from 'rvq-studio models list'")
    remove = actions.add_parser("remove", help="delete a downloaded model (and any interrupted download)")
    remove.add_argument("name", help="a name from 'rvq-studio models list'")


def run_models(args: argparse.Namespace) -> int:
    if args.action == "list":
        for state in model_states(load_catalogue()):
            print(_line(state))
        return 0
    entry = find_entry(args.name)
    if args.action == "remove":
        removed = remove_model(entry)
        print(f"{entry.name}: removed {len(removed)} file(s)" if removed else f"{entry.name}: not downloaded")
        return 0
    bars: dict[str, TerminalProgress] = {}

    def progress(file, done: int, total: int) -> None:
        bars.setdefault(file.name, TerminalProgress(f"{file.name}"))(done, total)

    try:
        path = get_model(entry, model_mirror(), progress)
    finally:
        for bar in bars.values():
            bar.close()
    print(printable(str(path)))
    return 0


def _line(state: ModelState) -> str:
    entry = state.entry
    rates = ", ".join(f"{b:g}" for b in entry.bitrates_kbps)
    return printable(f"{entry.name:<18} {entry.title} | {entry.sample_rate} Hz | {rates} kbps | "
                     f"licence: {entry.licence} | {state.status}")
