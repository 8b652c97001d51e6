"""Training and fine-tuning of codecs: GAN training from the command line, resumable, torchrun-ready.

Modules, one job each:

- ``recipes``: what a training recipe is (architecture, discriminator, loss weights, optimiser, data,
  schedule); each family's module holds its recipes, :mod:`model.registry` finds them by name.
- ``run_config``: command-line options resolved into a run's ``config.json``; resume rules.
- ``run_folder``: the names of a run folder's files, for the trainer, the studio and release tools.
- ``corpus``: scanning a folder of audio into groups; the held-out validation split.
- ``excerpts``: one deterministic, normalised excerpt per example index.
- ``batches``: step-indexed batches loaded by worker processes; the validation set.
- ``objective``: the weighted generator and discriminator losses.
- ``checkpoint``: safe, atomic, exactly-resumable training state.
- ``validation``: the metrics of ``rvq-studio eval`` at every codebook count.
- ``exported_model``: the run's ``model.safetensors`` for the studio.
- ``progress``: JSON-lines and terminal reporting.
- ``distributed``: torchrun, DDP and the collectives the loop needs.
- ``loop``: the trainer that ties them together.

The package itself imports nothing: the studio reads presets and progress lines without loading the
training loop, so each module is imported by its own name (``from model.training.loop import train``).
"""
