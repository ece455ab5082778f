"""The recurrent builders match the NumPy references of `helpers.models.recurrent_reference`."""

import numpy as np
import openvino as ov
import pytest
from openvino import passes

from helpers.graph.inspection import find_op, low_latency2_state_names, op_type_counts
from helpers.models import recurrent
from helpers.models.recurrent import (
    build_gru_sequence,
    build_lstm_sequence,
    build_lstm_step_model,
    build_lstm_tensor_iterator,
    random_gru_weights,
    random_lstm_weights,
)
from helpers.models.recurrent_reference import gru_reference, lstm_reference
from tests.notebook_cells import functions_in_module, functions_in_notebook
from tests.ov_passes import run_passes

INPUT, HIDDEN, T = 3, 8, 6


@pytest.fixture
def weights():
    return random_lstm_weights(INPUT, HIDDEN, seed=0)


@pytest.fixture
def sequence():
    return np.random.default_rng(1).standard_normal((1, T, INPUT)).astype(np.float32)


def _state(seed: int, shape: tuple[int, ...] = (1, HIDDEN)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


def test_random_weights_have_openvino_layout_and_are_seeded():
    lstm = random_lstm_weights(INPUT, HIDDEN, seed=5)
    gru = random_gru_weights(INPUT, HIDDEN, seed=5)
    assert lstm.W.shape == (4 * HIDDEN, INPUT) and lstm.R.shape == (4 * HIDDEN, HIDDEN)
    assert gru.B.shape == (3 * HIDDEN,) and gru.gates == 3
    assert (lstm.input_size, lstm.hidden_size) == (INPUT, HIDDEN)
    assert lstm.W.dtype == np.float32
    assert lstm.nbytes == 4 * (lstm.W.size + lstm.R.size + lstm.B.size)
    assert np.array_equal(lstm.W, random_lstm_weights(INPUT, HIDDEN, seed=5).W)
    assert not np.array_equal(lstm.W, random_lstm_weights(INPUT, HIDDEN, seed=6).W)


def test_step_model_fed_back_by_hand_matches_the_reference(core, weights, sequence):
    head = _state(3, (2, HIDDEN))
    request = core.compile_model(build_lstm_step_model(weights, head), "CPU").create_infer_request()
    h, c = _state(4), _state(5)
    ref_h, ref_h_last, ref_c_last = lstm_reference(sequence[0], weights, h, c)
    ys = []
    for x in sequence[0]:
        out = request.infer({"x": x[None], "h_in": h, "c_in": c})
        h, c = out["h_out"], out["c_out"]
        ys.append(out["y"][0])
    assert np.allclose(np.array(ys), ref_h @ head.T, atol=1e-5)
    assert np.allclose(h[0], ref_h_last, atol=1e-5) and np.allclose(c[0], ref_c_last, atol=1e-5)


def test_step_model_names_and_the_shared_tensor_without_a_head(weights):
    with_head = build_lstm_step_model(weights, _state(3, (2, HIDDEN)))
    assert [o.get_any_name() for o in with_head.outputs] == ["y", "h_out", "c_out"]
    assert [i.get_any_name() for i in with_head.inputs] == ["x", "h_in", "c_in"]
    shared = build_lstm_step_model(weights)
    assert [sorted(o.get_names()) for o in shared.outputs] == [["y"], ["y"], ["c_out"]]
    assert [r.get_friendly_name() for r in shared.get_results()] == ["y", "h_out", "c_out"]


def test_make_stateful_forms_and_variable_names(core, weights, sequence):
    by_names = run_passes(
        build_lstm_step_model(weights, _state(3, (2, HIDDEN))),
        passes.MakeStateful({"h_in": "h_out", "c_in": "c_out"}),
    )
    assert sorted(v.info.variable_id for v in by_names.get_variables()) == [
        "c_inc_out",
        "h_inh_out",
    ]

    shared = build_lstm_step_model(weights)
    with pytest.raises(RuntimeError, match="tensor name h_out is not associated"):
        run_passes(shared.clone(), passes.MakeStateful({"h_in": "h_out", "c_in": "c_out"}))
    params = {p.get_friendly_name(): p for p in shared.get_parameters()}
    results = {r.get_friendly_name(): r for r in shared.get_results()}
    pairs = [(params["h_in"], results["h_out"]), (params["c_in"], results["c_out"])]
    run_passes(shared, passes.MakeStateful(pairs))
    request = core.compile_model(shared, "CPU").create_infer_request()
    streamed = np.array([request.infer({"x": x[None]})["y"][0] for x in sequence[0]])
    ref_h, _, _ = lstm_reference(sequence[0], weights, np.zeros(HIDDEN), np.zeros(HIDDEN))
    assert np.allclose(streamed, ref_h, atol=1e-5)


def test_tensor_iterator_runs_the_reference_from_any_initial_state(core, weights, sequence):
    model = build_lstm_tensor_iterator(weights, T)
    h0, c0 = _state(6), _state(7)
    Y = core.compile_model(model, "CPU")({"X": sequence, "H0": h0, "C0": c0})["Y"]
    ref_h, _, _ = lstm_reference(sequence[0], weights, h0, c0)
    assert Y.shape == (1, T, HIDDEN)
    assert np.allclose(Y[0], ref_h, atol=1e-5)
    assert find_op(model, "lstm_ti").get_num_iterations() == T


def test_hardcoded_reshape_variant_is_the_same_layer_behind_a_frozen_shape(core, weights, sequence):
    flat = build_lstm_tensor_iterator(weights, T, hardcoded_reshape=True)
    assert flat.input("X").get_partial_shape() == ov.PartialShape([1, T * INPUT])
    assert find_op(flat, "hardcoded_shape").get_data().tolist() == [1, T, INPUT]
    zeros = np.zeros((1, HIDDEN), np.float32)
    flat_Y = core.compile_model(flat, "CPU")(
        {"X": sequence.reshape(1, -1), "H0": zeros, "C0": zeros}
    )
    normal = build_lstm_tensor_iterator(weights, T)
    normal_Y = core.compile_model(normal, "CPU")({"X": sequence, "H0": zeros, "C0": zeros})
    assert np.array_equal(flat_Y["Y"], normal_Y["Y"])
    with pytest.raises(RuntimeError, match="incompatible with input shape"):
        flat.reshape({"X": [1, INPUT]})


def test_sequence_ops_match_the_references(core, weights, sequence):
    h0, c0 = _state(8, (1, 1, HIDDEN)), _state(9, (1, 1, HIDDEN))
    lstm_Y = core.compile_model(build_lstm_sequence(weights, T), "CPU")(
        {"X": sequence, "H0": h0, "C0": c0}
    )["Y"]
    assert np.allclose(lstm_Y[0], lstm_reference(sequence[0], weights, h0, c0)[0], atol=1e-5)

    gru_weights = random_gru_weights(INPUT, HIDDEN, seed=2)
    gru_Y = core.compile_model(build_gru_sequence(gru_weights, T), "CPU")(
        {"X": sequence, "H0": h0}
    )["Y"]
    assert np.allclose(gru_Y[0], gru_reference(sequence[0], gru_weights, h0), atol=1e-5)


def test_low_latency2_streaming_equals_the_full_sequence(core, weights, sequence):
    full = build_lstm_tensor_iterator(weights, T)
    zeros = np.zeros((1, HIDDEN), np.float32)
    expected = core.compile_model(full, "CPU")({"X": sequence, "H0": zeros, "C0": zeros})["Y"]
    streaming = full.clone()
    streaming.reshape({"X": [1, 1, INPUT]})
    run_passes(streaming, passes.LowLatency2())
    assert "TensorIterator" not in op_type_counts(streaming)
    request = core.compile_model(streaming, "CPU").create_infer_request()
    steps = [
        request.infer({"X": sequence[:, t : t + 1], "H0": zeros, "C0": zeros})["Y"]
        for t in range(T)
    ]
    assert np.allclose(np.concatenate(steps, axis=1), expected, atol=1e-6)
    assert sorted(s.name for s in request.query_state()) == sorted(low_latency2_state_names(full))


def test_notebook_03_defines_the_step_model_word_for_word():
    in_cells = functions_in_notebook("03_make_stateful.ipynb")
    in_module = functions_in_module(recurrent)
    assert in_cells["build_lstm_step_model"] == in_module["build_lstm_step_model"]
