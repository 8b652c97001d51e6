"""The files bundled with RVQ Studio, installed as the package ``rvq_studio_resources``.

A package so that they travel in the wheel and are found wherever it is installed
(model/bundled_files.py); nothing here is code.
"""
