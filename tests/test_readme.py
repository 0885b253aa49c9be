"""Every ```python block of README.md runs, as a user would paste it into a fresh interpreter.

Each block runs in its own subprocess, in a scratch folder laid out like a checkout: the
`../shared/data/routerbench_subset/prompts_scores.jsonl.gz` the README names is a small
synthetic file there. Nothing reaches the internet.

A block's marker, an HTML comment on the line before it (invisible on GitHub), says how it runs:

- none: as written (it must need no network and no key);
- `<!-- readme-test: loopback ... -->`: it calls a model, so every endpoint it names is pointed
  at a real OpenAI-compatible server on 127.0.0.1 (`tests/openai_server.py`): the API-key
  variables hold a dummy key, `OPENAI_BASE_URL` / `OPENAI_API_BASE` name the server, and the
  calls that default to OpenRouter are given its URL (the substitutions are in `LOOPBACK`);
- `<!-- readme-test: needs-real-key ... -->`: it needs a real provider key, so it is skipped,
  with the reason shown in the test report (`pytest -rs`).

The CLI synopsis is checked too: every option it lists exists.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "core"))  # the synthetic-data helpers
from synthetic import make_rows, write_jsonl

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*([\w-]+)")
DUMMY_KEY = "sk-readme-test-not-a-real-key"


@dataclass(frozen=True)
class Block:
    """One ```python block: where it is, what precedes it, and its code."""

    line: int
    section: str
    mode: str  # "offline", "loopback" or "needs-real-key"
    code: str

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")
        return f"line{self.line}-{slug}"


def readme_blocks(text: str) -> list[Block]:
    """The README's ```python blocks, each with its section heading and its marker."""
    blocks: list[Block] = []
    lines = text.splitlines()
    section, i = "top", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.strip() == "```python":
            j = next(k for k in range(i + 1, len(lines)) if lines[k].strip() == "```")
            before = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
            marker = MARKER.search(before)
            blocks.append(Block(i + 1, section, marker[1] if marker else "offline", "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))

# How a loopback block is pointed at the test server ({url} is its base URL): the calls whose
# default is OpenRouter are given the server's URL; OpenAI clients read OPENAI_BASE_URL.
LOOPBACK = {
    "autorouter.Router.default()": (
        "autorouter.Router.default().set_endpoints(default=autorouter.Endpoint(base_url={url!r}))"
    ),
    "ChatAutoRouter.from_openrouter()": "ChatAutoRouter.from_openrouter(base_url={url!r})",
    "AutoRouterLLM.from_openrouter()": "AutoRouterLLM.from_openrouter(api_base={url!r})",
}


def test_the_readme_has_the_blocks_this_test_expects():
    """A guard against a parser that silently finds nothing, and against unknown markers."""
    assert len(BLOCKS) >= 5
    assert {b.mode for b in BLOCKS} <= {"offline", "loopback", "needs-real-key"}
    for b in BLOCKS:
        if b.mode == "loopback":
            assert any(pattern in b.code for pattern in LOOPBACK) or "ChatOpenAI(" in b.code, b.id


def test_markers_are_read_from_the_line_before_a_block():
    text = "\n".join([
        "## One", "```python", "a = 1", "```",
        "## Two", "<!-- readme-test: needs-real-key (calls a paid API) -->", "", "```python", "b = 2", "```",
        "<!-- readme-test: loopback -->", "```python", "c = 3", "```", "```bash", "echo no", "```",
    ])
    assert [(b.section, b.mode, b.code) for b in readme_blocks(text)] == [
        ("One", "offline", "a = 1"), ("Two", "needs-real-key", "b = 2"), ("Two", "loopback", "c = 3"),
    ]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A scratch folder where the README's relative data path leads to synthetic routing data."""
    data = tmp_path / "shared" / "data" / "routerbench_subset"
    data.mkdir(parents=True)
    write_jsonl(make_rows(240, seed=1), data / "prompts_scores.jsonl.gz")
    project = tmp_path / "autorouter"
    project.mkdir()
    return project


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_readme_block_runs(block: Block, checkout: Path, request: pytest.FixtureRequest) -> None:
    if block.mode == "needs-real-key":
        pytest.skip(f"README block at line {block.line} ({block.section}) needs a real provider API key")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("OPENAI_")}
    code = block.code
    server = None
    if block.mode == "loopback":
        server = request.getfixturevalue("openai_server")
        url = server.base_url
        for pattern, replacement in LOOPBACK.items():
            code = code.replace(pattern, replacement.format(url=url))
        env.update({"OPENROUTER_API_KEY": DUMMY_KEY, "OPENAI_API_KEY": DUMMY_KEY,
                    "OPENAI_BASE_URL": url, "OPENAI_API_BASE": url})
    out = subprocess.run([sys.executable, "-c", code], cwd=checkout, env=env, capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, f"README block at line {block.line} ({block.section}) failed:\n{out.stderr[-3000:]}"
    if server is not None:  # it did call a model, and only the local server
        assert server.requests, f"README block at line {block.line} was marked loopback but called no model"


def test_the_cli_synopsis_lists_only_options_that_exist():
    from typer.testing import CliRunner

    from autorouter.cli import app

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line"):]
    synopsis = section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]
    commands: dict[str, set[str]] = {}
    command = ""
    for line in synopsis.splitlines():
        if line.startswith("autorouter "):
            command = line.split()[1]
        commands.setdefault(command, set()).update(re.findall(r"--[a-z][a-z0-9-]*", line))
    assert set(commands) - {""} == {"train", "route", "eval", "chat", "serve"}
    runner = CliRunner()
    for command, options in commands.items():
        if not command:
            continue
        res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        missing = sorted(o for o in options if o not in res.output)
        assert not missing, f"README lists {missing} for `autorouter {command}`, which has no such option"
