"""Official checkpoints fetched on the user's command: the catalogue, the ecosystems' cache
folders the files go to, resumable verified transfers (see :mod:`app.model_downloads.manager`)."""
