"""The walkthrough's reading order: three parts, twelve notebooks (navigation and browser tests)."""

from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

PARTS: dict[str, list[str]] = {
    "Part 1 · The mechanics": [
        "01_summator_from_scratch.ipynb",
        "02_state_api.ipynb",
        "03_make_stateful.ipynb",
        "04_low_latency2_sequence_ops.ipynb",
        "05_low_latency2_framework_models.ipynb",
    ],
    "Part 2 · Real models": [
        "06_voice_activity_detection.ipynb",
        "07_stateful_text_generation.ipynb",
        "08_from_states_to_pages.ipynb",
    ],
    "Part 3 · Serving": [
        "09_model_server.ipynb",
        "10_model_server_errors_and_clients.ipynb",
        "11_streaming_forecast.ipynb",
        "12_scaling_out.ipynb",
    ],
}
READING_ORDER: list[str] = [name for names in PARTS.values() for name in names]
PART_OF: dict[str, str] = {name: part for part, names in PARTS.items() for name in names}
