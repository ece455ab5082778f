"""run_isolated: each way a child can end is told apart, and a hung child does not outlive it."""

import os
import signal
import time
from pathlib import Path

from helpers.isolated import run_isolated


def test_an_answer_keeps_its_exit_status_and_output() -> None:
    ending = run_isolated("import sys; print('got', sys.argv[1:])", "a", "b", limit_s=30)
    assert (ending.exit_status, ending.output) == (0, "got ['a', 'b']")
    assert not ending.hung and ending.signal_name is None
    assert str(ending) == "exit status 0: got ['a', 'b']"


def test_an_error_exit_is_not_a_signal() -> None:
    ending = run_isolated("raise SystemExit(3)", limit_s=30)
    assert ending.exit_status == 3 and ending.signal_name is None and not ending.hung


def test_a_segmentation_fault_is_named() -> None:
    ending = run_isolated("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", limit_s=30)
    assert ending.exit_status == -signal.SIGSEGV and ending.signal_name == "SIGSEGV"
    assert str(ending) == "killed by SIGSEGV"


def test_a_hung_child_is_killed_at_the_limit(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    code = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    started = time.monotonic()
    ending = run_isolated(code, str(pid_file), limit_s=1.5)
    took = time.monotonic() - started
    assert ending.hung and ending.exit_status is None and ending.signal_name is None
    assert str(ending) == "no answer after 1.5 s: it hung, and was killed"
    assert 1.5 <= took < 30
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
