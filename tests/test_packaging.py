"""The distributions: the sdist and the wheel ``python -m build`` makes from this checkout.

The wheel must carry the schema (every file of ``sql/`` and ``migrations/``), the licence
and a long description PyPI can show (every link absolute); installed into a fresh
virtual environment with nothing of this checkout on the path, its ``pgeventstore``
command must print the same DBA script as the checkout and migrate an empty database.
"""

from __future__ import annotations

import email
import email.message
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from pgeventstore import __version__, schema

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Installed:
    venv: Path
    workdir: Path

    def run(self, *args: str, dsn: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a program of the virtual environment from a folder outside the checkout."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PGEVENTSTORE_DSN", "DATABASE_URL", "VIRTUAL_ENV")
        }
        if dsn is not None:
            env["PGEVENTSTORE_DSN"] = dsn
        program = self.venv / "bin" / args[0]
        return subprocess.run(
            [str(program), *args[1:]],
            cwd=self.workdir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist, and the wheel built from that sdist (so the sdist is proven complete)."""
    outdir = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Built(
        wheel=outdir / f"pgeventstore-{__version__}-py3-none-any.whl",
        sdist=outdir / f"pgeventstore-{__version__}.tar.gz",
    )


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh virtual environment holding the wheel with its binary extra, and nothing else."""
    home = tmp_path_factory.mktemp("smoke")
    venv, workdir = home / "venv", home / "work"
    workdir.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{built.wheel}[binary]",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return Installed(venv, workdir)


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        return email.message_from_bytes(archive.read(f"pgeventstore-{__version__}.dist-info/METADATA"))


def test_the_wheel_carries_the_schema_and_the_licence(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        for folder in ("sql", "migrations"):
            # Every file, those of sub-folders too (sql/router/).
            for path in (p for p in (ROOT / folder).rglob("*") if p.is_file()):
                packed = f"pgeventstore/{path.relative_to(ROOT)}"
                assert packed in names, packed
                assert archive.read(packed) == path.read_bytes(), packed
        licence = archive.read(f"pgeventstore-{__version__}.dist-info/licenses/LICENSE")
    assert licence == (ROOT / "LICENSE").read_bytes()
    assert "pgeventstore/py.typed" in names
    assert "pgeventstore/monitoring/postgres_exporter.yaml" in names
    # The benchmark ships next to the library as a package of its own.
    assert "pgeventstore_bench/run.py" in names
    assert {name.split("/")[0] for name in names} == {
        "pgeventstore",
        "pgeventstore_bench",
        f"pgeventstore-{__version__}.dist-info",
    }


def test_the_sdist_has_what_a_rebuild_and_a_reader_need(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "py/pgeventstore/schema.py"):
        assert needed in names, needed
    for folder in ("sql", "migrations"):
        assert {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file()} <= names
    assert not [name for name in names if name.startswith((".venv/", "examples/node/node_modules/"))]


def test_the_metadata_lets_the_application_choose_its_psycopg(built: Built) -> None:
    metadata = wheel_metadata(built.wheel)
    requires = metadata.get_all("Requires-Dist") or []
    assert "psycopg>=3.2" in requires
    assert "psycopg[binary]>=3.2; extra == 'binary'" in requires
    assert not [r for r in requires if r.startswith("psycopg[") and "extra ==" not in r]
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("Classifier")
    assert metadata["Keywords"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Repository", "Issues", "Changelog"}


def test_the_long_description_is_the_readme_with_absolute_links(built: Built) -> None:
    metadata = wheel_metadata(built.wheel)
    assert metadata["Description-Content-Type"] == "text/markdown"
    description = metadata.get_payload()
    assert isinstance(description, str)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert description.splitlines()[0] == readme.splitlines()[0]
    targets = re.findall(r"\]\(([^)\s]+)", description)
    targets += re.findall(r"(?m)^\[[^\]]+\]:[ \t]+(\S+)", description)
    targets += re.findall(r"""(?:src|href)=["']([^"']+)""", description)
    assert targets, "the README links somewhere"
    assert [t for t in targets if not t.startswith(("https://", "http://", "mailto:"))] == []
    # Only links are rewritten: every code block reaches PyPI as written.
    for block in re.findall(r"(?ms)^```.*?^```", readme):
        assert block in description


def test_the_built_wheel_installs_and_migrates_without_the_source_tree(
    installed: Installed, empty_dsn
) -> None:
    where = installed.run(
        "python", "-c", "import pgeventstore.schema as s; print(s.__file__); print(s.migrations_dir())"
    )
    assert where.returncode == 0, where.stderr
    site_packages = installed.venv / "lib"
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(site_packages), line

    script = installed.run("pgeventstore", "sql")
    assert script.returncode == 0, script.stderr
    assert script.stdout == schema.install_script()

    migrated = installed.run("pgeventstore", "migrate", dsn=empty_dsn)
    assert migrated.returncode == 0, migrated.stderr
    ids = [path.stem for path in schema.migration_files()]
    assert [line.split()[1] for line in migrated.stdout.splitlines() if line.startswith("applied ")] == ids
    status = installed.run("pgeventstore", "status", dsn=empty_dsn)
    assert status.stdout.split() == [word for migration_id in ids for word in ("applied", migration_id)]

    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        assert conn.execute("select eventstore.version()").fetchone() == (ids[-1],)
        conn.execute(
            """select eventstore.append_to_stream('smoke-1', -1, '[{"type": "Smoked", "data": {}}]')"""
        )
        assert conn.execute("select eventstore.stream_version('smoke-1')").fetchone() == (0,)
        outside = conn.execute(
            "select count(*) from pg_tables"
            " where schemaname not in ('eventstore', 'pg_catalog', 'information_schema')"
        ).fetchone()
    assert outside == (0,)
