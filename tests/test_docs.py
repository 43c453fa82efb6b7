"""Builds the documentation site and runs every example of README.md and docs/, so the
documentation cannot drift from the code.

The site: ``mkdocs build --strict`` (mkdocs.yml) must pass, so a broken link or anchor, a
page missing from the nav or an unresolved reference in the generated Python or CLI
reference fails the build.

The examples. Each page (README.md and every docs/*.md) runs top to bottom on ONE fresh
database, as a reader runs it, so an example may build on the ones above it:

* a page runs on a database with the store installed, except a page holding the line
  ``<!-- docs-test: empty database -->``, which runs on an empty one (a page that
  installs the store itself);
* fenced blocks whose info string starts with ``sql``, ``python``, ``console`` or
  ``shell`` run, every one of them, unless the nearest non-blank line before the fence
  is the HTML comment ``<!-- no-run -->`` (or ``<!-- no-run: why -->``). Neither GitHub
  nor the site shows the comment, so the reader sees no noise; it marks what cannot run
  here (a ``pip install``, a remote host, a command that takes minutes). The synonyms
  ``bash``, ``sh``, ``py``, ``psql``... are refused, so no example hides under one;
  every other fence (``text``, output, signatures) is only shown;
* ```sql: the whole block at once through psycopg, in autocommit; a block whose first
  line is ``-- fails with ESxxx`` (any SQLSTATE) must fail with exactly that SQLSTATE;
* ```python: a script of its own in a subprocess, in the page's working directory, with
  ``PGEVENTSTORE_DSN`` set to the page's database; it must exit 0. Blocks share nothing
  but the database and the working directory;
* ```console: each line ``$ command`` runs in bash with pipefail (stdin empty, the
  environment of python blocks, this interpreter's bin directory first on PATH, so
  ``pgeventstore`` is the package under test); the lines after it show its output and are
  not compared; a line ``# exits N`` after it (and after its output) asserts its exit
  code, 0 otherwise;
* ```shell: the whole block is one bash script (``-euo pipefail``) in the same
  environment, and must exit 0.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import create_database, drop_database, dsn_for

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
SQL_REFERENCE = DOCS / "sql-api.md"
GUARANTEES = DOCS / "guarantees.md"
README_MAX_LINES = 200

RUNNABLE = ("sql", "python", "console", "shell")
# Info strings that would look runnable to a reader but are not run: refused.
SYNONYMS = ("bash", "sh", "zsh", "shell-session", "sh-session", "py", "python3", "pycon", "psql", "pgsql")
# Pages whose examples are part of their contract: each must keep at least one.
PAGES_WITH_EXAMPLES = ("README.md", "docs/getting-started.md", "docs/sql-api.md", "docs/errors.md")

FENCE_OPEN = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*([^\s`]*)[^`]*$")
FAILS_WITH = re.compile(r"^--\s*fails with\s+([0-9A-Z]{5})\s*$")
EXITS = re.compile(r"^#\s*exits\s+(\d+)\s*$")
NO_RUN = re.compile(r"^ {0,3}<!--\s*no-run(?::[^>]*)?\s*-->\s*$")
EMPTY_DATABASE = re.compile(r"^<!--\s*docs-test:\s*empty database\s*-->\s*$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its text, where it starts, and whether it runs."""

    language: str
    text: str
    line: int
    no_run: bool = False

    @property
    def runs(self) -> bool:
        return self.language in RUNNABLE and not self.no_run


@dataclasses.dataclass(frozen=True)
class Command:
    """One ``$ `` line of a console block and the exit code it must end with."""

    command: str
    exit_code: int
    line: int


@dataclasses.dataclass(frozen=True)
class Page:
    """A markdown page, its blocks in order, and whether it starts from an empty database."""

    name: str
    blocks: tuple[Block, ...]
    empty_database: bool

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.runs]


def parse_blocks(markdown: str, name: str = "page") -> list[Block]:
    """The fenced blocks of ``markdown`` in order (CommonMark fences, up to 3 spaces indent).

    A ``<!-- no-run -->`` line marks the next fence; one followed by anything but a fence
    is an error, as is a fence that is never closed.
    """
    blocks: list[Block] = []
    lines = markdown.splitlines()
    marked_at: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = FENCE_OPEN.match(line)
        if opening:
            indent, fence, info = len(opening.group(1)), opening.group(2), opening.group(3).lower()
            if info in SYNONYMS:
                raise ValueError(f"{name} line {i + 1}: use ```{_canonical(info)}, not ```{info}")
            closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not closing.match(lines[j]):
                body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
                j += 1
            if j == len(lines):
                raise ValueError(f"{name} line {i + 1}: code fence {fence} is never closed")
            blocks.append(Block(info, "\n".join(body) + "\n", i + 1, no_run=marked_at is not None))
            marked_at = None
            i = j + 1
            continue
        if marked_at is not None and line.strip():
            raise ValueError(f"{name} line {marked_at}: <!-- no-run --> must come right before a fence")
        if NO_RUN.match(line):
            marked_at = i + 1
        i += 1
    if marked_at is not None:
        raise ValueError(f"{name} line {marked_at}: <!-- no-run --> must come right before a fence")
    return blocks


def _canonical(info: str) -> str:
    if info in ("py", "python3", "pycon"):
        return "python"
    if info in ("psql", "pgsql"):
        return "sql"
    return "shell (or console, with $ lines)"


def parse_page(path: Path) -> Page:
    text = path.read_text(encoding="utf-8")
    name = str(path.relative_to(ROOT))
    return Page(name, tuple(parse_blocks(text, name)), bool(EMPTY_DATABASE.search(text)))


def parse_console(block: Block, name: str = "page") -> list[Command]:
    """The commands of a console block, each with the exit code it must end with."""
    commands: list[Command] = []
    exit_given = False
    for offset, line in enumerate(block.text.splitlines(), start=1):
        exits = EXITS.match(line.strip())
        if line.startswith("$ "):
            commands.append(Command(line[2:].strip(), 0, block.line + offset))
            exit_given = False
        elif exits:
            # It may follow the command's output lines, but belongs to one command only.
            if not commands or exit_given:
                raise ValueError(f"{name} line {block.line + offset}: `# exits N` must follow a `$ ` line")
            commands[-1] = dataclasses.replace(commands[-1], exit_code=int(exits.group(1)))
            exit_given = True
    return commands


def expected_failure(block: Block) -> str | None:
    """The SQLSTATE a sql block must fail with, from its first line, or None."""
    first = block.text.lstrip("\n").splitlines()[0] if block.text.strip() else ""
    match = FAILS_WITH.match(first.strip())
    return match.group(1) if match else None


def run_sql(dsn: str, block: Block, name: str = "page") -> None:
    expected = expected_failure(block)
    where = f"{name} line {block.line}"
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


def run_process(argv: list[str], dsn: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=workdir,
        env=example_env(dsn),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def run_python(dsn: str, block: Block, workdir: Path, name: str = "page") -> None:
    script = workdir / f"example_line_{block.line}.py"
    script.write_text(block.text, encoding="utf-8")
    result = run_process([sys.executable, str(script)], dsn, workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{name} line {block.line}: the python block exited {result.returncode}\n{output}"
    )


def run_console(dsn: str, block: Block, workdir: Path, name: str = "page") -> None:
    for command in parse_console(block, name):
        result = run_process(["bash", "-o", "pipefail", "-c", command.command], dsn, workdir)
        assert result.returncode == command.exit_code, (
            f"{name} line {command.line}: `{command.command}` exited {result.returncode}, "
            f"expected {command.exit_code}\n{result.stdout}{result.stderr}"
        )


def run_shell(dsn: str, block: Block, workdir: Path, name: str = "page") -> None:
    result = run_process(["bash", "-euo", "pipefail", "-c", block.text], dsn, workdir)
    output = result.stdout + result.stderr
    assert result.returncode == 0, (
        f"{name} line {block.line}: the shell block exited {result.returncode}\n{output}"
    )


def run_block(dsn: str, block: Block, workdir: Path, name: str) -> None:
    if block.language == "sql":
        run_sql(dsn, block, name)
    elif block.language == "python":
        run_python(dsn, block, workdir, name)
    elif block.language == "console":
        run_console(dsn, block, workdir, name)
    else:
        run_shell(dsn, block, workdir, name)


PAGE_PATHS = [README, *sorted(DOCS.rglob("*.md"))]
PAGES = [parse_page(path) for path in PAGE_PATHS]
PAGES_TO_RUN = [p for p in PAGES if p.runnable]


@pytest.fixture
def page_database(request: pytest.FixtureRequest, admin_dsn: str) -> Iterator[str]:
    """A fresh database for one page: empty, or with the store installed."""
    page: Page = request.param
    template = None if page.empty_database else request.getfixturevalue("template_db")
    name = create_database(admin_dsn, template=template)
    yield dsn_for(admin_dsn, name)
    drop_database(admin_dsn, name)


@pytest.mark.parametrize(
    ("page", "page_database"),
    [(p, p) for p in PAGES_TO_RUN],
    ids=[p.name for p in PAGES_TO_RUN],
    indirect=["page_database"],
)
def test_page_examples_run_in_order(page: Page, page_database: str, tmp_path: Path) -> None:
    for block in page.runnable:
        run_block(page_database, block, tmp_path, page.name)


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "mkdocs", "build", "--strict"),
            *("--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    python_reference = (site / "python-reference" / "index.html").read_text(encoding="utf-8")
    assert 'id="pgeventstore.store.EventStore.append"' in python_reference
    assert not re.search(r":(class|meth|func|mod|attr):`", python_reference), "a Sphinx role shown verbatim"
    # Documented only by its #: comment: present only if the griffe extension read it.
    assert 'id="pgeventstore.values.ANY"' in python_reference
    cli_reference = (site / "cli" / "index.html").read_text(encoding="utf-8")
    assert 'id="pgeventstore-append"' in cli_reference


def test_every_runnable_fence_is_collected() -> None:
    """A block the parser missed would be silently untested: count fences independently."""
    for path, page in zip(PAGE_PATHS, PAGES, strict=True):
        text = path.read_text(encoding="utf-8")
        fences = re.findall(r"^ {0,3}(?:```|~~~)\s*(sql|python|console|shell)\b", text, flags=re.M | re.I)
        collected = [b for b in page.blocks if b.language in RUNNABLE]
        assert len(collected) == len(fences), f"{page.name}: a fence is indented 4+ spaces or malformed"
        for block in page.runnable:
            assert block.text.strip(), f"{page.name} line {block.line}: empty {block.language} block"
            if block.language == "console":
                assert parse_console(block, page.name), f"{page.name} line {block.line}: no `$ ` line"
    assert sum(len(p.runnable) for p in PAGES) > 0


@pytest.mark.parametrize("name", PAGES_WITH_EXAMPLES)
def test_pages_keep_their_examples(name: str) -> None:
    matching = [p for p in PAGES if p.name == name]
    assert matching, f"no page {name}"
    assert matching[0].runnable, f"{name} has no runnable example"


def test_the_readme_is_a_short_front_door() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_the_readmes_links_resolve() -> None:
    """The site checks its own links; the README is not part of it, so check its relative links here."""
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    assert relative, "the README links into the docs"
    for target in relative:
        assert (ROOT / target.split("#")[0]).exists(), f"README.md links to {target}, which does not exist"


def test_every_sql_function_has_a_reference_entry(dsn: str) -> None:
    """Every function of the schema has a ``### name`` entry in docs/sql-api.md; every entry is one."""
    with psycopg.connect(dsn) as conn:
        functions = {
            row[0]
            for row in conn.execute(
                "select distinct proname::text from pg_catalog.pg_proc"
                " where pronamespace = 'eventstore'::regnamespace"
            )
        }
    entries = set(re.findall(r"^### ([a-z_]+)\s*$", SQL_REFERENCE.read_text(encoding="utf-8"), flags=re.M))
    assert not functions - entries, f"docs/sql-api.md has no entry for {sorted(functions - entries)}"
    stale = sorted(entries - functions)
    assert not stale, f"docs/sql-api.md documents no such function: {stale}"


def test_the_guarantees_name_tests_that_exist() -> None:
    text = GUARANTEES.read_text(encoding="utf-8")
    references = re.findall(r"`((?:tests|pgtap_tests)/[\w./-]+)(?:::(\w+))?`", text)
    assert references, "docs/guarantees.md names the tests that prove each promise"
    for path, test in references:
        source = ROOT / path
        assert source.is_file(), f"docs/guarantees.md names {path}, which does not exist"
        if test:
            assert re.search(rf"^\s*(?:async )?def {test}\(", source.read_text(encoding="utf-8"), re.M), (
                f"docs/guarantees.md names {path}::{test}, which does not exist"
            )


def test_the_griffe_extension_on_samples() -> None:
    spec = importlib.util.spec_from_file_location("conventions", ROOT / "scripts/docs_sphinx_conventions.py")
    assert spec and spec.loader
    conventions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conventions)
    plain_roles, comment_above = conventions.plain_roles, conventions.comment_above
    assert plain_roles("see :class:`Call` and :meth:`~pgeventstore.store.EventStore.append`.") == (
        "see `Call` and `append`."
    )
    assert plain_roles(":func:`pgeventstore.schema.migrate`") == "`pgeventstore.schema.migrate`"
    lines = ["x = 1", "#: The first line", "#: and the second.", "ANY = None", "# not this", "B = 2"]
    assert comment_above(lines, 4) == "The first line\nand the second."
    assert comment_above(lines, 6) is None
    assert comment_above(lines, 1) is None


SAMPLE = """intro
```sql
select 'first';
```
<!-- no-run: a remote host -->

```shell
psql -h db.example.com
```
  ```Python
  print("indented two")
  ```
````console
$ pgeventstore status
applied  0001
$ pgeventstore nope
pgeventstore: No such command 'nope'.
# exits 2
```
## not a heading inside a fence
````
```text
-- fails with ES409
```
"""


def test_the_parser_on_a_sample() -> None:
    blocks = parse_blocks(SAMPLE)
    assert [(b.language, b.runs) for b in blocks] == [
        ("sql", True),
        ("shell", False),
        ("python", True),
        ("console", True),
        ("text", False),
    ]
    assert blocks[2].text == 'print("indented two")\n'
    assert expected_failure(Block("sql", "-- fails with ES409\nselect 1;\n", 1)) == "ES409"
    assert expected_failure(blocks[0]) is None
    commands = parse_console(blocks[3])
    assert [(c.command, c.exit_code) for c in commands] == [
        ("pgeventstore status", 0),
        ("pgeventstore nope", 2),
    ]
    with pytest.raises(ValueError, match="never closed"):
        parse_blocks("```sql\nselect 1;\n")
    with pytest.raises(ValueError, match="right before a fence"):
        parse_blocks("<!-- no-run -->\ntext\n```sql\nselect 1;\n```\n")
    with pytest.raises(ValueError, match="right before a fence"):
        parse_blocks("```sql\nselect 1;\n```\n<!-- no-run -->\n")
    with pytest.raises(ValueError, match="use ```python"):
        parse_blocks("```py\nprint(1)\n```\n")
    with pytest.raises(ValueError, match="must follow"):
        parse_console(Block("console", "$ pgeventstore a\n# exits 2\n# exits 3\n", 1))
    with pytest.raises(ValueError, match="must follow"):
        parse_console(Block("console", "# exits 2\n$ pgeventstore a\n", 1))
    assert EMPTY_DATABASE.search("# Title\n<!-- docs-test: empty database -->\n")


def test_the_runner_checks_what_it_runs(dsn: str, tmp_path: Path) -> None:
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
    run_shell(dsn, Block("shell", 'test "$PGEVENTSTORE_DSN" = ' + repr(dsn) + "\n", 1), tmp_path)
    with pytest.raises(AssertionError, match="the shell block exited 1"):
        run_shell(dsn, Block("shell", "false\necho never\n", 1), tmp_path)
    with pytest.raises(AssertionError, match="the shell block exited 1"):
        run_shell(dsn, Block("shell", "false | cat\n", 1), tmp_path)
    # The page's working directory is shared: a file written by one block is there for the next.
    run_shell(dsn, Block("shell", "pgeventstore sql > install.sql\n", 1), tmp_path)
    run_python(dsn, Block("python", "assert open('install.sql').read().startswith('--')\n", 2), tmp_path)
