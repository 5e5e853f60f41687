"""The package as a user meets it: `mycelial` import name, --version, LICENSE, py.typed."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner

from core.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def test_mycelial_import_survives_a_users_own_core_folder(tmp_path):
    # a project of the user's with its own core/ package, first on sys.path (the script's folder)
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("USERS_CORE = True\n", encoding="utf-8")
    # as after a wheel install: the package sits on sys.path after the script's folder (the
    # editable install's path hook, which would answer first, is taken out)
    prelude = ("import sys\n"
               "sys.meta_path = [f for f in sys.meta_path if 'editable' not in str(getattr(f, '__module__', ''))]\n"
               f"sys.path.append({str(ROOT)!r})\n")
    for name, body in [("use.py", "import mycelial\n"
                                  "from mycelial import SemanticMemory, TextEmbedder, MycelialVQVAE, RecallConfig\n"
                                  "print(SemanticMemory.__module__, TextEmbedder.__name__, MycelialVQVAE.__name__)\n"),
                       ("old.py", "from core.memory import SemanticMemory\n")]:
        (tmp_path / name).write_text(prelude + body, encoding="utf-8")
    out = subprocess.run([sys.executable, "use.py"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["core.memory.semantic", "TextEmbedder", "MycelialVQVAE"]
    # the `core` import name alone is shadowed by the user's folder: the failure `mycelial` avoids
    bad = subprocess.run([sys.executable, "old.py"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode != 0 and "core.memory" in bad.stderr


def test_version_license_and_typed_marker():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"mycelial {meta['project']['version']}"
    assert meta["project"]["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert (ROOT / "core" / "py.typed").is_file() and (ROOT / "mycelial" / "py.typed").is_file()
    assert "mycelial*" in meta["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["core"]


def test_python_dash_m_mycelial_runs_the_command(tmp_path):
    # after scripts/quickstart.sh the venv's bin/ is not on PATH; `.venv/bin/python -m mycelial --version`
    # said "No module named mycelial.__main__; 'mycelial' is a package and cannot be directly executed"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "mycelial", "--version"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("mycelial "), out.stderr
    out = subprocess.run([sys.executable, "-m", "mycelial", "recall"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 2 and "Usage: python -m mycelial recall" in out.stderr, out.stderr


def test_import_mycelial_looks_up_its_version_only_when_asked():
    # `python -m mycelial ...` imports the package: its eager __version__ (importlib.metadata scanning the
    # installed distributions) cost every command ~0.05-0.1 s
    code = ("import sys, mycelial; before = 'importlib.metadata' in sys.modules; "
            "print(before, mycelial.__version__, '__version__' in dir(mycelial))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert out.returncode == 0, out.stderr
    before, version, listed = out.stdout.split()
    assert before == "False" and listed == "True", out.stdout
    assert version in (meta["project"]["version"], "0+unknown"), out.stdout


def test_every_data_file_of_the_packages_is_in_the_wheel():
    # core/server/static (the web page) was not in package-data: a wheel install had no page and
    # `mycelial serve` failed at start (StaticFiles: directory does not exist)
    from fnmatch import fnmatch

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = meta["tool"]["setuptools"]["package-data"]
    missing = []
    for top in ("core", "mycelial"):
        for f in sorted((ROOT / top).rglob("*")):
            if not f.is_file() or f.suffix in (".py", ".pyc") or "__pycache__" in f.parts:
                continue
            rel = f.relative_to(ROOT)
            if not any(rel.is_relative_to(Path(*pkg.split("."))) and
                       any(fnmatch(str(rel.relative_to(Path(*pkg.split(".")))), pat) for pat in pats)
                       for pkg, pats in package_data.items()):
                missing.append(str(rel))
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_pipeline_without_data_names_the_variable_and_leaves_no_artifacts(tmp_path, monkeypatch):
    import json

    cfg = json.loads((ROOT / "vqvae_config.json").read_text(encoding="utf-8"))
    cfg["artifacts_dir"] = str(tmp_path / "artifacts")
    (tmp_path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    monkeypatch.setenv("MYCELIAL_DATA_DIR", str(tmp_path / "no-data-here"))
    result = CliRunner().invoke(cli, ["pipeline", "--config", str(tmp_path / "config.json")])
    assert result.exit_code == 1 and "MYCELIAL_DATA_DIR" in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "artifacts").exists()
