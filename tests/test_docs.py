"""The documentation: the site builds with warnings as errors, and every command it shows runs somewhere.

Every fenced code block of ``README.md`` and ``docs/**/*.md`` is read:

* a shell command (``bash``, ``sh``, ``shell``, ``console``) must be cheap enough to run here (``--help``,
  ``--list``, ``--version``; run below), be exercised by another test (``ELSEWHERE``), be the site build
  (run below), or be marked as a long run with a ``# long run`` comment on its line or on the first line
  of its block;
* a ``python`` block runs when the line above it is ``<!-- docs-test: run -->``, or
  ``<!-- docs-test: run, given pool, test, features -->`` for an example that continues from a
  featurized table (a small synthetic one is supplied); a block whose first line is ``# long run ...`` is
  not run, and the README's first example under "Use it from Python" is run by ``tests/test_api.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import runpy
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lessdata import config
from lessdata.cli import console

ROOT = config.REPO_ROOT
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
LONG_RUN = re.compile(r"#\s*long runs?\b", re.IGNORECASE)
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<what>.*?)\s*-->$")
CHEAP_FLAGS = (["--help"], ["--list"], ["--version"])
#: Commands the documentation shows that other tests exercise: pattern -> (file, text proving it).
ELSEWHERE = {
    r"bash run_tests\.bash( .*)?": ("run_tests.bash", "python -m pytest"),
    r"python codes/featurize\.py --input \S+ --name \S+ --id-col \S+ --formula-col \S+ --targets \S+":
        ("tests/test_installed.py", '"featurize", "--input"'),
    r"python codes/make_figures\.py --results \S+ --out \S+":
        ("tests/test_figures.py", 'make_figures_main, ["--results"'),
}
#: The featurized table the "given pool, test, features" examples continue from (synthetic, tiny).
GIVEN_TABLE = """\
import pandas as pd
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split

X, y = make_regression(n_samples=800, n_features=12, noise=5.0, random_state=0)
table = pd.DataFrame(X, columns=[f"feature_{i}" for i in range(X.shape[1])])
table.insert(0, "id", [f"entry-{i:04d}" for i in range(len(table))])
table["e_form"] = y / 100.0
features = [column for column in table.columns if column not in ("id", "e_form")]
pool, test = train_test_split(table, test_size=0.1, random_state=0)
import lessdata
"""


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its lines and the marker comment above it."""

    path: Path
    line: int
    language: str
    lines: tuple[str, ...]
    marker: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file."""
    blocks, lines = [], path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = re.match(r"^(```+|~~~+)\s*([\w+-]*)", lines[index])
        if not opening:
            index += 1
            continue
        fence, language, start = opening.group(1), opening.group(2).lower(), index
        index += 1
        while index < len(lines) and not lines[index].startswith(fence):
            index += 1
        above = next((text.strip() for text in reversed(lines[:start]) if text.strip()), "")
        marker = MARKER.match(above)
        blocks.append(Block(path, start + 1, language, tuple(lines[start + 1:index]),
                            marker.group("what") if marker else None))
        index += 1
    return blocks


def split_comment(line: str) -> tuple[str, str]:
    """``line`` as (code, comment): a ``#`` after whitespace and outside quotes starts the comment."""
    quote = None
    for position, character in enumerate(line):
        if quote:
            quote = None if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character == "#" and (position == 0 or line[position - 1].isspace()):
            return line[:position].rstrip(), line[position:]
    return line.rstrip(), ""


def shell_commands(block: Block) -> list[tuple[str, bool]]:
    """The block's commands (continuation lines joined, comments removed), each with "marked long run"."""
    content = [line for line in block.lines if line.strip()]
    block_long = bool(content) and content[0].lstrip().startswith("#") and bool(LONG_RUN.search(content[0]))
    commands, code, comments = [], "", ""
    for raw in block.lines:
        text, comment = split_comment(raw.removeprefix("$ ") if block.language == "console" else raw)
        comments += comment
        if text.endswith("\\"):
            code += text[:-1].strip() + " "
            continue
        code += text.strip()
        if code:
            commands.append((" ".join(code.split()), block_long or bool(LONG_RUN.search(comments))))
        code, comments = "", ""
    return commands


def all_blocks() -> list[Block]:
    return [block for path in PAGES for block in code_blocks(path)]


def all_shell_commands() -> list[tuple[Block, str, bool]]:
    return [(block, command, long) for block in all_blocks() if block.language in SHELL_LANGUAGES
            for command, long in shell_commands(block)]


def is_cheap(command: str) -> bool:
    """A ``--help``/``--list``/``--version`` call of a script, a wrapper or the ``lessdata`` command."""
    words = shlex.split(command)
    if words[0] in ("python", ".venv/bin/python") and len(words) > 1 and words[1].endswith(".py"):
        return words[2:] in CHEAP_FLAGS
    if words[0] == "bash" and len(words) > 1 and words[1].endswith(".bash"):
        return words[2:] == ["--help"]
    if words[0] == "lessdata":
        return words[1:] in CHEAP_FLAGS or (len(words) == 3 and words[2] == "--help")
    return False


def is_site_build(command: str) -> bool:
    words = shlex.split(command)
    return words[0] in ("mkdocs", ".venv/bin/mkdocs") and words[1:] == ["build", "--strict"]


def exercised_elsewhere(command: str) -> str | None:
    return next((pattern for pattern in ELSEWHERE if re.fullmatch(pattern, command)), None)


# --------------------------------------------------------------------------------------------------
# The site.
# --------------------------------------------------------------------------------------------------
def test_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs is not installed (the dev extra: pip install -e '.[dev]')")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "WARNING" not in output, output[-4000:]
    assert (tmp_path / "reference" / "api" / "index.html").is_file()
    api = (tmp_path / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "active_learning" in api and "<blockquote>" not in api  # examples render as code, not quotes
    assert (tmp_path / "repo" / "results" / "REPORT.md").is_file()  # linked reports travel with the site


def test_readme_is_a_front_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        assert (ROOT / target.split("#")[0]).exists(), f"README.md links to a missing file: {target}"


def test_every_block_names_its_language() -> None:
    unnamed = [block.where for block in all_blocks() if not block.language]
    assert not unnamed, f"fenced blocks without a language (use text for non-code): {unnamed}"


# --------------------------------------------------------------------------------------------------
# Shell commands.
# --------------------------------------------------------------------------------------------------
def test_every_shell_command_runs_in_a_test_or_is_marked_long() -> None:
    unaccounted = [f"{block.where}: {command}" for block, command, long in all_shell_commands()
                   if not (long or is_cheap(command) or is_site_build(command)
                           or exercised_elsewhere(command))]
    assert not unaccounted, ("commands that neither run in a test nor say '# long run':\n"
                             + "\n".join(unaccounted))


def test_commands_said_to_run_elsewhere_do() -> None:
    used = {exercised_elsewhere(command) for _, command, _ in all_shell_commands()} - {None}
    assert used, "no command is exercised elsewhere: is ELSEWHERE still needed?"
    for pattern in used:
        file, needle = ELSEWHERE[pattern]
        assert needle in (ROOT / file).read_text(encoding="utf-8"), f"{file} no longer runs {pattern!r}"


CHEAP_COMMANDS = sorted({command for _, command, long in all_shell_commands() if is_cheap(command)})


@pytest.mark.parametrize("command", CHEAP_COMMANDS)
def test_cheap_command_runs(command: str, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    words = shlex.split(command)
    monkeypatch.chdir(ROOT)
    if words[0] == "bash":  # the wrappers' --help never installs anything
        done = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip(), done.stderr[-2000:]
        return
    if words[0] == "lessdata":
        status = _exit_status(lambda: console.main(words[1:]))
    else:  # python SCRIPT FLAG, run in this process as `python` would run it
        monkeypatch.setattr(sys, "argv", words[1:])
        status = _exit_status(lambda: runpy.run_path(str(ROOT / words[1]), run_name="__main__"))
    assert status == 0, capsys.readouterr().err[-2000:]
    assert capsys.readouterr().out.strip()


def _exit_status(call) -> int:
    try:
        result = call()
    except SystemExit as stopped:
        return 0 if stopped.code is None else int(stopped.code)
    return result if isinstance(result, int) else 0


# --------------------------------------------------------------------------------------------------
# Python examples.
# --------------------------------------------------------------------------------------------------
def _runnable(block: Block) -> bool:
    return block.marker is not None and block.marker.startswith("run")


def _first_readme_example() -> Block:
    """The README's first Python block under "Use it from Python" (tests/test_api.py runs it)."""
    text = README.read_text(encoding="utf-8").splitlines()
    section = text.index("## Use it from Python") + 1
    return next(block for block in code_blocks(README) if block.language == "python" and block.line > section)


def test_every_python_block_runs_somewhere() -> None:
    first = _first_readme_example()
    assert "readme_python_block" in (ROOT / "tests" / "test_api.py").read_text(encoding="utf-8")
    unaccounted = [block.where for block in all_blocks() if block.language == "python"
                   and not _runnable(block) and block != first
                   and not (block.lines and LONG_RUN.match(block.lines[0].strip()))]
    assert not unaccounted, f"python blocks neither marked runnable nor '# long run': {unaccounted}"


EXAMPLE_PAGES = sorted({block.path for block in all_blocks()
                        if block.language == "python" and _runnable(block)})


@pytest.mark.parametrize("page", EXAMPLE_PAGES, ids=[str(page.relative_to(ROOT)) for page in EXAMPLE_PAGES])
def test_python_examples_run(page: Path, tmp_path: Path) -> None:
    """A page's runnable blocks, in order, in one fresh interpreter (a registered strategy stays there)."""
    blocks = [block for block in code_blocks(page) if block.language == "python" and _runnable(block)]
    for block in blocks:
        assert block.marker in ("run", "run, given pool, test, features"), f"{block.where}: {block.marker!r}"
    given = any(block.marker.endswith("given pool, test, features") for block in blocks)
    sources = [(block.where, "\n".join(block.lines)) for block in blocks]
    runner = ("import json, sys\nnamespace = {'__name__': '__main__'}\n"
              f"exec({GIVEN_TABLE if given else ''!r}, namespace)\n"
              "for where, source in json.loads(sys.stdin.read()):\n"
              "    exec(compile(source, where, 'exec'), namespace)\n")
    # One OpenMP thread: XGBoost's default (every core) crawls when the test run keeps the cores busy.
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", runner], input=json.dumps(sources), cwd=tmp_path,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
