"""Normalize a programme: one decode (measured on its own thread, spooled as station-format
PCM); where peaks need a limiter, the gain that makes up for it is found on PCM (`gain`); then
one MP3 encode, fed by a separate filter process (trim, gain, limiter) so the two run on two
cores, while a third ffmpeg decodes the MP3 as it is written and the meter verifies it (done
again, at most twice, when the codec's own loss leaves it more than 0.3 LU off the target).
Memory stays flat with programme length: ffmpeg decodes to pipes and the meter works on
fixed-size chunks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radiocast.audio.ffmpeg import (
    Probe,
    decode_chunks,
    find_ffmpeg,
    last_line,
    probe,
    wav_shortfall,
    widen_pipe,
)
from radiocast.audio.gain import find_gain, limiter_filters
from radiocast.audio.meter import FloatArray, Loudness, LoudnessMeter, feed_stream
from radiocast.config.settings import AudioSettings
from radiocast.core.errors import AudioError

log = logging.getLogger(__name__)
DIGITAL_SILENCE = 10 ** (-80 / 20)  # below -80 dBFS counts as digital silence
KEEP_SILENCE_S = 0.25  # pad left at each end after trimming long silence
TRIM_MIN_S = 1.0
RETARGET_LU = 0.3  # an encode this far off the target is done again, corrected…
MAX_ENCODES = 3  # …at most this many encodes in all


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
    info = _check_source(src)
    work = work_dir or dst.parent
    work.mkdir(parents=True, exist_ok=True)
    dst.parent.mkdir(parents=True, exist_ok=True)
    raw = work / f".{dst.stem}.pcm"
    part = dst.with_name(f".{dst.name}.part")
    try:
        measured, first, last = _spool_and_measure(
            src, raw, settings.sample_rate, settings.channels,
            encoder_band(settings.bitrate, settings.sample_rate))
        start, end = _usable_span(measured, info, first, last, settings, max_seconds)
        gain, limited, output = _encode_to_target(raw, part, settings, measured, (start, end),
                                                  tags)
        _verify(output, settings, end - start)
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, dst)
        return NormalizeResult(measured, output, gain, limited, output.duration_s, start,
                               measured.duration_s - end)
    finally:
        raw.unlink(missing_ok=True)
        part.unlink(missing_ok=True)


def _check_source(src: Path) -> Probe:
    info = probe(src)
    cut = wav_shortfall(src)
    if cut is not None:
        raise AudioError("truncated", f"the WAV header announces {cut[0]} bytes of audio, "
                         f"the file holds {cut[1]}")
    return info


def _usable_span(measured: Loudness, info: Probe, first: float | None, last: float | None,
                 settings: AudioSettings, max_seconds: float | None) -> tuple[float, float]:
    """The part of the source to keep (long silence trimmed), or why there is none."""
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
    return start, end


def _encode_to_target(raw: Path, part: Path, settings: AudioSettings, measured: Loudness,
                      span: tuple[float, float], tags: Tags) -> tuple[float, bool, Loudness]:
    """Choose the gain (on PCM, when the limiter will cost loudness) and encode once.
    Returns (gain, limited, measured output)."""
    gain = settings.target_lufs - measured.integrated_lufs
    limited = measured.true_peak_dbtp + gain > settings.true_peak_dbtp - 0.5
    slope = 1.0
    if limited:
        sr = settings.sample_rate
        search = find_gain(raw, (round(span[0] * sr), round(span[1] * sr)), settings,
                           measured.integrated_lufs)
        log.debug("limiter search: gain %+.2f dB, limiter loss %.2f LU, %d sample and %d "
                  "whole-programme passes", search.gain_db, search.loss_lu,
                  search.sample_passes, search.whole_passes)
        gain, slope = search.gain_db, search.slope
    return _encode_on_target(raw, part, settings, measured, span, tags, gain, limited, slope)


def _encode_on_target(raw: Path, part: Path, settings: AudioSettings, measured: Loudness,
                      span: tuple[float, float], tags: Tags, gain: float, limited: bool,
                      slope: float) -> tuple[float, bool, Loudness]:
    """Encode; an encode that measures more than RETARGET_LU off the target is done again
    with the miss made up (the codec takes loudness of its own: a 64 kb/s MP3 drops highs
    that K-weighting counts, and not even in step with the level: raising a noisy programme
    0.4 dB can leave it quieter after the codec), at most MAX_ENCODES times, each step the
    miss over the limiter's slope. The encode nearest the target is kept."""
    tries: list[tuple[float, bool, Loudness, Path]] = []
    try:
        while True:
            out = part if not tries else part.with_name(f"{part.name}.{len(tries)}")
            output = _encode_and_measure(raw, out, settings, gain, limited, span, tags)
            tries.append((gain, limited, output, out))
            miss = settings.target_lufs - output.integrated_lufs
            if abs(miss) <= RETARGET_LU or len(tries) >= MAX_ENCODES:
                break
            gain += miss / slope
            limited = limited or measured.true_peak_dbtp + gain > settings.true_peak_dbtp - 0.5
            log.info("the encoded programme measured %.2f LU off the target; encoding again "
                     "at %+.2f dB", -miss, gain)
        best = min(tries, key=lambda x: abs(settings.target_lufs - x[2].integrated_lufs))
        if best[3] != part:
            os.replace(best[3], part)
        return best[0], best[1], best[2]
    finally:
        for *_, path in tries:
            if path != part:
                path.unlink(missing_ok=True)


def _verify(output: Loudness, settings: AudioSettings, duration: float) -> None:
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


# The band an MP3 at each bitrate carries (LAME's own table for constant bit rates, kb/s →
# Hz). Above it the encoder starves: what it keeps of a noisy programme's highs, which
# K-weighting counts, changes with the level, so the loudness stopped following the gain (a
# 5-minute programme 0.5 dB louder came out 0.3 LU quieter at 64 kb/s). Cut there before
# measuring, the file is what the station would have heard anyway, and measures 1:1.
ENCODER_BAND = ((32, 5500), (40, 7000), (48, 7500), (56, 10000), (64, 11000), (80, 13500),
                (96, 15100), (112, 15600), (128, 17000), (160, 17500), (192, 18600),
                (224, 19400), (256, 19700), (320, 20500))


def encoder_band(bitrate: str, sample_rate: int) -> int:
    """The low-pass frequency for an MP3 at `bitrate` ("64k"), under `sample_rate`'s band."""
    kbps = int(bitrate.rstrip("kK"))
    band = next((hz for rate, hz in ENCODER_BAND if kbps <= rate), ENCODER_BAND[-1][1])
    return min(band, int(sample_rate * 0.45))


def _spool_and_measure(src: Path, raw: Path, sr: int, ch: int,
                       band: int | None = None) -> tuple[Loudness, float | None, float | None]:
    """One decode: write station-format PCM to `raw` (cut to the encoder's `band`), measure
    it, find non-silent bounds.

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
            lowpass = ("-af", f"lowpass=f={band}:poles=2") if band else ()
            for chunk in decode_chunks(src, sr, ch, lowpass):
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



def _filter_command(raw: Path, settings: AudioSettings, gain_db: float, limit: bool,
                    span: tuple[float, float]) -> list[str]:
    """Trim, gain and limiter on PCM: its own process, so it runs beside the encoder."""
    sr, ch = settings.sample_rate, settings.channels
    trim = f"atrim=start_sample={round(span[0] * sr)}:end_sample={round(span[1] * sr)}"
    return [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error",
            "-f", "f32le", "-ar", str(sr), "-ac", str(ch), "-i", str(raw),
            "-af", ",".join([trim, *limiter_filters(settings, gain_db, limit)]),
            "-f", "f32le", "pipe:1"]


def _encoder_command(settings: AudioSettings, tags: Tags) -> list[str]:
    sr, ch = settings.sample_rate, settings.channels
    return [find_ffmpeg(), "-hide_banner", "-nostdin", "-v", "error",
            "-f", "f32le", "-ar", str(sr), "-ac", str(ch), "-i", "pipe:0",
            "-c:a", "libmp3lame", "-b:a", settings.bitrate,
            "-ar", str(sr), "-ac", str(ch), "-id3v2_version", "3",
            "-metadata", f"title={tags.title}", "-metadata", f"album={tags.month}",
            "-metadata", f"artist={tags.sender}", "-metadata", f"language={tags.language}",
            "-metadata", f"date={tags.month[:4]}", "-f", "mp3", "pipe:1"]


def _tee(enc: subprocess.Popen[bytes], dec: subprocess.Popen[bytes], out: Path,
         errors: list[BaseException]) -> None:
    """Copy the encoder's MP3 into `out` and into the verifying decoder."""
    assert enc.stdout and dec.stdin
    try:
        with open(out, "wb") as fh:
            while block := enc.stdout.read(1 << 16):
                fh.write(block)
                dec.stdin.write(block)
    except BaseException as exc:  # reported by the caller after join
        errors.append(exc)
        enc.kill()  # nobody reads its output any more: never leave it blocked
    finally:
        with contextlib.suppress(OSError):
            dec.stdin.close()


def _encode_and_measure(raw: Path, out: Path, settings: AudioSettings, gain_db: float,
                        limit: bool, span: tuple[float, float], tags: Tags) -> Loudness:
    """The one encode: filters | encoder, while a second ffmpeg decodes the MP3 stream as it
    is written and the meter measures it: verification costs no extra pass over the file."""
    sr, ch = settings.sample_rate, settings.channels
    dec_cmd = [find_ffmpeg(), "-hide_banner", "-v", "error", "-f", "mp3", "-i", "pipe:0",
               "-ac", str(ch), "-ar", str(sr), "-f", "f32le", "pipe:1"]
    with tempfile.TemporaryFile() as filter_err:
        filt = subprocess.Popen(_filter_command(raw, settings, gain_db, limit, span),
                                stdout=subprocess.PIPE, stderr=filter_err)
        assert filt.stdout is not None
        widen_pipe(filt.stdout)
        with filt.stdout:
            enc = subprocess.Popen(_encoder_command(settings, tags), stdin=filt.stdout,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        result, enc_err, dec_err, tee_error = _tee_and_verify(enc, dec_cmd, out, sr, ch)
        if enc.wait() != 0:
            raise AudioError("encode_failed", last_line(enc_err))
        if filt.wait() != 0:
            filter_err.seek(0)
            raise AudioError("encode_failed",
                             last_line(filter_err.read().decode("utf-8", "replace")))
    if dec_err is not None or tee_error:
        raise AudioError("verify_failed", "the encoded file could not be decoded again: "
                         + (last_line(dec_err) if dec_err else repr(tee_error)))
    return result


def _tee_and_verify(enc: subprocess.Popen[bytes], dec_cmd: list[str], out: Path, sr: int,
                    ch: int) -> tuple[Loudness, str, str | None, list[BaseException]]:
    """Copy the encoder's MP3 into `out` and the verifying decoder; meter what it decodes.
    Returns (loudness, encoder's stderr, decoder's stderr if it failed, tee errors)."""
    dec = subprocess.Popen(dec_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert enc.stdout and enc.stderr and dec.stdout and dec.stderr
    widen_pipe(dec.stdout)
    tee_error: list[BaseException] = []
    thread = threading.Thread(target=_tee, args=(enc, dec, out, tee_error),
                              name="radiocast-encode-tee", daemon=True)
    thread.start()
    meter = LoudnessMeter(sr, ch)
    feed_stream(meter, dec.stdout)
    thread.join()
    enc_err = enc.stderr.read().decode("utf-8", "replace")
    enc.stderr.close()
    enc.stdout.close()
    dec.stdout.close()
    dec_err = dec.stderr.read().decode("utf-8", "replace")
    dec.stderr.close()
    return meter.result(), enc_err, (dec_err or "?") if dec.wait() != 0 else None, tee_error
