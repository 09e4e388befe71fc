"""Every CLI command and every configuration key is documented in docs/."""

from __future__ import annotations

from pathlib import Path

import click

from radiocast.cli.main import cli
from radiocast.config.approval import DOC_KEYS
from radiocast.config.publish import DOC_KEYS as PUBLISH_KEYS
from radiocast.config.settings import parse_settings
from radiocast.config.validate import Table

DOCS = Path(__file__).resolve().parents[1] / "docs"



def known_keys() -> set[str]:
    """Every configuration key, as "section.key" (parses full examples to learn them)."""
    parse_settings({"stations": [{"id": "x", "name": "x", "host": "x.invalid"}], "pull": {},
                    "alerts": [{"url": "json://x.invalid"}]}, Path("/"))
    parse_settings({"stations": [{"id": "x", "name": "x", "transfer": "pull",
                                  "playout": "agent"}]}, Path("/"))
    sections = {"radiocast", "ingest", "audio", "schedule", "delivery", "pull", "report",
                "stations", "alerts", "metrics", "heartbeat", "web"}
    return {k for k in Table.every_key if "." in k and k.split(".")[0] in sections} | set(
        DOC_KEYS) | set(PUBLISH_KEYS)

def _commands(group: click.Group, prefix: str = "radiocast") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        out.append((full, cmd))
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
    return out


def test_every_command_and_option_is_in_cli_md() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = _commands(cli)
    assert len(commands) >= 12
    for full, cmd in commands:
        assert f"`{full}" in text, f"{full} is not documented in docs/cli.md"
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt != "--help":
                    assert opt in text, f"{full} {opt} is not documented in docs/cli.md"


def test_every_config_key_is_in_configuration_md() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = known_keys()
    assert len(keys) >= 40
    for key in sorted(keys):
        assert f"`{key}`" in text, f"{key} is not documented in docs/configuration.md"


def test_global_options_are_documented() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for opt in ("--config", "--lang", "-v", "--json"):
        assert opt in text
