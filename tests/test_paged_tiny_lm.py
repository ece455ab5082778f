"""The folder `python -m helpers.tiny_lm DIR` writes, under every openvino-genai backend.

Each backend's greedy tokens equal the Keras model recomputing the whole prefix, with an f32 KV
cache (the CPU default for this model is u8, which changes tokens).
"""

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

EXACT = {"INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}
PROMPTS = [[49, 32, 51, 52, 53, 33], [7, 1, 40], [12, 40, 9, 21, 22], [60, 61]]
NEW = 12


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The folder the command line writes."""
    target = tmp_path_factory.mktemp("paged") / "model"
    result = subprocess.run(
        [sys.executable, "-m", "helpers.tiny_lm", str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return str(target)


@pytest.fixture(scope="module")
def keras_model():
    return build_decoder(DecoderConfig(), seed=0)


@pytest.fixture(scope="module")
def references(keras_model):
    return [keras_greedy(keras_model, DecoderConfig(), prompt, NEW) for prompt in PROMPTS]


def greedy(config) -> openvino_genai.GenerationConfig:
    config.max_new_tokens, config.do_sample, config.apply_chat_template = NEW, False, False
    return config


def tokenized(prompt: list[int]) -> openvino_genai.TokenizedInputs:
    ids = np.array([prompt], np.int64)
    return openvino_genai.TokenizedInputs(ov.Tensor(ids), ov.Tensor(np.ones_like(ids)))


@pytest.mark.parametrize("backend", ["SDPA", "PA"])
def test_llm_pipeline_backend_gives_the_keras_tokens(folder, references, backend):
    pipe = openvino_genai.LLMPipeline(folder, "CPU", ATTENTION_BACKEND=backend, **EXACT)
    settings = greedy(pipe.get_generation_config())
    for prompt, reference in zip(PROMPTS, references, strict=True):
        assert list(pipe.generate(tokenized(prompt), settings).tokens[0]) == reference


def test_continuous_batching_several_prompts_at_once_give_the_keras_tokens(folder, references):
    scheduler = openvino_genai.SchedulerConfig()
    scheduler.cache_size = 1  # GB
    pipe = openvino_genai.ContinuousBatchingPipeline(folder, scheduler, "CPU", EXACT)
    settings = greedy(openvino_genai.GenerationConfig())
    settings.eos_token_id = 0
    inputs = [ov.Tensor(np.array([prompt], np.int64)) for prompt in PROMPTS]
    results = pipe.generate(inputs, [settings] * len(PROMPTS))
    assert [list(r.m_generation_ids[0]) for r in results] == references


def test_the_stateful_model_is_what_paged_attention_transforms(folder):
    from openvino._offline_transformations import paged_attention_transformation

    model = ov.Core().read_model(os.path.join(folder, "openvino_model.xml"))
    assert model.get_variables() and "beam_idx" in {i.get_any_name() for i in model.inputs}
    paged_attention_transformation(model)
    names = {i.get_any_name() for i in model.inputs}
    assert {"key_cache.0", "value_cache.1", "past_lens", "block_indices"} <= names
    assert not {"beam_idx", "attention_mask"} & names and "position_ids" in names
    types = {op.get_type_name() for op in model.get_ops()}
    assert not {"ReadValue", "Assign", "ScaledDotProductAttention"} & types
    assert "PagedAttentionExtension" in types


@pytest.mark.parametrize("backend", ["SDPA", "PA"])
def test_a_batch_of_texts_of_different_lengths_gives_each_text_its_own_answer(
    folder, keras_model, backend
):
    pieces = [("hello", ",", " how", " are", " you", "?"), (" the", " cat", " sat")]
    texts = ["".join(p) for p in pieces]
    expected = [
        token_texts(keras_greedy(keras_model, DecoderConfig(), [VOCABULARY.index(t) for t in p], 8))
        for p in pieces
    ]
    pipe = openvino_genai.LLMPipeline(folder, "CPU", ATTENTION_BACKEND=backend, **EXACT)
    settings = greedy(pipe.get_generation_config())
    settings.max_new_tokens = 8
    assert pipe.get_tokenizer().encode(texts).attention_mask.data.tolist() == [
        [1] * 6,
        [0] * 3 + [1] * 3,
    ]
    assert pipe.generate(texts, settings).texts == expected
