"""The tiny LM served: one conversation per sequence, the KV cache kept on the server."""

from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import openvino as ov
import pytest

from helpers.llm.recipe import build_tiny_lm
from helpers.serving.client import StatefulSequence
from helpers.serving.launcher import serve_model

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
CONVERSATIONS = {  # sequence id -> the user's turns, as token ids
    11: [[49, 32, 51, 52, 53, 33], [40, 41, 42]],
    12: [[35, 36, 37], [38, 39, 34, 33]],
    13: [[45, 46], [47, 48, 30]],
    14: [[55, 56, 57, 58], [59]],
}
NEW = 5


def feed(send, ids: list[int], seen: int) -> np.ndarray:
    """One request of a conversation; returns the last position's logits."""
    inputs = {
        "input_ids": np.array([ids]),
        "attention_mask": np.ones((1, seen), np.int64),
        "position_ids": np.arange(seen - len(ids), seen)[None],
        "beam_idx": np.zeros(1, np.int32),
    }
    return send(inputs)[0, -1]


def converse(send_start, send_step, send_end, turns: list[list[int]]) -> list[int]:
    """Greedy answers of NEW tokens per turn; the last answer token opens the next turn."""
    tokens, pending, seen = [], [], 0
    for turn, user in enumerate(turns):
        ids = pending + user
        for i in range(NEW):
            seen += len(ids)
            last = turn == len(turns) - 1 and i == NEW - 1
            send = send_start if seen == len(ids) else send_end if last else send_step
            tokens.append(int(np.argmax(feed(send, ids, seen))))
            ids = [tokens[-1]]
        pending = ids
    return tokens


@pytest.fixture(scope="module")
def lm():
    return build_tiny_lm(seed=0)


def in_process(lm, turns: list[list[int]]) -> list[int]:
    """The same conversation on one local infer request, reset only at the start."""
    request = ov.Core().compile_model(lm.stateful, "CPU", F32).create_infer_request()
    request.reset_state()
    infer = request.infer

    def send(inputs):
        return infer(inputs)["logits"]

    return converse(send, send, send, turns)


def test_concurrent_conversations_get_the_in_process_tokens(lm, tmp_path):
    with (
        serve_model(lm.stateful, "tiny_lm", tmp_path) as server,
        grpc.insecure_channel(server.grpc_address) as channel,
    ):

        def served(sequence_id: int) -> list[int]:
            with StatefulSequence(channel, "tiny_lm", "logits", sequence_id) as chat:
                return converse(chat.start, chat.step, chat.end, CONVERSATIONS[sequence_id])

        with ThreadPoolExecutor(len(CONVERSATIONS)) as pool:
            answers = dict(zip(CONVERSATIONS, pool.map(served, CONVERSATIONS), strict=True))
    for sequence_id, turns in CONVERSATIONS.items():
        assert answers[sequence_id] == in_process(lm, turns)
    assert len({tuple(a) for a in answers.values()}) == len(CONVERSATIONS)
