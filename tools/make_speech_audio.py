"""Make data/speech/two_sentences.wav: synthetic speech with pauses, 16 kHz mono 16-bit (run once).

The file is committed, so notebooks and tests never download audio. To remake it on Debian or
Ubuntu: `sudo apt-get install -y espeak-ng sox`, then `python -m tools.make_speech_audio`.
espeak-ng (voice en-us) speaks each sentence at its own rate; sox pads it with silence, joins the
parts and resamples to 16 kHz. The layout: 0.6 s silence, sentence 1 at 150 words per minute,
1.2 s silence, sentence 2 at 140 words per minute, 0.8 s silence (about 11 s in all; espeak-ng
adds a little silence of its own around each sentence). The level is
lowered by 1 dB and sox's dither is off (`-D`), so resampling never clips and the file is the same
on every run.
"""

import argparse
import subprocess
import tempfile
from pathlib import Path

from helpers.paths import DATA_DIR

SPEECH_WAV: Path = DATA_DIR / "speech" / "two_sentences.wav"
VOICE = "en-us"
SAMPLE_RATE = 16_000
LEADING_SILENCE_SECONDS = 0.6
# (text, words per minute, silence after it in seconds)
SENTENCES: list[tuple[str, int, float]] = [
    ("A stateful model remembers what it heard in the previous chunk.", 150, 1.2),
    ("Voice activity detection finds where somebody speaks.", 140, 0.8),
]


def speak(text: str, words_per_minute: int, wav: Path) -> None:
    """Synthesize `text` with espeak-ng into `wav` (espeak-ng's own sample rate)."""
    subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(words_per_minute), "-w", str(wav), text], check=True
    )


def make_speech_audio(output: Path) -> None:
    """Speak every sentence, pad with silence, join and resample to 16 kHz mono 16-bit."""
    with tempfile.TemporaryDirectory() as folder:
        parts = []
        for number, (text, words_per_minute, pause) in enumerate(SENTENCES):
            spoken, padded = Path(folder) / f"s{number}.wav", Path(folder) / f"p{number}.wav"
            speak(text, words_per_minute, spoken)
            before = LEADING_SILENCE_SECONDS if number == 0 else 0.0
            subprocess.run(
                ["sox", str(spoken), str(padded), "pad", str(before), str(pause)], check=True
            )
            parts.append(str(padded))
        output.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "sox",
                *parts,
                "-D",
                "-r",
                str(SAMPLE_RATE),
                "-c",
                "1",
                "-b",
                "16",
                str(output),
                "gain",
                "-1",
            ],
            check=True,
        )


def main(argv: list[str] | None = None) -> None:
    """Write the speech file (default: data/speech/two_sentences.wav)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=SPEECH_WAV, help="the .wav file to write")
    make_speech_audio(parser.parse_args(argv).output)


if __name__ == "__main__":
    main()
