"""`python -m helpers.tiny_lm DIR`: refusal, the files written, and LLMPipeline on the folder."""

import json
import os
import subprocess
import sys

import numpy as np
import openvino as ov
import openvino_genai
import pytest

from helpers.llm.decoder import DecoderConfig, build_decoder, keras_greedy
from helpers.llm.vocabulary import VOCABULARY, token_texts
from helpers.paths import REPO_ROOT

COMMAND = [sys.executable, "-m", "helpers.tiny_lm"]
EXPECTED_FILES = {
    "config.json",
    "generation_config.json",
    "openvino_model.xml",
    "openvino_model.bin",
    "openvino_tokenizer.xml",
    "openvino_tokenizer.bin",
    "openvino_detokenizer.xml",
    "openvino_detokenizer.bin",
}


def run_cli(*args, cwd):
    return subprocess.run(
        [*COMMAND, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The folder the command wrote, from a working directory that holds nothing else."""
    workdir = tmp_path_factory.mktemp("cli")
    result = run_cli("model", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir, result


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run_cli(target, cwd=tmp_path)
    assert result.returncode == 2
    assert f"{target} exists and is not empty" in result.stderr
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "mine"


def test_refuses_a_path_that_is_a_file(tmp_path):
    target = tmp_path / "model"
    target.write_text("a file")
    result = run_cli(target, cwd=tmp_path)
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert target.read_text() == "a file"


def test_writes_the_folder_and_nothing_outside_it(written):
    workdir, result = written
    assert [p.name for p in workdir.iterdir()] == ["model"]
    assert {p.name for p in (workdir / "model").iterdir()} == EXPECTED_FILES
    printed = sorted(result.stdout.split())
    assert printed == sorted(str(p.relative_to(workdir)) for p in (workdir / "model").iterdir())
    generation = json.loads((workdir / "model" / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 0 and VOCABULARY[0] == "<|endoftext|>"


def test_an_empty_existing_folder_is_accepted(tmp_path):
    from helpers.llm.folder import check_target

    (tmp_path / "empty").mkdir()
    check_target(tmp_path / "empty")  # no exception


def test_llm_pipeline_loads_the_folder_and_gives_the_keras_tokens(written):
    workdir, _ = written
    config = DecoderConfig()
    prompt = [VOCABULARY.index(t) for t in ("hello", ",", " how", " are", " you", "?")]
    reference = keras_greedy(build_decoder(config, seed=0), config, prompt, 12)
    exact = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}
    pipe = openvino_genai.LLMPipeline(
        str(workdir / "model"), "CPU", ATTENTION_BACKEND="SDPA", **exact
    )
    settings = pipe.get_generation_config()
    settings.max_new_tokens, settings.do_sample, settings.apply_chat_template = 12, False, False
    ids = np.array([prompt], np.int64)
    inputs = openvino_genai.TokenizedInputs(ov.Tensor(ids), ov.Tensor(np.ones_like(ids)))
    assert list(pipe.generate(inputs, settings).tokens[0]) == reference
    assert pipe.generate("hello, how are you?", settings) == token_texts(reference)
