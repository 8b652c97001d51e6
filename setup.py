"""The installed packages: the code (found as usual) and resources/ installed as ``rvq_studio_resources``.

Everything else is in pyproject.toml. This file exists because pyproject.toml cannot combine
package discovery with a folder installed under another name, and the bundled model, its card
and the demo clips must travel in the wheel (model/bundled_files.py finds them there).
"""
from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["app*", "ui*", "model*"]), "rvq_studio_resources"],
    package_dir={"rvq_studio_resources": "resources"},
)
