"""A tiny GPT-style decoder in Keras 3 with explicit past and present key/value tensors.

Taught in notebook 07. Token positions are an input (`position_ids`), as in Optimum-Intel exports;
the causal mask counts from the cache length. The reference recomputes the whole prefix with an
empty cache.
Importing this module imports TensorFlow (about 3 s); its native log lines are kept out of cells.
"""

from dataclasses import dataclass

import numpy as np

from helpers.models.tensorflow_frontend_fix import repair_tensorflow_frontend
from helpers.quiet import native_stderr_silenced

with native_stderr_silenced():
    import keras
    from keras import ops

repair_tensorflow_frontend()  # Python 3.13: OpenVINO 2026.4 cannot convert Keras models otherwise


@dataclass(frozen=True)
class DecoderConfig:
    """Sizes of the tiny decoder."""

    vocab_size: int = 64
    layers: int = 2
    heads: int = 2
    head_size: int = 16
    max_positions: int = 512
    embedding_stddev: float = 1.0  # Keras' default (0.05) makes greedy output collapse

    @property
    def width(self) -> int:
        """Model width: heads times head size."""
        return self.heads * self.head_size


def past_name(layer: int, kind: str) -> str:
    """Optimum-Intel's name of a cache input: past_key_values.{layer}.{key|value}."""
    return f"past_key_values.{layer}.{kind}"


def present_name(layer: int, kind: str) -> str:
    """Optimum-Intel's name of a cache output: present.{layer}.{key|value}."""
    return f"present.{layer}.{kind}"


def cache_names(config: DecoderConfig) -> list[tuple[str, str]]:
    """(past, present) name pairs in layer order, key before value."""
    return [
        (past_name(i, kind), present_name(i, kind))
        for i in range(config.layers)
        for kind in ("key", "value")
    ]


@keras.saving.register_keras_serializable(package="tiny_lm")
class PositionEmbedding(keras.layers.Layer):
    """Learned position embeddings looked up by position_ids [B, T]."""

    def __init__(self, max_positions: int, width: int, stddev: float, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.table = self.add_weight(
            shape=(max_positions, width),
            initializer=keras.initializers.RandomNormal(stddev=stddev),
            name="table",
        )

    def call(self, position_ids: object) -> object:
        """Embeddings [B, T, width] of the given positions."""
        return ops.take(self.table, position_ids, axis=0)


@keras.saving.register_keras_serializable(package="tiny_lm")
class CachedDecoderBlock(keras.layers.Layer):
    """Pre-norm causal self-attention and MLP; returns (output, present key, present value)."""

    def __init__(self, heads: int, head_size: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.heads, self.head_size = heads, head_size
        width = heads * head_size
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.qkv = keras.layers.Dense(3 * width)
        self.proj = keras.layers.Dense(width)
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.fc1 = keras.layers.Dense(4 * width, activation="gelu")
        self.fc2 = keras.layers.Dense(width)

    def build(self, *shapes: object) -> None:
        """Build the sublayers for inputs [B, T, width]."""
        width = self.heads * self.head_size
        for layer, size in [(self.norm1, width), (self.qkv, width), (self.proj, width)]:
            layer.build((None, None, size))
        for layer, size in [(self.norm2, width), (self.fc1, width), (self.fc2, 4 * width)]:
            layer.build((None, None, size))
        self.built = True

    def _split_heads(self, x: object) -> object:
        """[B, T, width] -> [B, heads, T, head_size]."""
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, steps, self.heads, self.head_size))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(
        self, x: object, past_key: object, past_value: object, attention_mask: object
    ) -> tuple[object, object, object]:
        """One block over T new positions, attending to the cache and to earlier new ones."""
        q, k, v = ops.split(self.qkv(self.norm1(x)), 3, axis=-1)
        q = self._split_heads(q)
        key = ops.concatenate([past_key, self._split_heads(k)], axis=2)
        value = ops.concatenate([past_value, self._split_heads(v)], axis=2)
        scores = ops.matmul(q, ops.transpose(key, (0, 1, 3, 2))) / float(np.sqrt(self.head_size))
        past_length, steps = ops.shape(past_key)[2], ops.shape(x)[1]
        query_pos = ops.expand_dims(ops.arange(steps) + past_length, 1)
        key_pos = ops.expand_dims(ops.arange(past_length + steps), 0)
        causal = ops.expand_dims(ops.expand_dims(key_pos <= query_pos, 0), 0)
        visible = ops.expand_dims(ops.expand_dims(ops.greater(attention_mask, 0), 1), 1)
        scores = ops.where(ops.logical_and(causal, visible), scores, -1e9)
        attended = ops.matmul(ops.softmax(scores, axis=-1), value)
        batch = ops.shape(x)[0]
        attended = ops.reshape(
            ops.transpose(attended, (0, 2, 1, 3)), (batch, steps, self.heads * self.head_size)
        )
        x = x + self.proj(attended)
        x = x + self.fc2(self.fc1(self.norm2(x)))
        return x, key, value


def build_decoder(config: DecoderConfig = DecoderConfig(), seed: int = 0) -> keras.Model:
    """The decoder: (input_ids, attention_mask, position_ids, past K/V) -> (logits, present K/V)."""
    keras.utils.set_random_seed(seed)
    input_ids = keras.Input((None,), dtype="int64", name="input_ids")
    attention_mask = keras.Input((None,), dtype="int64", name="attention_mask")
    position_ids = keras.Input((None,), dtype="int64", name="position_ids")
    cache_shape = (config.heads, None, config.head_size)
    pasts = {past: keras.Input(cache_shape, name=past) for past, _ in cache_names(config)}
    embed = keras.layers.Embedding(
        config.vocab_size,
        config.width,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=config.embedding_stddev),
        name="tokens",
    )
    positions = PositionEmbedding(config.max_positions, config.width, 0.5, name="positions")
    x = embed(input_ids) + positions(position_ids)
    presents = []
    for i in range(config.layers):
        block = CachedDecoderBlock(config.heads, config.head_size, name=f"block_{i}")
        x, key, value = block(
            x, pasts[past_name(i, "key")], pasts[past_name(i, "value")], attention_mask
        )
        presents += [key, value]
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    logits = keras.layers.Dense(config.vocab_size, name="lm_head")(x)
    inputs = [input_ids, attention_mask, position_ids, *pasts.values()]
    return keras.Model(inputs, [logits, *presents], name="tiny_gpt")


def empty_cache(config: DecoderConfig, batch: int = 1) -> dict[str, np.ndarray]:
    """Zero-length past tensors [batch, heads, 0, head_size], one per cache input."""
    shape = (batch, config.heads, 0, config.head_size)
    return {past: np.zeros(shape, np.float32) for past, _ in cache_names(config)}


def keras_logits(model: keras.Model, config: DecoderConfig, ids: np.ndarray) -> np.ndarray:
    """Logits [B, T, V] of the whole prefix `ids` [B, T], recomputed with an empty cache."""
    ids = np.asarray(ids, np.int64)
    inputs = {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "position_ids": np.broadcast_to(np.arange(ids.shape[1]), ids.shape).copy(),
        **empty_cache(config, len(ids)),
    }
    return np.asarray(model(inputs, training=False)[0])


def keras_greedy(
    model: keras.Model, config: DecoderConfig, prompt: list[int], new_tokens: int
) -> list[int]:
    """Greedy continuation of `prompt`, recomputing the whole prefix for every token."""
    ids = list(prompt)
    for _ in range(new_tokens):
        ids.append(int(np.argmax(keras_logits(model, config, np.array([ids]))[0, -1])))
    return ids[len(prompt) :]
