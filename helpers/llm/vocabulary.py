"""A tiny local vocabulary and its tokenizer/detokenizer IRs made with openvino-tokenizers.

Taught in notebook 07: what `LLMPipeline` needs next to the model, without transformers or a
download. The tokenizer matches the longest vocabulary entry first (RWKV's trie tokenizer).
"""

import numpy as np
import openvino as ov
import openvino_tokenizers
from openvino import opset13

EOS = "<|endoftext|>"
ROLES = ("<|system|>", "<|user|>", "<|assistant|>")
WORDS = (
    " the", " a", " cat", " dog", " sat", " on", " mat", " ran", " to", " and", " is", " it",
    "hello", " world", " how", " are", " you", " fine", " thanks", " what", " time", " now",
    " yes", " no", " good", " day", " sun",
)  # fmt: skip
VOCABULARY: tuple[str, ...] = (
    EOS,
    *ROLES,
    *" abcdefghijklmnopqrstuvwxyz",
    *".,?!'\n",
    *WORDS,
)
EOS_TOKEN_ID = 0
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def rwkv_lines(vocabulary: tuple[str, ...] = VOCABULARY) -> list[str]:
    """The vocabulary in RWKV's file format: `id repr(text) byte_length` per line."""
    return [f"{i} {text!r} {len(text.encode())}" for i, text in enumerate(vocabulary)]


def build_tokenizers(vocabulary: tuple[str, ...] = VOCABULARY) -> tuple[ov.Model, ov.Model]:
    """Tokenizer (strings -> input_ids, attention_mask) and detokenizer (ids -> strings) IRs.

    build_rwkv_tokenizer gives only input_ids, padded on the right; LLMPipeline also looks for
    attention_mask. A batch is padded on the left, as generation needs, and the mask is the
    padding step's own. eos/pad and the chat template go in rt_info.
    """
    tokenizer, detokenizer = openvino_tokenizers.build_rwkv_tokenizer(rwkv_lines(vocabulary))
    to_int64 = tokenizer.output("input_ids").get_node().input_value(0).get_node()
    padding = to_int64.input_value(0).get_node()  # RaggedToDense: (ids, mask)
    padding.set_attribute("pad_right", False)
    mask = opset13.convert(padding.output(1), "i64")
    mask.output(0).get_tensor().set_names({"attention_mask"})
    tokenizer.add_results([opset13.result(mask)])
    for model in (tokenizer, detokenizer):
        model.set_rt_info(EOS_TOKEN_ID, "eos_token_id")
        model.set_rt_info(EOS_TOKEN_ID, "pad_token_id")
        model.set_rt_info(CHAT_TEMPLATE, "chat_template")
    tokenizer.validate_nodes_and_infer_types()
    return tokenizer, detokenizer


def token_texts(ids: list[int], vocabulary: tuple[str, ...] = VOCABULARY) -> str:
    """The text of `ids`, joined from the vocabulary (an independent detokenizer)."""
    return "".join(vocabulary[i] for i in np.asarray(ids).tolist())
