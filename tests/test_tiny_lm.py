"""The tiny decoder and its Optimum-Intel style export, against Keras recomputing the prefix."""

import ast
import json
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from openvino._offline_transformations import stateful_to_stateless_transformation

from helpers.llm import export
from helpers.llm.decoder import cache_names, empty_cache, keras_greedy, keras_logits
from helpers.llm.recipe import build_tiny_lm
from helpers.llm.vocabulary import EOS_TOKEN_ID, VOCABULARY, build_tokenizers, token_texts
from helpers.paths import REPO_ROOT
from tests.llm_loops import F32, stateful_greedy, stateless_greedy, step_inputs

PROMPTS = [[49, 32, 51, 52, 53, 33], [7, 1, 40]]


@pytest.fixture(scope="module")
def lm():
    return build_tiny_lm(seed=0)


@pytest.fixture(scope="module")
def stateful_request(lm):
    return ov.Core().compile_model(lm.stateful, "CPU", F32).create_infer_request()


@pytest.fixture(scope="module")
def stateless_request(lm):
    return ov.Core().compile_model(lm.stateless, "CPU", F32).create_infer_request()


def test_decoder_is_small_and_its_greedy_tokens_vary(lm):
    assert lm.keras_model.count_params() <= 100_000
    tokens = keras_greedy(lm.keras_model, lm.config, PROMPTS[0], 20)
    assert len(set(tokens)) >= 8


@pytest.mark.parametrize("prompt", PROMPTS)
def test_stateful_tokens_equal_keras_recomputing_the_whole_prefix(lm, stateful_request, prompt):
    reference = keras_greedy(lm.keras_model, lm.config, prompt, 16)
    assert stateful_greedy(stateful_request, prompt, 16) == reference


@pytest.mark.parametrize("prompt", PROMPTS)
def test_stateless_with_explicit_cache_equals_keras(lm, stateless_request, prompt):
    reference = keras_greedy(lm.keras_model, lm.config, prompt, 16)
    assert stateless_greedy(stateless_request, lm.config, prompt, 16) == reference


def test_ports_are_named_by_keras_output_names_not_list_order(lm, stateless_request):
    inputs = {**step_inputs(np.array([PROMPTS[0]]), 0), **empty_cache(lm.config)}
    keras_outputs = [np.asarray(t) for t in lm.keras_model(inputs, training=False)]
    ov_outputs = stateless_request.infer(inputs)
    names = ["logits", *(present for _, present in cache_names(lm.config))]
    for name, expected in zip(names, keras_outputs, strict=True):
        np.testing.assert_allclose(ov_outputs[name], expected, atol=1e-4)


def test_stateful_model_has_optimum_intel_interface(lm):
    assert [i.get_any_name() for i in lm.stateful.inputs] == [
        "input_ids",
        "attention_mask",
        "position_ids",
        "beam_idx",
    ]
    assert [o.get_any_name() for o in lm.stateful.outputs] == ["logits"]
    variables = [v.get_info().variable_id for v in lm.stateful.get_variables()]
    assert variables == [past + present for past, present in cache_names(lm.config)]
    read_values = [op for op in lm.stateful.get_ops() if op.get_type_name() == "ReadValue"]
    assert len(read_values) == 4
    for op in read_values:  # the initializer: Broadcast(0, [B, heads, 0, head_size])
        assert op.input_value(0).get_node().get_type_name() == "Broadcast"
    types = [op.get_type_name() for op in lm.stateful.get_ops()]
    assert types.count("ScaledDotProductAttention") == lm.config.layers
    assert "Softmax" not in types


def test_batch_rows_equal_single_prompts_and_beam_idx_equals_np_take(lm, stateless_request):
    request = ov.Core().compile_model(lm.stateful, "CPU", F32).create_infer_request()
    batch = np.array([PROMPTS[0], [3, 9, 27, 40, 41, 12]])
    request.infer({**step_inputs(batch, 0), "beam_idx": np.arange(2, dtype=np.int32)})
    out = stateless_request.infer({**step_inputs(batch, 0), **empty_cache(lm.config, 2)})
    first = keras_logits(lm.keras_model, lm.config, batch[1:])[0, -1]
    np.testing.assert_allclose(out["logits"][1, -1], first, atol=1e-4)
    step = step_inputs(np.array([[3], [4]]), 6)
    swapped = request.infer({**step, "beam_idx": np.array([1, 0], np.int32)})["logits"]
    caches = {
        past: np.take(out[present], [1, 0], axis=0) for past, present in cache_names(lm.config)
    }
    by_take = stateless_request.infer({**step, **caches})
    np.testing.assert_allclose(swapped, by_take["logits"], atol=1e-5)
    states = {s.name: s.state.data for s in request.query_state()}
    for past, present in cache_names(lm.config):
        np.testing.assert_allclose(states[past + present], by_take[present], atol=1e-5)


def test_trimmed_state_continues_like_a_model_that_saw_only_the_kept_tokens(lm, stateful_request):
    prompt = PROMPTS[0]
    drafted = stateful_greedy(stateful_request, prompt, 10)  # prompt + 9 tokens in the cache
    keep = len(prompt) + 4
    for state in stateful_request.query_state():
        state.state = ov.Tensor(state.state.data[:, :, :keep].copy())
    token, seen, continued = 11, keep, []
    for _ in range(6):
        inputs = {**step_inputs(np.array([[token]]), seen), "beam_idx": np.zeros(1, np.int32)}
        logits = stateful_request.infer(inputs)["logits"]
        seen += 1
        token = int(np.argmax(logits[0, -1]))
        continued.append(token)
    kept_tokens = [*prompt, *drafted[:4], 11]
    assert continued == keras_greedy(lm.keras_model, lm.config, kept_tokens, 6)


def test_stateful_to_stateless_round_trip_restores_the_cache_ports(lm, stateless_request):
    model = lm.stateful.clone()
    stateful_to_stateless_transformation(model)
    assert not model.get_variables()
    names = {i.get_any_name() for i in model.inputs}
    assert names == {i.get_any_name() for i in lm.stateless.inputs}
    inputs = {**step_inputs(np.array([PROMPTS[0]]), 0), **empty_cache(lm.config)}
    back = ov.Core().compile_model(model, "CPU", F32)(inputs)
    expected = stateless_request.infer(inputs)
    for port in lm.stateless.outputs:
        name = port.get_any_name()
        np.testing.assert_allclose(back[name], expected[name], atol=1e-5)


def left_padded_greedy(request, prompts, new, positions_from_padding=True):
    """Greedy rows for prompts of different lengths, left-padded with EOS in one batch."""
    width = max(map(len, prompts))
    ids = np.array([[EOS_TOKEN_ID] * (width - len(p)) + p for p in prompts])
    mask = np.array([[0] * (width - len(p)) + [1] * len(p) for p in prompts], np.int64)
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0)
    if not positions_from_padding:
        positions = np.broadcast_to(np.arange(width), ids.shape)
    beam, rows = np.arange(len(prompts), dtype=np.int32), []
    request.reset_state()
    for _ in range(new):
        inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        rows.append(request.infer({**inputs, "beam_idx": beam})["logits"][:, -1].argmax(axis=1))
        ids, positions = rows[-1][:, None], positions[:, -1:] + 1
        mask = np.concatenate([mask, np.ones((len(prompts), 1), np.int64)], axis=1)
    return np.array(rows).T.tolist()


def test_position_ids_are_honoured_for_a_batch_of_prompts_of_different_lengths(
    lm, stateful_request
):
    prompts = [PROMPTS[0], PROMPTS[1], [12, 40]]
    expected = [keras_greedy(lm.keras_model, lm.config, p, 10) for p in prompts]
    assert left_padded_greedy(stateful_request, prompts, 10) == expected
    ignoring_padding = left_padded_greedy(stateful_request, prompts, 10, False)
    assert ignoring_padding[0] == expected[0]  # the longest prompt has no padding
    assert ignoring_padding[1] != expected[1] and ignoring_padding[2] != expected[2]


def test_tokenizer_ir_matches_the_vocabulary_and_gives_an_attention_mask():
    tokenizer, detokenizer = build_tokenizers()
    core = ov.Core()
    out = core.compile_model(tokenizer)(["hello, how are you?"])
    ids = out["input_ids"][0].tolist()
    assert ids == [VOCABULARY.index(t) for t in ("hello", ",", " how", " are", " you", "?")]
    assert out["attention_mask"].tolist() == [[1] * len(ids)]
    text = core.compile_model(detokenizer)(np.array([ids]))[0]
    assert list(text) == [token_texts(ids)] == ["hello, how are you?"]
    assert tokenizer.get_rt_info("eos_token_id").astype(int) == EOS_TOKEN_ID


def top_level(source: str) -> dict[str, ast.stmt]:
    """Functions by name, and module constants by their assigned name."""
    found: dict[str, ast.stmt] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            found[node.targets[0].id] = node
    return found


def test_notebook_07_teaches_the_export_functions_exactly_as_helpers_define_them():
    notebook = json.loads((REPO_ROOT / "notebooks/07_stateful_text_generation.ipynb").read_text())
    in_cells: dict[str, ast.stmt] = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            in_cells.update(top_level("".join(cell["source"])))
    in_module = top_level(Path(export.__file__).read_text())
    names = ["fuse_attention", "name_ports", "fuse_beam_idx", "add_state_initializers"]
    for name in [*names, "LOGITS", "BEAM_IDX"]:
        assert ast.dump(in_cells[name]) == ast.dump(in_module[name]), name
