"""Generation loops the tiny-LM tests share: stateful (State API) and stateless (cache carried)."""

import numpy as np
import openvino as ov

from helpers.llm.decoder import DecoderConfig, cache_names, empty_cache

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def step_inputs(ids: np.ndarray, seen: int) -> dict[str, np.ndarray]:
    """input_ids, attention_mask and position_ids of one call after `seen` cached positions."""
    batch, steps = ids.shape
    positions = np.broadcast_to(np.arange(seen, seen + steps), (batch, steps))
    return {
        "input_ids": ids,
        "attention_mask": np.ones((batch, seen + steps), np.int64),
        "position_ids": positions.astype(np.int64),
    }


def stateful_greedy(request: ov.InferRequest, prompt: list[int], new: int) -> list[int]:
    """Greedy tokens: reset, the prompt in one call, then one token per call."""
    request.reset_state()
    ids, seen, tokens = np.array([prompt]), 0, []
    for _ in range(new):
        inputs = {**step_inputs(ids, seen), "beam_idx": np.zeros(1, np.int32)}
        logits = request.infer(inputs)["logits"]
        seen += ids.shape[1]
        tokens.append(int(np.argmax(logits[0, -1])))
        ids = np.array([[tokens[-1]]])
    return tokens


def stateless_greedy(
    request: ov.InferRequest, config: DecoderConfig, prompt: list[int], new: int
) -> list[int]:
    """Greedy tokens with the cache copied from each call's outputs to the next call's inputs."""
    cache, ids, tokens = empty_cache(config), np.array([prompt]), []
    for _ in range(new):
        seen = cache["past_key_values.0.key"].shape[2]
        out = request.infer({**step_inputs(ids, seen), **cache})
        cache = {past: out[present].copy() for past, present in cache_names(config)}
        tokens.append(int(np.argmax(out["logits"][0, -1])))
        ids = np.array([[tokens[-1]]])
    return tokens
