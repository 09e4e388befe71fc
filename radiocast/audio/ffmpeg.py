"""The ffmpeg adapter: finding the binary, probing containers, decoding to float PCM, and
measuring a whole file with the meter. The only module that starts ffmpeg to read audio files
(`capture` reads a live source)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np

from radiocast.audio.meter import FloatArray, Loudness, LoudnessMeter
from radiocast.core.errors import AudioError

CHUNK_SECONDS = 5


@lru_cache(maxsize=1)
def find_ffmpeg() -> str:
    """The system ffmpeg when on PATH, else the binary bundled by imageio-ffmpeg."""
    exe = os.environ.get("RADIOCAST_FFMPEG") or shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # the package raises RuntimeError, or is missing its binary
        raise AudioError("no_ffmpeg", "ffmpeg not found (install ffmpeg or imageio-ffmpeg)") \
            from exc


# ---------------------------------------------------------------- probing


@dataclass(frozen=True)
class Probe:
    duration_s: float | None
    sample_rate: int
    channels: int


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: [^,]+, (\d+) Hz, ([^,]+)")


def probe(path: Path) -> Probe:
    """What ffmpeg sees in the container (ffprobe is not required)."""
    if path.stat().st_size == 0:
        raise AudioError("empty", "the file is empty (0 bytes)")
    proc = subprocess.run([find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
                          capture_output=True, text=True, errors="replace", check=False)
    err = proc.stderr
    m = _AUDIO.search(err)
    if m is None:
        if "Invalid data found" in err or "could not find codec" in err.lower() \
                or "Input #0" not in err:
            raise AudioError("undecodable", last_line(err).replace(f"{path}: ", ""))
        raise AudioError("no_audio", "the file has no audio stream")
    layout = m.group(2).strip()
    channels = {"mono": 1, "stereo": 2}.get(layout, 2)
    d = _DURATION.search(err)
    duration = (int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))) if d else None
    return Probe(duration, int(m.group(1)), channels)


def wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(bytes the RIFF header announces, bytes present) when a WAV file is cut short.

    ffmpeg derives a WAV file's duration from its size, so it cannot see the truncation."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = path.stat().st_size
        pos = 12
        while pos + 8 <= size:
            fh.seek(pos)
            chunk = fh.read(8)
            length = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                present = size - pos - 8
                if length != 0xFFFFFFFF and length > present + 4096:
                    return length, present
                return None
            pos += 8 + length + (length & 1)
    return None


def last_line(text: str) -> str:
    """ffmpeg's last complaint, short enough for a note."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "ffmpeg could not read the file"


# ---------------------------------------------------------------- decoding


def decode_chunks(path: Path, sample_rate: int | None = None, channels: int | None = None,
                  extra: tuple[str, ...] = ()) -> Iterator[FloatArray]:
    """Yield float32 arrays of shape (frames, channels), CHUNK_SECONDS at a time."""
    if sample_rate is None or channels is None:
        info = probe(path)
        sample_rate = sample_rate or info.sample_rate
        channels = channels or info.channels
    sr, ch = sample_rate, channels
    cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-vn", "-map", "0:a:0", *extra, "-ac", str(ch), "-ar", str(sr), "-f", "f32le", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            bufsize=0)
    assert proc.stdout is not None and proc.stderr is not None
    widen_pipe(proc.stdout)
    frame_bytes = 4 * ch
    want = sr * CHUNK_SECONDS * frame_bytes
    try:
        while True:
            buf = bytearray(want)  # a new buffer each time: the chunk outlives this loop
            got = _read_into(proc.stdout, buf)
            usable = got - got % frame_bytes
            if usable:
                yield np.frombuffer(buf, dtype="<f4", count=usable // 4).reshape(-1, ch)
            if got < want:
                break
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        rc = proc.wait()
    if rc != 0:
        raise AudioError("undecodable", last_line(err))


def widen_pipe(pipe: IO[bytes]) -> None:
    """A 1 MiB pipe instead of 64 KiB: a tenth of the wake-ups for a PCM stream (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)


def _read_into(fh: IO[bytes], buf: bytearray) -> int:
    """Fill `buf` from `fh` (fewer bytes only at the end of the stream); no extra copies."""
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        n = fh.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


# ---------------------------------------------------------------- the meter (ITU-R BS.1770-4)
def measure_file(path: Path, sample_rate: int | None = None,
                 channels: int | None = None) -> Loudness:
    """Measure a file as decoded (native rate and channels unless given)."""
    info = probe(path)
    sr = sample_rate or info.sample_rate
    ch = channels or info.channels
    meter = LoudnessMeter(sr, ch)
    for chunk in decode_chunks(path, sr, ch):
        meter.feed(chunk)
    return meter.result()


