"""`python -m helpers.tiny_lm DIR`: write the tiny LM folder LLMPipeline reads.

DIR gets openvino_model.xml/.bin (stateful, as Optimum-Intel exports it), the tokenizer and
detokenizer IRs and the config files. An existing DIR that is not empty is refused; nothing is
written outside DIR. Notebook 07 builds the same folder with the same code.
"""

import argparse
import sys
from pathlib import Path

from helpers.llm.folder import FolderNotEmptyError, check_target


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, refuse a non-empty DIR before importing TensorFlow, then export."""
    parser = argparse.ArgumentParser(prog="python -m helpers.tiny_lm", description=__doc__)
    parser.add_argument("directory", type=Path, help="new or empty folder to write")
    parser.add_argument("--seed", type=int, default=0, help="weights seed (default 0)")
    args = parser.parse_args(argv)
    try:
        check_target(args.directory)
    except FolderNotEmptyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from helpers.llm.folder import write_model_folder
    from helpers.llm.recipe import build_tiny_lm

    lm = build_tiny_lm(seed=args.seed)
    for path in write_model_folder(args.directory, lm.stateful, lm.config):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
