"""Sample programmes: speech over a music bed with pydub (short files, whole-file work)."""

from __future__ import annotations

from pathlib import Path

from radiocast.audio.ffmpeg import find_ffmpeg


def configure_pydub() -> None:
    """Point pydub at our ffmpeg; radiocast never needs ffprobe."""
    from pydub import AudioSegment

    AudioSegment.converter = find_ffmpeg()
    AudioSegment.ffmpeg = find_ffmpeg()


def mix_programme(speech: Path, bed: Path | None, out: Path, bed_gain_db: float,
                  speech_gain_db: float = 0.0) -> None:
    """Lay speech over a looping music bed (for the sample programmes); short files only."""
    from pydub import AudioSegment

    configure_pydub()
    voice = AudioSegment.from_file(str(speech)).apply_gain(speech_gain_db)
    if bed is not None:
        music = AudioSegment.from_file(str(bed)).apply_gain(bed_gain_db)
        intro = music[:3000]
        mixed = (intro + voice.overlay(music, loop=True)).fade_out(1500)
    else:
        mixed = voice
    mixed.export(str(out), format=out.suffix.lstrip(".") or "mp3", bitrate="64k")
