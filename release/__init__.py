"""Release tooling for the bundled model: shipping a run's checkpoint and writing its card.

Used by scripts/make_model_card.py and its tests, never by the installed application.
"""
