"""Where the package's own files live, independent of the current directory.

No notebook imports it: `helpers.models.summator`, `helpers.serving.launcher`, the benchmarks
and the tests do.
"""

from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR: Path = REPO_ROOT / "data"
DOCUMENTED_SUMMATOR_XML: Path = DATA_DIR / "summator_ir_v10" / "summator.xml"
