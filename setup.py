"""Packaging that pyproject.toml alone cannot say: top-level directories that ship inside the wheel.

- The contracts live once, at the top of the repository; the wheel carries `wit/` inside the
  host package as `kvbatch_host/wit/` (where `kvbatch wit`, the builds and the bridge find them
  when installed).
- kvbatch's own Spin app, `spin/` and the top-level `spin.toml` that builds and serves it, ships
  as the `kvbatch_spin` package, so `kvbatch serve` builds and serves it from an installed
  kvbatch on first use.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

SPIN_MANIFEST = "spin.toml"


class BuildPy(build_py):
    """`build_py` that also puts the top-level spin.toml into the `kvbatch_spin` package."""

    def run(self) -> None:
        super().run()
        if Path(SPIN_MANIFEST).is_file():
            target = Path(self.build_lib) / "kvbatch_spin" / SPIN_MANIFEST
            target.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(SPIN_MANIFEST, str(target))


setup(
    packages=[*find_namespace_packages("src"), "kvbatch_host.wit", "kvbatch_host.wit.deps", "kvbatch_host.wit.serve",
              "kvbatch_spin"],
    package_dir={"": "src", "kvbatch_host.wit": "wit", "kvbatch_spin": "spin"},
    cmdclass={"build_py": BuildPy},
)
