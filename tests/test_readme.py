"""Runs every example in README.md, so the README cannot drift from the code.

Conventions (from the project brief):

* each ``## `` section runs in its own fresh database with the store installed; the
  blocks of a section run in order and may build on each other;
* a ```sql block runs through psycopg in autocommit, the whole block at once; a block
  whose first line is ``-- fails with ESxxx`` must fail with that SQLSTATE;
* a ```python block runs as a script in a subprocess with ``PGEVENTSTORE_DSN`` set to
  the section's database and must exit 0;
* in a ```console block each line ``$ pgeventstore ...`` runs (bash, pipefail, stdin empty,
  ``PGEVENTSTORE_DSN`` set); a line ``# exits N`` after it (and after its output)
  asserts its exit code (default 0); other lines show output and are not compared;
* ```shell and every other kind of block are not run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
RUNNABLE = ("sql", "python", "console")
# Sections whose examples are part of their contract: each must keep at least one.
SECTIONS_WITH_EXAMPLES = ("Installing into a database", "The SQL API", "Errors")

FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$")
FAILS_WITH = re.compile(r"^--\s*fails with\s+([0-9A-Z]{5})\s*$")
EXITS = re.compile(r"^#\s*exits\s+(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its text and the README line it starts on."""

    language: str
    text: str
    line: int


@dataclasses.dataclass(frozen=True)
class Section:
    """A ``## `` section and its fenced blocks, in order."""

    title: str
    line: int
    blocks: tuple[Block, ...]

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.language in RUNNABLE]


@dataclasses.dataclass(frozen=True)
class Command:
    """One ``$ `` line of a console block and the exit code it must end with."""

    command: str
    exit_code: int
    line: int


def parse_sections(markdown: str) -> list[Section]:
    """Split ``markdown`` into ``## `` sections and their fenced blocks (CommonMark fences).

    A ``## `` line inside a fence is code, not a heading. Text before the first ``## ``
    heading is the section "(preamble)".
    """
    sections: list[Section] = []
    title, start, blocks = "(preamble)", 1, []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = FENCE_OPEN.match(line)
        if opening:
            indent, fence, info = len(opening.group(1)), opening.group(2), opening.group(3).lower()
            closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not closing.match(lines[j]):
                body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
                j += 1
            if j == len(lines):
                raise ValueError(f"README line {i + 1}: code fence {fence} is never closed")
            blocks.append(Block(info, "\n".join(body) + "\n", i + 1))
            i = j + 1
            continue
        if line.startswith("## "):
            sections.append(Section(title, start, tuple(blocks)))
            title, start, blocks = line[3:].strip(), i + 1, []
        i += 1
    sections.append(Section(title, start, tuple(blocks)))
    return sections


def parse_console(block: Block) -> list[Command]:
    """The commands of a console block; only ``$ pgeventstore`` lines may be commands."""
    commands: list[Command] = []
    exit_given = False
    for offset, line in enumerate(block.text.splitlines(), start=1):
        exits = EXITS.match(line.strip())
        if line.startswith("$ "):
            command = line[2:].strip()
            if not re.match(r"pgeventstore(\s|$)", command):
                raise ValueError(
                    f"README line {block.line + offset}: console blocks run only `$ pgeventstore ...` "
                    f"lines, got {command!r}; show other commands in a ```shell block"
                )
            commands.append(Command(command, 0, block.line + offset))
            exit_given = False
        elif exits:
            # It may follow the command's output lines, but belongs to one command only.
            if not commands or exit_given:
                raise ValueError(f"README line {block.line + offset}: `# exits N` must follow a `$ ` line")
            commands[-1] = dataclasses.replace(commands[-1], exit_code=int(exits.group(1)))
            exit_given = True
    return commands


def expected_failure(block: Block) -> str | None:
    """The SQLSTATE a sql block must fail with, from its first line, or None."""
    first = block.text.lstrip("\n").splitlines()[0] if block.text.strip() else ""
    match = FAILS_WITH.match(first.strip())
    return match.group(1) if match else None


def run_sql(dsn: str, block: Block) -> None:
    expected = expected_failure(block)
    where = f"README line {block.line}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(block.text)
        except psycopg.Error as error:
            if expected is None:
                raise AssertionError(f"{where}: the sql block failed: {error.sqlstate}: {error}") from error
            assert error.sqlstate == expected, (
                f"{where}: expected to fail with {expected}, failed with {error.sqlstate}: {error}"
            )
            return
    assert expected is None, f"{where}: the sql block should fail with {expected} but succeeded"


def example_env(dsn: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGEVENTSTORE_DSN")}
    env["PGEVENTSTORE_DSN"] = dsn
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_python(dsn: str, block: Block, workdir: Path) -> None:
    script = workdir / f"readme_line_{block.line}.py"
    script.write_text(block.text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=example_env(dsn),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"README line {block.line}: the python block exited {result.returncode}\n{output}"
    )


def run_console(dsn: str, block: Block, workdir: Path) -> None:
    for command in parse_console(block):
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.command],
            cwd=workdir,
            env=example_env(dsn),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert result.returncode == command.exit_code, (
            f"README line {command.line}: `{command.command}` exited {result.returncode}, "
            f"expected {command.exit_code}\n{result.stdout}{result.stderr}"
        )


def run_block(dsn: str, block: Block, workdir: Path) -> None:
    if block.language == "sql":
        run_sql(dsn, block)
    elif block.language == "python":
        run_python(dsn, block, workdir)
    else:
        run_console(dsn, block, workdir)


SECTIONS = parse_sections(README.read_text(encoding="utf-8"))
SECTIONS_TO_RUN = [s for s in SECTIONS if s.runnable]


@pytest.mark.parametrize("section", SECTIONS_TO_RUN, ids=[s.title for s in SECTIONS_TO_RUN])
def test_readme_section(section: Section, dsn: str, tmp_path: Path) -> None:
    ran = 0
    for block in section.runnable:
        run_block(dsn, block, tmp_path)
        ran += 1
    assert ran == len(section.runnable) > 0


def test_every_runnable_fence_is_collected() -> None:
    """A block the parser missed would be silently untested: count fences independently."""
    text = README.read_text(encoding="utf-8")
    fences = re.findall(r"^\s*(?:```|~~~)\s*(sql|python|console)\b", text, flags=re.MULTILINE | re.IGNORECASE)
    collected = sum(len(s.runnable) for s in SECTIONS)
    assert collected == len(fences), "a sql/python/console fence is indented 4+ spaces or malformed"
    assert collected > 0
    for section in SECTIONS:
        for block in section.runnable:
            if block.language == "console":
                parse_console(block)
                assert parse_console(block), (
                    f"README line {block.line}: console block without `$ pgeventstore`"
                )
            assert block.text.strip(), f"README line {block.line}: empty {block.language} block"


def test_examples_are_only_in_sections() -> None:
    preamble = [s for s in SECTIONS if s.title == "(preamble)"]
    assert not (preamble and preamble[0].runnable), "runnable examples before the first ## heading"
    titles = [s.title for s in SECTIONS]
    assert len(titles) == len(set(titles)), "two ## sections share a title"


@pytest.mark.parametrize("title", SECTIONS_WITH_EXAMPLES)
def test_sections_keep_their_examples(title: str) -> None:
    matching = [s for s in SECTIONS if s.title == title]
    assert matching, f"README has no section ## {title}"
    assert matching[0].runnable, f"## {title} has no runnable example"


SAMPLE = """intro
```sql
select 'preamble';
```
## One
text
```sql
-- fails with ES409
select 1;
```
  ```Python
  print("indented two")
  ```
## Two
````console
$ pgeventstore status
applied  0001
$ pgeventstore nope
pgeventstore: No such command 'nope'.
# exits 2
```
## not a heading inside a fence
```
````
## Three
"""


def test_the_parser_on_a_sample() -> None:
    sections = parse_sections(SAMPLE)
    assert [s.title for s in sections] == ["(preamble)", "One", "Two", "Three"]
    assert [b.language for b in sections[1].blocks] == ["sql", "python"]
    assert sections[1].blocks[1].text == 'print("indented two")\n'
    assert expected_failure(sections[1].blocks[0]) == "ES409"
    assert expected_failure(sections[0].blocks[0]) is None
    commands = parse_console(sections[2].blocks[0])
    assert [(c.command, c.exit_code) for c in commands] == [
        ("pgeventstore status", 0),
        ("pgeventstore nope", 2),
    ]
    assert sections[3].blocks == ()
    with pytest.raises(ValueError, match="never closed"):
        parse_sections("## A\n```sql\nselect 1;\n")
    with pytest.raises(ValueError, match="must follow"):
        parse_console(Block("console", "$ pgeventstore a\n# exits 2\n# exits 3\n", 1))
    with pytest.raises(ValueError, match="must follow"):
        parse_console(Block("console", "# exits 2\n$ pgeventstore a\n", 1))
    with pytest.raises(ValueError, match="console blocks run only"):
        parse_console(Block("console", "$ rm -rf /tmp/x\n", 1))


def test_the_runner_checks_expected_failures(dsn: str, tmp_path: Path) -> None:
    run_sql(dsn, Block("sql", "-- fails with ES400\nselect eventstore.stream_version('');\n", 1))
    with pytest.raises(AssertionError, match="should fail with ES409"):
        run_sql(dsn, Block("sql", "-- fails with ES409\nselect 1;\n", 1))
    with pytest.raises(AssertionError, match="expected to fail with ES409, failed with ES400"):
        run_sql(dsn, Block("sql", "-- fails with ES409\nselect eventstore.stream_version('');\n", 1))
    with pytest.raises(AssertionError, match="the sql block failed"):
        run_sql(dsn, Block("sql", "select eventstore.stream_version('');\n", 1))
    with pytest.raises(AssertionError, match="exited 3, expected 0"):
        run_console(dsn, Block("console", "$ pgeventstore status; exit 3\n", 1), tmp_path)
    run_console(dsn, Block("console", "$ pgeventstore nope\n# exits 2\n", 1), tmp_path)
    run_console(dsn, Block("console", "$ pgeventstore nope | cat\n# exits 2\n", 1), tmp_path)
    with pytest.raises(AssertionError, match="the python block exited 1"):
        run_python(dsn, Block("python", "raise SystemExit(1)\n", 7), tmp_path)
