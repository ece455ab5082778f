"""The whole export in one call: Keras decoder -> stateless and stateful OpenVINO models.

Notebook 07 runs each step itself; the CLI (`python -m helpers.tiny_lm DIR`) and the tests use this.
"""

from dataclasses import dataclass

import openvino as ov
from openvino._offline_transformations import apply_make_stateful_transformation

from helpers.llm.decoder import DecoderConfig, build_decoder, cache_names, keras
from helpers.llm.export import (
    add_state_initializers,
    fuse_attention,
    fuse_beam_idx,
    name_ports,
    state_map,
)
from helpers.models.keras_forecaster import convert_quietly, drop_inner_tensor_names


@dataclass
class TinyLM:
    """The Keras decoder and its two OpenVINO forms."""

    config: DecoderConfig
    keras_model: keras.Model
    stateless: ov.Model  # explicit past_key_values inputs and present outputs
    stateful: ov.Model  # input_ids, attention_mask, position_ids, beam_idx -> logits


def convert_decoder(keras_model: keras.Model, config: DecoderConfig) -> ov.Model:
    """ov.convert_model, attention fused into SDPA, the ports named as Optimum-Intel names them."""
    ov_model = fuse_attention(convert_quietly(keras_model))
    name_ports(ov_model, [t.name for t in keras_model.outputs], config)
    return drop_inner_tensor_names(ov_model)


def make_stateful_decoder(stateless: ov.Model, config: DecoderConfig) -> ov.Model:
    """A stateful copy: beam_idx fused, the cache made Variables, their initializers added."""
    model = fuse_beam_idx(stateless.clone(), [past for past, _ in cache_names(config)])
    apply_make_stateful_transformation(model, state_map(config))
    return add_state_initializers(model)


def build_tiny_lm(config: DecoderConfig | None = None, seed: int = 0) -> TinyLM:
    """Build the seeded decoder (default sizes unless given) and export it both ways."""
    config = config or DecoderConfig()
    keras_model = build_decoder(config, seed)
    stateless = convert_decoder(keras_model, config)
    return TinyLM(config, keras_model, stateless, make_stateful_decoder(stateless, config))
