"""Packaging that pyproject.toml alone cannot say: the top-level `wit/` ships as `kvbatch_host/wit/`.

The contracts live once, at the top of the repository; the wheel carries them inside the host
package (where `kvbatch wit`, the builds and the bridge find them when installed).
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages("src"), "kvbatch_host.wit", "kvbatch_host.wit.deps", "kvbatch_host.wit.serve"],
    package_dir={"": "src", "kvbatch_host.wit": "wit"},
)
