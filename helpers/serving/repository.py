"""Write a model repository as OVMS reads it: `<repo>/<name>/<version>/model.xml`, and config.json.

Taught in notebook 09 and used again in 10 and 11; also by the launcher, tests and benchmarks.
"""

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import openvino as ov


def write_model_repository(
    model: ov.Model | str | Path, repository: str | Path, name: str, version: int = 1
) -> Path:
    """Save an ov.Model (or copy an IR .xml/.bin pair) to `<repository>/<name>/<version>/`."""
    version_dir = Path(repository) / name / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(model, ov.Model):
        ov.save_model(model, version_dir / "model.xml", compress_to_fp16=False)
    else:
        xml = Path(model)
        shutil.copyfile(xml, version_dir / "model.xml")
        shutil.copyfile(xml.with_suffix(".bin"), version_dir / "model.bin")
    return version_dir.parent


def write_config(repository: str | Path, models: Sequence[dict[str, object]]) -> Path:
    """Write `<repository>/config.json` with one `{"config": ...}` entry per dict."""
    path = Path(repository) / "config.json"
    document = {"model_config_list": [{"config": dict(entry)} for entry in models]}
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path
