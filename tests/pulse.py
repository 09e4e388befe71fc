"""A real PulseAudio server for the proof-of-sound tests: `pulseaudio -n -F FILE` with a null
sink (the station's "sound card") and a unix socket of its own; players write to the sink and
the agent's capture reads `SINK.monitor`, as on a station."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SINK = "rc_out"


@contextlib.contextmanager
def pulse_server(root: Path) -> Iterator[str]:
    """Start a server under `root`; yields its PULSE_SERVER address (also set in os.environ
    while it runs, so players and ffmpeg started by the code under test find it)."""
    exe = shutil.which("pulseaudio")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("pulseaudio is missing: scripts/test installs it")
        pytest.skip("pulseaudio is not installed (scripts/test installs it)")
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "native"
    script = root / "default.pa"
    script.write_text(f"load-module module-native-protocol-unix socket={sock} "
                      "auth-anonymous=1\n"
                      f"load-module module-null-sink sink_name={SINK} rate=48000 channels=2\n"
                      f"set-default-sink {SINK}\n")
    env = {**os.environ, "HOME": str(root), "XDG_RUNTIME_DIR": str(root),
           "XDG_CONFIG_HOME": str(root / "config")}
    log = open(root / "pulseaudio.log", "wb")  # noqa: SIM115 - open for the server's life
    proc = subprocess.Popen([exe, "-n", "-F", str(script), "--daemonize=no",
                             "--exit-idle-time=-1", "--log-target=stderr"],
                            stdout=log, stderr=log, env=env)
    address = f"unix:{sock}"
    old = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = address
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True,
                             env={**os.environ, "HOME": str(root)}).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start: "
                                   + (root / "pulseaudio.log").read_text()[-800:])
            time.sleep(0.1)
        yield address
    finally:
        if old is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = old
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def player_to_sink() -> str:
    """A station player that writes the programme to the null sink, in real time, and waits
    for the sink to play what it buffered before it exits (paplay drains; ffmpeg's pulse
    output does not, so a short file would never be heard)."""
    return f"paplay -d {SINK} {{file}}"
