"""Write the exported tiny LM as the folder openvino-genai's LLMPipeline loads (notebook 07)."""

import json
from pathlib import Path

import openvino as ov

from helpers.llm.decoder import DecoderConfig
from helpers.llm.vocabulary import EOS_TOKEN_ID, VOCABULARY, build_tokenizers

MODEL_XML = "openvino_model.xml"
TOKENIZER_XML = "openvino_tokenizer.xml"
DETOKENIZER_XML = "openvino_detokenizer.xml"


class FolderNotEmptyError(ValueError):
    """The target folder exists and holds files: nothing is overwritten."""


def check_target(directory: Path) -> None:
    """Refuse a path that is a file, or an existing folder that is not empty."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FolderNotEmptyError(
            f"{directory} exists and is not empty: choose a new or empty folder"
        )


def config_files(config: DecoderConfig) -> dict[str, dict[str, object]]:
    """config.json (the architecture, as Hugging Face writes it) and generation_config.json."""
    architecture = {
        "model_type": "tiny_gpt",
        "vocab_size": config.vocab_size,
        "num_hidden_layers": config.layers,
        "num_attention_heads": config.heads,
        "hidden_size": config.width,
        "max_position_embeddings": config.max_positions,
        "eos_token_id": EOS_TOKEN_ID,
    }
    generation: dict[str, object] = {
        "eos_token_id": EOS_TOKEN_ID,
        "pad_token_id": EOS_TOKEN_ID,
        "do_sample": False,
    }
    return {"config.json": architecture, "generation_config.json": generation}


def write_model_folder(directory: Path, stateful: ov.Model, config: DecoderConfig) -> list[Path]:
    """Write model, tokenizer and detokenizer IRs and the config files; return the paths."""
    directory = Path(directory)
    check_target(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer, detokenizer = build_tokenizers(VOCABULARY[: config.vocab_size])
    ov.save_model(stateful, directory / MODEL_XML, compress_to_fp16=False)
    ov.save_model(tokenizer, directory / TOKENIZER_XML)
    ov.save_model(detokenizer, directory / DETOKENIZER_XML)
    for name, content in config_files(config).items():
        (directory / name).write_text(json.dumps(content, indent=2) + "\n")
    return sorted(directory.iterdir())
