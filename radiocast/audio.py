"""Decode, measure (BS.1770-4), normalize, encode and verify audio; the only ffmpeg/pydub user.

Memory stays flat with programme length: ffmpeg decodes to a pipe, the meter works on
fixed-size chunks, the station-format PCM is spooled to a temporary file on disk, and the
encoder reads it back from there (so the source is decoded only once).
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
from scipy import signal

from radiocast.config import AudioSettings
from radiocast.errors import AudioError

FloatArray = npt.NDArray[np.float32]
CHUNK_SECONDS = 5
SILENCE_LUFS = -60.0
DIGITAL_SILENCE = 10 ** (-80 / 20)  # below -80 dBFS counts as digital silence
KEEP_SILENCE_S = 0.25  # pad left at each end after trimming long silence
TRIM_MIN_S = 1.0
MAX_EXTRA_PASSES = 3  # re-encodes allowed when limiting cost loudness


# ---------------------------------------------------------------- ffmpeg discovery


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


def configure_pydub() -> None:
    """Point pydub at our ffmpeg; radiocast never needs ffprobe."""
    from pydub import AudioSegment

    AudioSegment.converter = find_ffmpeg()
    AudioSegment.ffmpeg = find_ffmpeg()


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
            raise AudioError("undecodable", _last_line(err).replace(f"{path}: ", ""))
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


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "ffmpeg could not read the file"


# ---------------------------------------------------------------- decoding


def decode_chunks(path: Path, sample_rate: int | None = None, channels: int | None = None,
                  extra: tuple[str, ...] = ()) -> Iterator[FloatArray]:
    """Yield float32 arrays of shape (frames, channels), CHUNK_SECONDS at a time."""
    info = probe(path)
    sr = sample_rate or info.sample_rate
    ch = channels or info.channels
    cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
           "-vn", "-map", "0:a:0", *extra, "-ac", str(ch), "-ar", str(sr), "-f", "f32le", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    frame_bytes = 4 * ch
    want = sr * CHUNK_SECONDS * frame_bytes
    try:
        while True:
            buf = _read_exact(proc.stdout, want)
            usable = len(buf) - len(buf) % frame_bytes
            if usable:
                yield np.frombuffer(buf[:usable], dtype="<f4").reshape(-1, ch)
            if len(buf) < want:
                break
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace")
        proc.stderr.close()
        rc = proc.wait()
    if rc != 0:
        raise AudioError("undecodable", _last_line(err))


def _read_exact(fh: IO[bytes], n: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        b = fh.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


# ---------------------------------------------------------------- the meter (ITU-R BS.1770-4)


def k_weighting_sos(fs: int) -> npt.NDArray[np.float64]:
    """The two K-weighting biquads (pre-filter shelf, RLB high-pass) for sample rate `fs`.

    The bilinear-transform design of libebur128: at 48 kHz it reproduces the coefficient
    table of ITU-R BS.1770-4 exactly, and it adapts to any other rate.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0,
             (vh - vb * k / q + k * k) / a0, 1.0, 2 * (k * k - 1) / a0,
             (1 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


_TP_UP = 4
_TP_PHASE_TAPS = 12
# 48-tap interpolation low-pass, as a (taps per phase × phases) matrix: y[4n+p] = x[n-k]·H[k,p]
_TP_H = (signal.firwin(_TP_UP * _TP_PHASE_TAPS, 0.9 / _TP_UP) * _TP_UP).reshape(
    _TP_PHASE_TAPS, _TP_UP)
_TP_TAIL = 16
_TP_HEADROOM = 10 ** (4.0 / 20)  # a true peak is assumed within 4 dB above its sample peak


def _oversampled_peak(x: npt.NDArray[np.float32], threshold: float) -> float:
    """Largest |4x-interpolated| value of `x` near samples at or above `threshold`."""
    win = np.lib.stride_tricks.sliding_window_view(x, _TP_PHASE_TAPS)[:, ::-1]
    cand = np.flatnonzero(np.abs(x) >= threshold)
    if cand.size * 10 > x.size:
        up = win @ _TP_H  # dense: cheaper to do every sample than to index
    else:
        # outputs n = i+5..i+7 cover the interval around sample i (group delay 5.875 samples)
        mask = np.zeros(win.shape[0] + 8, dtype=bool)
        for d in (5, 6, 7):
            mask[np.clip(cand + d - (_TP_PHASE_TAPS - 1), 0, None)] = True
        j = np.flatnonzero(mask[: win.shape[0]])
        up = win[j] @ _TP_H
    return float(np.max(np.abs(up))) if up.size else 0.0


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float  # -inf when no block passes the gates
    lra_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    duration_s: float
    gated_blocks: int

    @property
    def silent(self) -> bool:
        return self.gated_blocks == 0 or self.integrated_lufs < SILENCE_LUFS


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness, EBU 3342 loudness range, 4x true peak."""

    def __init__(self, fs: int, channels: int) -> None:
        self.fs = fs
        self.channels = channels
        self.sos = k_weighting_sos(fs)
        self.zi = [signal.sosfilt_zi(self.sos) * 0.0 for _ in range(channels)]
        self.sub = fs // 10  # 100 ms sub-blocks
        self.carry: FloatArray = np.zeros((0, channels), dtype=np.float32)
        self.sub_energy: list[float] = []  # K-weighted channel-summed mean square / sub-block
        self.frames = 0
        self.sample_peak = 0.0
        self.true_peak = 0.0
        self.tp_tail = np.zeros((_TP_TAIL, channels), dtype=np.float32)

    def feed(self, x: FloatArray) -> None:
        if x.size == 0:
            return
        self.frames += x.shape[0]
        self._peaks(x)
        filtered = np.empty(x.shape, dtype=np.float64)
        for c in range(self.channels):
            filtered[:, c], self.zi[c] = signal.sosfilt(self.sos, x[:, c], zi=self.zi[c])
        data: npt.NDArray[np.float64] = (
            np.concatenate([self.carry.astype(np.float64), filtered]) if self.carry.size
            else filtered)
        n = len(data) // self.sub
        if n:
            blocks = data[: n * self.sub].reshape(n, self.sub, self.channels)
            self.sub_energy.extend(np.mean(blocks**2, axis=1).sum(axis=1).tolist())
        self.carry = data[n * self.sub:].astype(np.float32)

    def _peaks(self, x: FloatArray) -> None:
        sp = float(np.max(np.abs(x)))
        self.sample_peak = max(self.sample_peak, sp)
        ext = np.concatenate([self.tp_tail, x])
        self.tp_tail = ext[-_TP_TAIL:]
        if sp * _TP_HEADROOM <= self.true_peak:
            return  # nothing in this chunk can raise the true peak
        threshold = max(self.true_peak, sp) / _TP_HEADROOM
        for c in range(self.channels):
            col = np.ascontiguousarray(ext[:, c])
            self.true_peak = max(self.true_peak, sp, _oversampled_peak(col, threshold))

    def result(self) -> Loudness:
        e = np.asarray(self.sub_energy)
        n_blocks = len(e) - 3
        if n_blocks > 0:
            block = (e[:-3] + e[1:-2] + e[2:-1] + e[3:]) / 4  # 400 ms, 75 % overlap
            integrated, gated = _gated_mean(block, relative_lu=10.0)
        else:
            integrated, gated = -math.inf, 0
        lra = 0.0
        if len(e) >= 30:
            kernel = np.ones(30) / 30
            short = np.convolve(e, kernel, mode="valid")  # 3 s windows every 100 ms
            lra = _lra(short)
        return Loudness(
            integrated_lufs=integrated,
            lra_lu=lra,
            true_peak_dbtp=_db(self.true_peak),
            sample_peak_dbfs=_db(self.sample_peak),
            duration_s=self.frames / self.fs,
            gated_blocks=gated,
        )


def _db(x: float) -> float:
    return 20 * math.log10(x) if x > 0 else -math.inf


def _lufs(energy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        result: npt.NDArray[np.float64] = -0.691 + 10 * np.log10(energy)
    return result


def _gated_mean(block: npt.NDArray[np.float64], relative_lu: float) -> tuple[float, int]:
    loud = _lufs(block)
    above_abs = block[loud > -70.0]
    if above_abs.size == 0:
        return -math.inf, 0
    rel_gate = float(_lufs(np.array([above_abs.mean()]))[0]) - relative_lu
    final = block[(loud > -70.0) & (loud > rel_gate)]
    if final.size == 0:
        return -math.inf, 0
    return float(_lufs(np.array([final.mean()]))[0]), int(final.size)


def _lra(short: npt.NDArray[np.float64]) -> float:
    loud = _lufs(short)
    above = short[loud > -70.0]
    if above.size == 0:
        return 0.0
    rel = float(_lufs(np.array([above.mean()]))[0]) - 20.0
    kept = loud[(loud > -70.0) & (loud > rel)]
    if kept.size < 2:
        return 0.0
    lo, hi = np.percentile(kept, [10, 95])
    return float(hi - lo)


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


# ---------------------------------------------------------------- normalization


@dataclass(frozen=True)
class Tags:
    title: str
    month: str
    sender: str
    language: str


@dataclass(frozen=True)
class NormalizeResult:
    input: Loudness
    output: Loudness
    gain_db: float
    limited: bool
    duration_s: float  # after trimming
    trimmed_start_s: float
    trimmed_end_s: float


def normalize(src: Path, dst: Path, settings: AudioSettings, tags: Tags,
              max_seconds: float | None = None, work_dir: Path | None = None) -> NormalizeResult:
    """Make `dst`: station format, `target_lufs`, true peak under the ceiling; verified.

    Raises AudioError with a code for ingest to explain (empty, undecodable, no_audio,
    truncated, silent, too_short, too_long, verify_failed).
    """
    info = probe(src)
    cut = wav_shortfall(src)
    if cut is not None:
        raise AudioError("truncated", f"the WAV header announces {cut[0]} bytes of audio, "
                         f"the file holds {cut[1]}")
    sr, ch = settings.sample_rate, settings.channels
    work = work_dir or dst.parent
    work.mkdir(parents=True, exist_ok=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    raw = work / f".{dst.stem}.pcm"
    part = dst.with_name(f".{dst.name}.part")
    try:
        measured, first, last = _spool_and_measure(src, raw, sr, ch)
        if measured.duration_s == 0:
            raise AudioError("undecodable", "no audio could be decoded")
        if info.duration_s and measured.duration_s < 0.9 * info.duration_s - 1.0:
            raise AudioError("truncated", f"decoded {measured.duration_s:.1f} s of "
                             f"{info.duration_s:.1f} s the file announces")
        if measured.silent:
            raise AudioError("silent", f"integrated loudness {measured.integrated_lufs:.1f} LUFS")
        start, end = _trim_bounds(first, last, measured.duration_s)
        duration = end - start
        if duration < settings.min_seconds:
            raise AudioError("too_short", f"{duration:.1f} s")
        if max_seconds is not None and duration > max_seconds:
            raise AudioError("too_long", f"{duration / 60:.1f} min > {max_seconds / 60:.0f} min")
        gain = settings.target_lufs - measured.integrated_lufs
        limited = measured.true_peak_dbtp + gain > settings.true_peak_dbtp - 0.5
        output = _encode_and_measure(raw, part, settings, gain, limited, start, end, tags)
        prev: tuple[float, float] | None = None
        for _ in range(MAX_EXTRA_PASSES):
            # the limiter shaved loudness off the peaks: raise the gain by what was lost,
            # scaled by how much the output moved per dB last time (secant step)
            shortfall = settings.target_lufs - output.integrated_lufs
            if not limited or abs(shortfall) <= 0.3:
                break
            slope = 1.0
            if prev is not None and abs(output.integrated_lufs - prev[1]) > 0.05:
                slope = (output.integrated_lufs - prev[1]) / (gain - prev[0])
            prev = (gain, output.integrated_lufs)
            gain += shortfall / min(max(slope, 0.2), 1.0)
            output = _encode_and_measure(raw, part, settings, gain, limited, start, end, tags)
        problems = []
        if abs(output.integrated_lufs - settings.target_lufs) > 1.0:
            problems.append(f"loudness {output.integrated_lufs:.1f} LUFS "
                            f"(target {settings.target_lufs:.1f})")
        if output.true_peak_dbtp > settings.true_peak_dbtp + 0.5:
            problems.append(f"true peak {output.true_peak_dbtp:.1f} dBTP "
                            f"(ceiling {settings.true_peak_dbtp:.1f})")
        if abs(output.duration_s - duration) > 0.5:
            problems.append(f"duration {output.duration_s:.1f} s (expected {duration:.1f} s)")
        if problems:
            raise AudioError("verify_failed", "; ".join(problems))
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dst)
        return NormalizeResult(measured, output, gain, limited, output.duration_s, start,
                               measured.duration_s - end)
    finally:
        raw.unlink(missing_ok=True)
        part.unlink(missing_ok=True)


def _spool_and_measure(src: Path, raw: Path, sr: int,
                       ch: int) -> tuple[Loudness, float | None, float | None]:
    """One decode: write station-format PCM to `raw`, measure it, find non-silent bounds.

    The meter runs on its own thread, beside the reading and writing, so this pass takes
    about as long as ffmpeg's decode alone."""
    meter = LoudnessMeter(sr, ch)
    chunks: queue.Queue[FloatArray | None] = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def measure() -> None:
        while (chunk := chunks.get()) is not None:
            if not failure:
                try:
                    meter.feed(chunk)
                except BaseException as exc:  # re-raised by the caller
                    failure.append(exc)

    worker = threading.Thread(target=measure, name="radiocast-meter", daemon=True)
    worker.start()
    first: float | None = None
    last: float | None = None
    pos = 0
    try:
        with open(raw, "wb") as out:
            for chunk in decode_chunks(src, sr, ch):
                chunks.put(chunk)
                out.write(chunk.tobytes())
                loud = np.flatnonzero(np.max(np.abs(chunk), axis=1) > DIGITAL_SILENCE)
                if loud.size:
                    if first is None:
                        first = (pos + int(loud[0])) / sr
                    last = (pos + int(loud[-1]) + 1) / sr
                pos += chunk.shape[0]
    finally:
        chunks.put(None)
        worker.join()
    if failure:
        raise failure[0]
    return meter.result(), first, last


def _trim_bounds(first: float | None, last: float | None, total: float) -> tuple[float, float]:
    start = 0.0
    end = total
    if first is not None and first > TRIM_MIN_S:
        start = first - KEEP_SILENCE_S
    if last is not None and total - last > TRIM_MIN_S:
        end = last + KEEP_SILENCE_S
    return start, end


def _encode_and_measure(raw: Path, out: Path, settings: AudioSettings, gain_db: float,
                        limit: bool, start: float, end: float, tags: Tags) -> Loudness:
    """Encode `raw` to `out` while a second ffmpeg decodes the MP3 stream as it is written
    and the meter measures it: verification costs no extra pass over the file."""
    sr, ch = settings.sample_rate, settings.channels
    filters = [f"atrim=start_sample={round(start * sr)}:end_sample={round(end * sr)}",
               f"volume={gain_db:.3f}dB"]
    if limit:
        # sample-peak ceiling 1 dB under the true-peak ceiling leaves room for inter-sample
        # overs and the MP3 encoder; look-ahead, delay-compensated, no auto make-up gain
        ceiling = 10 ** ((settings.true_peak_dbtp - 1.0) / 20)
        filters.append(f"alimiter=limit={ceiling:.5f}:attack=5:release=80:level=false"
                       ":latency=true")
    ff = find_ffmpeg()
    enc_cmd = [ff, "-hide_banner", "-nostdin", "-v", "error",
               "-f", "f32le", "-ar", str(sr), "-ac", str(ch), "-i", str(raw),
               "-af", ",".join(filters), "-c:a", "libmp3lame", "-b:a", settings.bitrate,
               "-ar", str(sr), "-ac", str(ch), "-id3v2_version", "3",
               "-metadata", f"title={tags.title}", "-metadata", f"album={tags.month}",
               "-metadata", f"artist={tags.sender}", "-metadata", f"language={tags.language}",
               "-metadata", f"date={tags.month[:4]}", "-f", "mp3", "pipe:1"]
    dec_cmd = [ff, "-hide_banner", "-v", "error", "-f", "mp3", "-i", "pipe:0",
               "-ac", str(ch), "-ar", str(sr), "-f", "f32le", "pipe:1"]
    enc = subprocess.Popen(enc_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dec = subprocess.Popen(dec_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert enc.stdout and enc.stderr and dec.stdin and dec.stdout
    tee_error: list[BaseException] = []

    def tee() -> None:
        assert enc.stdout and dec.stdin
        try:
            with open(out, "wb") as fh:
                while block := enc.stdout.read(1 << 16):
                    fh.write(block)
                    dec.stdin.write(block)
        except BaseException as exc:  # reported by the caller after join
            tee_error.append(exc)
            enc.kill()  # nobody reads its output any more: never leave it blocked
        finally:
            with contextlib.suppress(OSError):
                dec.stdin.close()

    thread = threading.Thread(target=tee, name="radiocast-encode-tee", daemon=True)
    thread.start()
    meter = LoudnessMeter(sr, ch)
    frame = 4 * ch
    pending = b""
    while block := dec.stdout.read(sr * frame):
        pending += block
        usable = len(pending) - len(pending) % frame
        meter.feed(np.frombuffer(pending[:usable], dtype="<f4").reshape(-1, ch))
        pending = pending[usable:]
    thread.join()
    enc_err = enc.stderr.read().decode("utf-8", "replace")
    enc.stderr.close()
    enc.stdout.close()
    dec.stdout.close()
    if enc.wait() != 0:
        raise AudioError("encode_failed", _last_line(enc_err))
    dec_err = dec.stderr.read().decode("utf-8", "replace") if dec.stderr else ""
    if dec.wait() != 0 or tee_error:
        raise AudioError("verify_failed", "the encoded file could not be decoded again: "
                         + (_last_line(dec_err) if dec_err else repr(tee_error)))
    return meter.result()


# ---------------------------------------------------------------- sample building (pydub)


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
