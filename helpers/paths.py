"""Where the package's own files live, independent of the current directory.

Notebook 03 imports the paths of its TensorFlow graph from here; otherwise
`helpers.models.summator`, `helpers.serving.launcher`, the benchmarks and the tests use it.
"""

from pathlib import Path

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
DATA_DIR: Path = REPO_ROOT / "data"
DOCUMENTED_SUMMATOR_XML: Path = DATA_DIR / "summator_ir_v10" / "summator.xml"
RNN_STEP_GRAPH: Path = DATA_DIR / "rnn_step" / "rnn_step.pb"
RNN_STEP_WEIGHTS: Path = DATA_DIR / "rnn_step" / "weights.npz"
