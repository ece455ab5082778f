"""Let the TensorFlow Serving protos import without running `tensorflow/__init__.py`.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12; the benchmarks
install it too.

The `tensorflow_serving.apis` modules import `tensorflow.core.framework.*_pb2`, and importing any
`tensorflow.*` module first executes `tensorflow/__init__.py`, which loads all of TensorFlow
(~2.7 s, ~600 MB). The generated `*_pb2` modules need only `protobuf`. A meta-path finder answers
for the single top-level name `tensorflow` with a namespace-package spec that points at the real
directory, so its sub-packages and `*_pb2` modules load from the installed files, unchanged, while
the heavy `__init__.py` never runs. Only the server's entry point installs it, before any
`tensorflow.*` import; a process that already imported TensorFlow keeps it.
"""

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

HEAVY_PACKAGE = "tensorflow"


class _NamespaceOnlyFinder(importlib.abc.MetaPathFinder):
    """Find `tensorflow` as a namespace package over its real directory (no `__init__.py`)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """Return a loader-less package spec for `tensorflow`; defer every other name."""
        if fullname != HEAVY_PACKAGE:
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname)
        if real is None or real.submodule_search_locations is None:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = list(real.submodule_search_locations)
        return spec


def install_light_tensorflow_namespace() -> bool:
    """Make `tensorflow.*_pb2` importable without TensorFlow; False if TF is already imported."""
    if HEAVY_PACKAGE in sys.modules:
        return False
    if not any(isinstance(finder, _NamespaceOnlyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NamespaceOnlyFinder())
    return True
