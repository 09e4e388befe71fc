"""The catalogue: both languages hold the same keys and fields, Vietnamese is NFC, every key
the code asks for exists, no user-facing sentence is built outside it, and `status` in one
language carries no word of the other."""

from __future__ import annotations

import ast
import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from radiocast.airing.planning import plan_all
from radiocast.app import App
from radiocast.core.i18n import LANGS, catalogue, t
from radiocast.db import ops
from radiocast.db.schema import Delivery
from radiocast.status.problems import FINDERS, build_status
from radiocast.status.screen import render_status

from .conftest import Clock, ready_programme

PACKAGE = Path(__file__).resolve().parent.parent / "radiocast"
# modules whose every sentence is read by people (logs, --help and config errors are not:
# docs/cli.md, "Languages")
USER_FACING = ["status/problems.py", "status/screen.py", "core/receipts.py",
               "report/build.py", "report/files.py", "report/words.py", "report/xlsx.py",
               "report/pdf.py", "cli/main.py", "cli/kit.py", "core/humane.py", "core/months.py",
               "demo/run.py", "setup.py", "cli/station.py", "agent/run.py", "cli/alerts.py",
               "alerting/notices.py", "alerting/send.py", "intake/watch.py"]
# (alerting/exporter.py: Prometheus HELP texts are English)


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_key_is_in_both_languages_with_the_same_fields() -> None:
    vi, en = catalogue("vi"), catalogue("en")
    assert set(vi) == set(en), set(vi) ^ set(en)
    assert len(vi) > 250
    for key in vi:
        assert _fields(vi[key]) == _fields(en[key]), key
        assert vi[key].strip() and en[key].strip(), key


def test_vietnamese_text_is_nfc_and_really_vietnamese() -> None:
    vi = catalogue("vi")
    for key, text in vi.items():
        assert unicodedata.normalize("NFC", text) == text, key
    # a catalogue that fell back to English would pass the key test: count the diacritics
    marked = sum(1 for text in vi.values() if re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏ"
                                                     r"ốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", text.lower()))
    assert marked > 0.8 * len(vi)


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    return (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_every_key_the_code_names_exists() -> None:
    keys = set(catalogue("vi"))
    asked = 0
    for path, tree in _sources():
        for call in _calls(tree):
            name = getattr(call.func, "id", getattr(call.func, "attr", ""))
            if name != "t" or not call.args:
                continue
            arg = call.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                assert arg.value in keys, f"{path.name}: {arg.value}"
                asked += 1
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                head = str(arg.values[0].value)  # f"problem.{code}.message": the prefix exists
                assert any(k.startswith(head) for k in keys), f"{path.name}: {head}"
    assert asked > 60


def test_every_problem_code_has_its_words() -> None:
    tree = ast.parse((PACKAGE / "status" / "problems.py").read_text(encoding="utf-8"))
    codes = {c.args[1].value for c in _calls(tree) if getattr(c.func, "attr", "") == "problem"
             and len(c.args) > 1 and isinstance(c.args[1], ast.Constant)}
    assert len(codes) >= len(FINDERS)
    for code in codes:
        for part in ("message", "action"):
            assert f"problem.{code}.{part}" in catalogue("vi"), code


SENTENCE = re.compile(r"[^\W\d_]{2,} [^\W\d_]{2,}")
NOT_UI = "# not-ui"  # on or above a statement holding data, not words (sample names, a
# configuration template)


def _skipped(tree: ast.Module, lines: list[str]) -> set[int]:
    """Nodes that are not shown to people: docstrings, log calls, click's --help texts,
    dictionary keys, subscripts, comparisons, command lines quoted in a message, and
    statements marked as data."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(
                node, ast.FunctionDef | ast.ClassDef | ast.With | ast.Try | ast.For | ast.If) \
                and NOT_UI in lines[node.lineno - 1] + lines[node.lineno - 2]:
            skip.update(id(n) for n in ast.walk(node))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call):
            func = node.func
            owner = getattr(func, "value", None)
            if getattr(owner, "id", "") in ("log", "logging") or getattr(func, "attr", "") in (
                    "option", "argument", "command", "group"):
                skip.update(id(n) for n in ast.walk(node))
            for kw in node.keywords:
                if kw.arg in ("help", "metavar", "command"):
                    skip.update(id(n) for n in ast.walk(kw.value))
        if isinstance(node, ast.Subscript | ast.Compare):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def test_no_sentence_is_built_outside_the_catalogue() -> None:
    found = []
    for rel in USER_FACING:
        path = PACKAGE / rel
        assert path.exists(), f"{rel} was moved: name its new place in USER_FACING"
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        skip = _skipped(tree, source.splitlines())
        codes = {k.split(".", 1)[1] for k in catalogue("vi")}  # "evidence.as-run file" etc.
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in skip and SENTENCE.search(node.value) \
                    and node.value not in codes:
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


EN_WORDS = ["problem", "since", "station", "delivered", "queued", "premiere", "replay",
            "programme", "airing", "ago", "error", "warning", "planned", "month", " the "]
VI_WORDS = ["Vấn đề", "Lịch phát", "trước", "đã lên lịch", "chờ gửi", "LỖI", "CẢNH BÁO",
            "Gửi tới", "Đài", "phát lần đầu", "phát lại", "tháng", "không", "từ "]


@pytest.fixture
def busy(make_app: Callable[..., App], tmp_path: Path) -> App:
    """A month with a programme, airings planned, one delivery failing for two hours, a
    station down and one nearly full."""
    stations = "".join(f'[[stations]]\nid = "{sid}"\nname = "{sid}"\nhost = "{sid}.invalid"\n'
                       for sid in ("na-meo", "tam-lu", "son-ha"))
    clock = Clock(datetime(2026, 11, 10, 1, 0, tzinfo=UTC))
    app = make_app(stations=stations, clock=clock)
    f = tmp_path / "p.mp3"
    f.write_bytes(b"\xff" * 5000)
    ready_programme(app, f, title="CDS-11")
    with app.db.write() as s:
        for d in s.scalars(select(Delivery)):
            if d.station_id == "na-meo":
                ops.mark_delivery_retry(s, d, clock.now - timedelta(hours=2), "ETIMEDOUT",
                                        clock.now)
            else:
                ops.mark_delivered(s, d, clock.now)
        ops.record_station_error(s, "tam-lu", clock.now - timedelta(hours=3), "ECONNREFUSED",
                                 True)
        ops.record_contact(s, "son-ha", clock.now, 50 * 1000 * 1000)
    plan_all(app)
    return app


@pytest.mark.parametrize("lang", LANGS)
def test_status_in_one_language_has_no_word_of_the_other(busy: App, lang: str) -> None:
    doc = build_status(busy, lang)
    text = render_status(doc, lang)
    codes = {p["code"] for p in doc["problems"]}
    assert {"delivery_failing", "station_unreachable", "low_disk"} <= codes, codes
    foreign = VI_WORDS if lang == "en" else EN_WORDS
    hits = [w for w in foreign if w.lower() in text.lower()]
    assert not hits, f"{hits}\n{text}"
    # ages, local times without seconds, sizes in MB: as people read them
    assert t("age.hours", lang, n=2) in text and t("value.mb", lang, n="50,0" if lang == "vi"
                                                   else "50.0") in text
    assert not re.search(r"\d\d:\d\d:\d\d|\+07:00|T\d\d:", text), text
