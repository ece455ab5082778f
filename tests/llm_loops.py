"""Generation loops the tiny-LM tests share: stateful (State API) and stateless (cache carried)."""

import numpy as np
import openvino as ov

from helpers.llm.decoder import DecoderConfig, cache_names, empty_cache

F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def stateful_greedy(request: ov.InferRequest, prompt: list[int], new: int) -> list[int]:
    """Greedy tokens: reset, the prompt in one call, then one token per call."""
    request.reset_state()
    ids, seen, tokens = np.array([prompt]), 0, []
    for _ in range(new):
        seen += ids.shape[1]
        logits = request.infer(
            {
                "input_ids": ids,
                "attention_mask": np.ones((1, seen), np.int64),
                "beam_idx": np.zeros(1, np.int32),
            }
        )["logits"]
        tokens.append(int(np.argmax(logits[0, -1])))
        ids = np.array([[tokens[-1]]])
    return tokens


def stateless_greedy(
    request: ov.InferRequest, config: DecoderConfig, prompt: list[int], new: int
) -> list[int]:
    """Greedy tokens with the cache copied from each call's outputs to the next call's inputs."""
    cache, ids, tokens = empty_cache(config), np.array([prompt]), []
    for _ in range(new):
        seen = cache["past_key_values.0.key"].shape[2] + ids.shape[1]
        out = request.infer(
            {"input_ids": ids, "attention_mask": np.ones((1, seen), np.int64), **cache}
        )
        cache = {past: out[present].copy() for past, present in cache_names(config)}
        tokens.append(int(np.argmax(out["logits"][0, -1])))
        ids = np.array([[tokens[-1]]])
    return tokens
