"""Maps the one import root `safegen` onto two source folders: services/ and gateway/ (see pyproject.toml)."""

from setuptools import find_namespace_packages, setup

services = find_namespace_packages("services", include=["safegen", "safegen.*"])
gateway = find_namespace_packages("gateway", include=["safegen.gateway", "safegen.gateway.*"])
setup(
    packages=services + gateway,
    package_dir={"": "services", **{p: "gateway/" + p.replace(".", "/") for p in gateway}},
)
