"""The model repository on disk: numeric version folders and the model file inside each.

Part of the model server taught in notebook 09 and used in notebooks 11 and 12.
"""

import logging
import os
from pathlib import Path

log = logging.getLogger("model_server.repository")

MODEL_SUFFIXES: tuple[str, ...] = (".xml", ".onnx", ".pdmodel", ".pb", ".tflite")
MAX_VERSION = 2**63 - 1
# Files read next to a model file: IR weights and PaddlePaddle parameters.
COMPANION_SUFFIXES: tuple[str, ...] = (".bin", ".pdiparams")


def scan_versions(base_path: Path) -> list[int]:
    """Version numbers of the sub-folders of base_path, skipping OVMS's invalid names."""
    versions: list[int] = []
    try:
        entries = sorted(p for p in base_path.iterdir() if p.is_dir())
    except OSError:
        log.error("Couldn't list directories in path: %s", base_path)
        return versions
    for entry in entries:
        try:
            number = int(entry.name)
        except ValueError:
            log.warning("Expected version directory name to be in number format. Got: %s", entry)
            continue
        if number <= 0:
            log.warning(
                "Expected version directory name to be a number greater than 0. Got: %s", entry
            )
        elif number > MAX_VERSION:
            log.error("Version directory name is out of range: %s", entry)
        else:
            versions.append(number)
    if not versions:
        log.warning("No version found for model in path: %s", base_path)
    return versions


def find_model_file(version_dir: Path) -> Path | None:
    """The model file of a version folder (IR first); None if missing or outside the base path."""
    base = os.path.realpath(version_dir.parent)
    if _escapes(version_dir, base):
        return None
    for suffix in MODEL_SUFFIXES:
        matches = sorted(version_dir.glob(f"*{suffix}"))
        if matches:
            model = matches[0]
            # Weights may be looked up next to the link or next to its target: check both.
            stems = (model, Path(os.path.realpath(model)))
            companions = [stem.with_suffix(s) for stem in stems for s in COMPANION_SUFFIXES]
            if any(_escapes(p, base) for p in (model, *companions) if os.path.lexists(p)):
                return None
            return model
    return None


def _escapes(path: Path, base: str) -> bool:
    """True (and logged) when the real path of `path` lies outside the real base path `base`."""
    real = os.path.realpath(path)
    if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
        return False
    log.error("Refusing %s: it resolves to %s, outside the model's base path %s", path, real, base)
    return True
