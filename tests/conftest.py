"""Suite-wide settings: deterministic threads, offscreen Qt."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
