"""`make soak`: the server's reliability figures, measured in one run and written to build/soak.

1. Load: 500 concurrent sequences x 200 steps from 32 threads on the summator and on a stateful
   LSTM cell, each served without and with sequence batching, and with batching over KServe
   streams (one ModelStreamInfer stream per client thread; ours); every output checked; server
   memory before, at peak and after.
2. Bad input: the hypothesis fuzz tests of both APIs (TFS, KServe) with many more examples.
3. Faults, security and races: their test files, run once more in this process tree.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from helpers.model_server.process.light_tensorflow import install_light_tensorflow_namespace

install_light_tensorflow_namespace()  # the client needs the TFS protos, not all of TensorFlow

import grpc  # noqa: E402

from benchmarks.load import (  # noqa: E402
    LOAD_BATCHING,
    LOAD_LSTM_WEIGHTS,
    LoadPlan,
    LoadReport,
    lstm_cell_load_model,
    run_load,
    summator_load_model,
    write_load_repository,
)
from benchmarks.memory import PeakRss, settled_rss_mb  # noqa: E402
from helpers.paths import REPO_ROOT  # noqa: E402
from helpers.serving import launcher  # noqa: E402

OUT = REPO_ROOT / "build" / "soak"
CLEANER_SECONDS = 1
FAULT_TESTS = [
    "tests/server/test_server_faults.py",
    "tests/server/test_server_security.py",
    "tests/server/test_server_races.py",
]


def load_section(plan: LoadPlan) -> tuple[list[str], bool]:
    """Serve both models, warm up, run the full load on each, and measure memory."""
    with tempfile.TemporaryDirectory() as folder:
        names = write_load_repository(Path(folder), plan.sequences, LOAD_BATCHING)
        args = launcher.model_server_args(folder, config=True)
        args += ["--kserve_sequence_extension"]  # the load over streams
        args += ["--sequence_cleaner_poll_wait_seconds", str(CLEANER_SECONDS)]
        args += ["--file_system_poll_wait_seconds", "0"]
        server = launcher.start_server(folder, names, args, log_path=OUT / "server.log")
        pid = server.pid
        models = [
            model
            for suffix in ("", "_b")  # batching off, then on
            for model in (
                summator_load_model("sum" + suffix),
                lstm_cell_load_model("lstm" + suffix, LOAD_LSTM_WEIGHTS),
            )
        ]
        with grpc.insecure_channel(server.grpc_address) as channel:
            warm_up = replace(plan, steps=4, seed=1)
            for model in models:
                run_load(channel, model, warm_up)
            baseline = settled_rss_mb(pid, CLEANER_SECONDS)
            sampler = PeakRss(pid)
            sampler.start()
            reports: list[LoadReport] = []
            runs = [(model, False) for model in models]
            runs += [(model, True) for model in models if model.name.endswith("_b")]
            for number, (model, over_streams) in enumerate(runs):
                chosen = replace(plan, seed=2 + number, over_streams=over_streams)
                reports.append(run_load(channel, model, chosen))
                print(reports[-1].summary(), flush=True)
            peak = sampler.stop()
            after = settled_rss_mb(pid, CLEANER_SECONDS)
        log = server.log_text()
        server.stop()
    clean_log = "Traceback" not in log and "Unexpected error" not in log
    held = all(r.ok for r in reports) and clean_log and after <= baseline + max(8, 0.05 * baseline)
    lines = ["## Load", ""]
    lines += [f"* {line.strip()}" for r in reports for line in r.summary().splitlines()]
    lines += [
        f"* Server RSS: {baseline:.0f} MB after warm-up, {peak:.0f} MB at peak, {after:.0f} MB "
        f"after every sequence ended (cleaner ran twice); log clean: {clean_log}",
        "",
    ]
    return lines, held


FUZZ_TESTS = {
    "TFS": "tests/server/test_server_fuzz.py",
    "KServe": "tests/server/test_server_kserve_fuzz.py",
}


def fuzz_section(examples: int) -> tuple[list[str], bool]:
    """Run each API's fuzz tests with `examples` examples per property and sum up their reports."""
    lines = ["## Bad input (hypothesis)", ""]
    total, errors, all_passed = 0, Counter[str](), True
    began = time.perf_counter()
    for api, test_file in FUZZ_TESTS.items():
        report = OUT / f"fuzz-{api.lower()}.jsonl"
        report.unlink(missing_ok=True)
        env = dict(os.environ, FUZZ_EXAMPLES=str(examples), FUZZ_REPORT=str(report))
        passed = pytest_run([test_file], env)
        text = report.read_text() if report.exists() else ""
        rows = [json.loads(line) for line in text.splitlines()]
        for row in rows:
            total += row["cases"]
            errors.update(row["errors"])
            lines.append(
                f"* {api} {row['property']}: {row['cases']:,} cases, {row['ok']:,} accepted"
            )
        lines.append(f"* {api} tests passed: {passed}")
        all_passed = all_passed and passed and bool(rows)
    seconds = time.perf_counter() - began
    lines.append(f"* In all: {total:,} cases in {seconds:.0f} s; errors by code: {dict(errors)}")
    return [*lines, ""], all_passed


def pytest_run(files: list[str], env: dict[str, str] | None = None) -> bool:
    """Run pytest on some test files (no notebooks); its output goes to build/soak/pytest-*.log."""
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *files]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    log = OUT / f"pytest-{Path(files[0]).stem}.log"
    log.write_text(result.stdout + result.stderr)
    lines = result.stdout.strip().splitlines() or [result.stderr]
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    print(f"pytest {' '.join(files)}: {lines[-1]} (output: {log})", *failures, sep="\n", flush=True)
    return result.returncode == 0


def faults_section() -> tuple[list[str], bool]:
    """Run the fault, security and race tests once more."""
    present = [f for f in FAULT_TESTS if (REPO_ROOT / f).exists()]
    passed = pytest_run(present)
    return [
        "## Faults, security, races",
        "",
        f"* {', '.join(present)}: passed {passed}",
        "",
    ], passed


def main() -> int:
    """Run every section, write build/soak/report.md, print it, exit 1 if anything failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequences", type=int, default=500)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--fuzz-examples", type=int, default=2000)
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    plan = LoadPlan(options.sequences, options.steps, options.threads, limit=options.sequences)
    sections = [load_section(plan), fuzz_section(options.fuzz_examples), faults_section()]
    text = "# Soak\n\n" + "\n".join("\n".join(lines) for lines, _ in sections)
    (OUT / "report.md").write_text(text)
    print(text)
    return 0 if all(ok for _, ok in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
