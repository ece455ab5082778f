"""The model repository on disk: numeric version folders and the model file inside each."""

import logging
from pathlib import Path

log = logging.getLogger("model_server.repository")

MODEL_SUFFIXES: tuple[str, ...] = (".xml", ".onnx", ".pdmodel", ".pb", ".tflite")
MAX_VERSION = 2**63 - 1


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
    """The model file of one version folder (IR .xml first), or None."""
    for suffix in MODEL_SUFFIXES:
        matches = sorted(version_dir.glob(f"*{suffix}"))
        if matches:
            return matches[0]
    return None
