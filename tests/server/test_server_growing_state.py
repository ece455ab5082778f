"""Conformance: a KV-cache model whose states grow between requests, and inputs of any length.

The model (tests/server/support/models.py) is one attention layer exported the way Optimum-Intel
exports decoders: `input_ids` [?, ?], `beam_idx` [?], states [B, H, past_len, D]. Every output is
compared with a NumPy model written here that recomputes the whole history at every step.
"""

import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from benchmarks.memory import PeakRss, rss_mb, settled_rss_mb
from helpers.serving import launcher
from helpers.serving.protocol import EXACT_F32
from tests.server.support.models import KV_HEAD_DIM, KV_HEADS, build_kv_attention, kv_weights
from tests.server.support.requests import (
    END,
    START,
    get_model_metadata_pb2,
    predict,
    predict_error,
    prediction_service_pb2_grpc,
    request,
    rest,
)
from tests.server.support.servers import serve_repository
from tests.server.support.waiting import wait_for

CLEANER_SECONDS = 2
LIMIT = 4
KV_MODELS: list[dict[str, object]] = [
    {"name": "kv", "stateful": True, "idle_sequence_cleanup": False, "plugin_config": EXACT_F32},
    {
        "name": "kv_limited",
        "base_path": "kv",
        "stateful": True,
        "idle_sequence_cleanup": False,
        "max_sequence_number": LIMIT,
        "plugin_config": EXACT_F32,
    },
    {"name": "kv_idle", "base_path": "kv", "stateful": True, "plugin_config": EXACT_F32},
]
WEIGHTS = kv_weights()
VOCAB = WEIGHTS["unembed"].shape[1]
# The key and value caches of one token: what a conversation holds per token, in bytes.
CACHE_BYTES_PER_TOKEN = 2 * KV_HEADS * KV_HEAD_DIM * 4
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
CHUNK = 256  # tokens per request when a test fills caches: 512 kB of cache per request
# Filling caches queues many requests for the infer requests: a deadline for a loaded machine.
FILL_TIMEOUT = 120.0


def reference_logits(tokens: list[int]) -> np.ndarray:
    """Logits [n, V] of a causal one-layer attention over the whole history, in float64."""
    w = {name: value.astype(np.float64) for name, value in WEIGHTS.items()}
    n, width = len(tokens), KV_HEADS * KV_HEAD_DIM
    positions = np.arange(n, dtype=np.float64)
    x = w["embedding"][np.asarray(tokens)] + np.sin(positions[:, None] * w["frequencies"])

    def heads(a: np.ndarray) -> np.ndarray:
        return a.reshape(n, KV_HEADS, KV_HEAD_DIM).transpose(1, 0, 2)

    q, k, v = heads(x @ w["wq"]), heads(x @ w["wk"]), heads(x @ w["wv"])
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(KV_HEAD_DIM)
    scores = np.where(np.triu(np.ones((n, n), bool), 1), -np.inf, scores)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = (weights @ v).transpose(1, 0, 2).reshape(n, width)
    return (x + context @ w["wo"]) @ w["unembed"]


def reference_greedy(prompt: list[int], count: int) -> list[int]:
    """`count` greedy tokens after `prompt`, recomputing the whole history for each one."""
    history = list(prompt)
    for _ in range(count):
        history.append(int(reference_logits(history)[-1].argmax()))
    return history[len(prompt) :]


def kv_inputs(tokens: list[int] | np.ndarray, beam: list[int] | None = None) -> dict:
    """`input_ids` [1, L] (or [B, L] for a 2-D array) and `beam_idx` (arange(B) by default)."""
    ids = np.asarray(tokens, dtype=np.int64)
    ids = ids[None] if ids.ndim == 1 else ids
    beam_idx = np.arange(ids.shape[0]) if beam is None else np.asarray(beam)
    return {"input_ids": ids, "beam_idx": beam_idx.astype(np.int32)}


def batch_logits(channel, model, inputs, sequence_id, control=None) -> np.ndarray:
    """One Predict in a conversation; the logits [B, L, V] of the tokens sent."""
    response = predict(channel, request(model, inputs, sequence_id, control), FILL_TIMEOUT)
    logits = response.outputs["logits"]
    shape = [d.size for d in logits.tensor_shape.dim]
    return np.frombuffer(logits.tensor_content, np.float32).reshape(shape)


def step_logits(channel, model, tokens, sequence_id, control=None) -> np.ndarray:
    """One Predict of batch 1 in a conversation; the logits [L, V] of the tokens sent."""
    return batch_logits(channel, model, kv_inputs(tokens), sequence_id, control)[0]


def prompt_of(rng: np.random.Generator, length: int) -> list[int]:
    """`length` random token ids."""
    return rng.integers(0, VOCAB, length).tolist()


@pytest.fixture(scope="module")
def kv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.ServerHandle]:
    """A server for the KV-cache model only, so its sequences and memory are its own."""
    with serve_repository(
        tmp_path_factory.mktemp("kv_repo"),
        {"kv": build_kv_attention()},
        KV_MODELS,
        cleaner_seconds=CLEANER_SECONDS,
        file_poll_seconds=0,
        debug_log=True,
    ) as handle:
        yield handle


@pytest.fixture(scope="module")
def kv_channel(kv_server: launcher.ServerHandle) -> Iterator[grpc.Channel]:
    """One channel shared by every client thread."""
    with grpc.insecure_channel(kv_server.grpc_address) as channel:
        yield channel


def test_metadata_shows_dynamic_dims_as_minus_one(kv_server, kv_channel):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(kv_channel)
    req = get_model_metadata_pb2.GetModelMetadataRequest()
    req.model_spec.name = "kv"
    req.metadata_field.append("signature_def")
    signatures = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(req, 10.0).metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    shapes = {
        name: [d.size for d in info.tensor_shape.dim]
        for name, info in [*signature.inputs.items(), *signature.outputs.items()]
    }
    assert shapes == {"input_ids": [-1, -1], "beam_idx": [-1], "logits": [-1, -1, VOCAB]}
    assert (signature.inputs["input_ids"].dtype, signature.inputs["beam_idx"].dtype) == (9, 3)
    status, body = rest(kv_server.rest_url, "/v1/models/kv/metadata")
    rest_inputs = body["metadata"]["signature_def"]["signatureDef"]["serving_default"]["inputs"]
    assert status == 200
    assert [d["size"] for d in rest_inputs["input_ids"]["tensorShape"]["dim"]] == ["-1", "-1"]


def test_growing_cache_over_prompts_of_different_lengths_matches_numpy(kv_channel):
    rng = np.random.default_rng(1)
    lengths = [7, 1, 4, 1, 1, 12, 2, 1]
    history: list[int] = []
    for step, length in enumerate(lengths):
        tokens = prompt_of(rng, length)
        control = START if step == 0 else END if step == len(lengths) - 1 else None
        got = step_logits(kv_channel, "kv", tokens, 90_001, control)
        history += tokens
        assert got.shape == (length, VOCAB)
        np.testing.assert_allclose(got, reference_logits(history)[-length:], **TOLERANCE)
    code, details = predict_error(kv_channel, request("kv", kv_inputs([1]), 90_001))
    assert (code, details) == (
        grpc.StatusCode.NOT_FOUND,
        "Sequence with provided ID does not exist",
    )


def test_growing_cache_over_rest(kv_server):
    rng = np.random.default_rng(2)
    history: list[int] = []
    for step, length in enumerate([5, 1, 3]):
        tokens = prompt_of(rng, length)
        inputs = {"input_ids": [tokens], "beam_idx": [0], "sequence_id": [90_002]}
        inputs["sequence_control_input"] = [START if step == 0 else END if step == 2 else 0]
        status, body = rest(kv_server.rest_url, "/v1/models/kv:predict", {"inputs": inputs})
        history += tokens
        assert status == 200 and body["outputs"]["sequence_id"] == [90_002]
        got = np.array(body["outputs"]["logits"], np.float32)[0]
        np.testing.assert_allclose(got, reference_logits(history)[-length:], **TOLERANCE)


def test_beam_idx_reorders_a_batch_of_caches_between_requests(kv_channel):
    rng = np.random.default_rng(3)
    histories = [prompt_of(rng, 4), prompt_of(rng, 4)]
    batch_logits(kv_channel, "kv", kv_inputs(histories), 90_003, START)
    # beam_idx [1, 0] swaps the two caches before the new tokens join them, as beam search does.
    for beam, control in (([1, 0], None), ([0, 1], END)):
        tokens = prompt_of(rng, 2)
        got = batch_logits(
            kv_channel, "kv", kv_inputs([[t] for t in tokens], beam), 90_003, control
        )
        histories = [histories[b] + [token] for b, token in zip(beam, tokens, strict=True)]
        expected = np.stack([reference_logits(history)[-1:] for history in histories])
        np.testing.assert_allclose(got, expected, **TOLERANCE)


def generate(channel, model: str, prompt: list[int], count: int, sequence_id: int) -> list[int]:
    """Greedy generation as a chat client does it: the prompt, then one token per request."""
    logits = step_logits(channel, model, prompt, sequence_id, START)
    tokens = [int(logits[-1].argmax())]
    for index in range(1, count):
        control = END if index == count - 1 else None
        tokens.append(int(step_logits(channel, model, tokens[-1:], sequence_id, control).argmax()))
    return tokens


def test_32_concurrent_conversations_give_numpy_greedy_tokens(kv_channel):
    rng = np.random.default_rng(32)
    prompts = [prompt_of(rng, 2 + index % 9) for index in range(32)]
    with ThreadPoolExecutor(32) as pool:
        got = list(
            pool.map(lambda i: generate(kv_channel, "kv", prompts[i], 8, 91_000 + i), range(32))
        )
    expected = [reference_greedy(prompt, 8) for prompt in prompts]
    assert got == expected
    assert (
        len({tuple(tokens) for tokens in expected}) > 16
    )  # the tokens vary: the check proves much


def fill_cache(channel, model: str, sequence_id: int, chunks: int, seed: int) -> None:
    """START and grow one conversation's cache by `chunks` requests of CHUNK tokens each."""
    rng = np.random.default_rng(seed)
    for index in range(chunks):
        control = START if index == 0 else None
        step_logits(channel, model, prompt_of(rng, CHUNK), sequence_id, control)


def fill_caches(channel, model: str, ids: range, chunks: int) -> None:
    """Fill the caches of conversations `ids` at once, one client thread each."""
    with ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(lambda i: fill_cache(channel, model, i, chunks, seed=i), ids))


def end_all(channel, model: str, ids: range) -> None:
    """END each conversation (with one more token)."""
    for sequence_id in ids:
        step_logits(channel, model, [1], sequence_id, END)


def fill_after_baseline(
    server: launcher.ServerHandle, channel: grpc.Channel, model: str, ids: range, chunks: int
) -> tuple[float, float]:
    """(baseline, peak) server RSS in MB around filling the caches of conversations `ids`.

    One conversation at full length first, so that OpenVINO's own buffers have their size.
    (With a malloc arena per request thread, 32 threads then kept 35-50 MB resident.)
    """
    warm_up = range(ids.stop, ids.stop + 1)
    fill_caches(channel, model, warm_up, chunks)
    end_all(channel, model, warm_up)
    baseline = settled_rss_mb(server.pid, CLEANER_SECONDS)
    sampler = PeakRss(server.pid)
    sampler.start()
    try:
        fill_caches(channel, model, ids, chunks)
    finally:
        peak = max(sampler.stop(), rss_mb(server.pid))
    return baseline, peak


def test_memory_returns_to_its_baseline_after_end(kv_server, kv_channel):
    conversations, chunks = 32, 4
    cache_mb = conversations * chunks * CHUNK * CACHE_BYTES_PER_TOKEN / 2**20  # 64 MB
    ids = range(92_000, 92_000 + conversations)
    baseline, peak = fill_after_baseline(kv_server, kv_channel, "kv", ids, chunks)
    end_all(kv_channel, "kv", ids)
    after = settled_rss_mb(kv_server.pid, CLEANER_SECONDS)
    assert peak - baseline > 0.5 * cache_mb, (baseline, peak, after)  # the caches were held...
    assert after - baseline < 0.25 * cache_mb, (baseline, peak, after)  # ...and freed by END


def test_max_sequence_number_counts_conversations(kv_channel):
    rng = np.random.default_rng(4)
    histories = {
        sequence_id: prompt_of(rng, 3 + sequence_id) for sequence_id in range(1, LIMIT + 1)
    }
    for sequence_id, prompt in histories.items():
        step_logits(kv_channel, "kv_limited", prompt, sequence_id, START)
    over = request("kv_limited", kv_inputs([1, 2]), LIMIT + 1, START)
    assert predict_error(kv_channel, over) == (
        grpc.StatusCode.UNAVAILABLE,
        "Max sequence number has been reached. Could not create new sequence.",
    )
    # The refused START changed nothing: each conversation goes on from its own cache.
    for sequence_id, history in histories.items():
        history.append(5)
        got = step_logits(kv_channel, "kv_limited", [5], sequence_id)
        np.testing.assert_allclose(got, reference_logits(history)[-1:], **TOLERANCE)
    step_logits(kv_channel, "kv_limited", [1], 1, END)
    step_logits(kv_channel, "kv_limited", [1, 2], LIMIT + 1, START)
    for sequence_id in range(2, LIMIT + 2):
        step_logits(kv_channel, "kv_limited", [1], sequence_id, END)


def test_idle_cleanup_frees_the_caches(kv_server, kv_channel):
    conversations, chunks = 16, 4
    cache_mb = conversations * chunks * CHUNK * CACHE_BYTES_PER_TOKEN / 2**20  # 32 MB
    ids = range(93_000, 93_000 + conversations)
    baseline, peak = fill_after_baseline(kv_server, kv_channel, "kv_idle", ids, chunks)

    def all_removed() -> bool:
        log = kv_server.log_text()
        return all(f"Removing sequence with id: {i} on model kv_idle" in log for i in ids)

    wait_for(all_removed, 4 * CLEANER_SECONDS + 20, "the idle scans to remove every conversation")
    after = settled_rss_mb(kv_server.pid, CLEANER_SECONDS)
    for sequence_id in ids:
        code, details = predict_error(kv_channel, request("kv_idle", kv_inputs([1]), sequence_id))
        assert (code, details) == (
            grpc.StatusCode.NOT_FOUND,
            "Sequence with provided ID does not exist",
        )
    assert peak - baseline > 0.5 * cache_mb, (baseline, peak, after)
    assert after - baseline < 0.25 * cache_mb, (baseline, peak, after)


def test_a_shape_the_model_cannot_take_fails_clearly_and_harms_nothing(kv_server, kv_channel):
    rng = np.random.default_rng(6)
    history = prompt_of(rng, 6)
    step_logits(kv_channel, "kv", history, 94_001, START)
    bystander = prompt_of(rng, 5)
    stop = threading.Event()
    bystander_tokens: list[list[int]] = []

    def chat_alongside() -> None:
        # Another conversation generating while the bad requests arrive.
        while not stop.is_set():
            bystander_tokens.append(generate(kv_channel, "kv", bystander, 6, 94_002))

    thread = threading.Thread(target=chat_alongside)
    thread.start()
    try:
        wrong_rank = request("kv", kv_inputs(np.zeros((1, 2, 3))), 94_001)
        assert predict_error(kv_channel, wrong_rank) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "Invalid number of shape dimensions - Expected: (-1,-1); Actual: (1,2,3); "
            "input name: input_ids",
        )
        # Batch 2 against a cache of batch 1: only OpenVINO can tell (its Concat fails).
        wrong_batch = request("kv", kv_inputs([[1, 2], [3, 4]], beam=[0]), 94_001)
        assert predict_error(kv_channel, wrong_batch) == (
            grpc.StatusCode.INTERNAL,
            "Internal inference error",
        )
        for _ in range(3):
            token = int(rng.integers(0, VOCAB))
            history.append(token)
            got = step_logits(kv_channel, "kv", [token], 94_001)
            np.testing.assert_allclose(got, reference_logits(history)[-1:], **TOLERANCE)
    finally:
        stop.set()
        thread.join()
    step_logits(kv_channel, "kv", [1], 94_001, END)
    expected = reference_greedy(bystander, 6)
    assert bystander_tokens and all(tokens == expected for tokens in bystander_tokens)
    assert kv_server.is_running()
