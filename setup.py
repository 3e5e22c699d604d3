"""Packages: everything under src/, plus `supermasks.configs` read from configs/ (see pyproject.toml).

pyproject.toml cannot add a package that `packages.find` does not discover, and the configs stay
at the repository root where they are edited; all other settings are in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages("src"), "supermasks.configs"])
