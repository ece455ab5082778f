"""Where the package's own files live, independent of the current directory."""

from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR: Path = REPO_ROOT / "data"
DOCUMENTED_SUMMATOR_XML: Path = DATA_DIR / "summator_ir_v10" / "summator.xml"
