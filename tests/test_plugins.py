"""Third-party objectives: a package installed with pip registers through the ``bench.methods`` entry points.

Each test writes a tiny package, installs it for real (``pip install --no-index --no-build-isolation
--target``, offline, with the venv's setuptools) and drives the ``bench`` command line in a subprocess
whose PYTHONPATH holds the install target, so discovery goes through ``importlib.metadata`` exactly as
it would for a package installed into the environment.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.errors import RegistryError
from bench.registry import Registry

# Look the build tools up without importing them: importing setuptools here would fight over distutils.
if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
    pytest.skip("installing a plug-in package needs pip and setuptools in the environment", allow_module_level=True)

PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.0.1"

[project.entry-points."bench.methods"]
{entry_points}

[tool.setuptools]
packages = ["{package}"]
"""

# A DPO variant with a margin, written as a third party would: only the public objective API.
GOOD_OBJECTIVES = '''\
from bench.methods import register_method
from bench.methods.base import LossOutput, Needs, Objective, Reduction, SequenceStats, log_sigmoid, positive
from bench.methods.pairwise import pair_output, reference_margin


@register_method("plugin_dpo")
class PluginDPO(Objective):
    family = "dpo-plugin"
    source = "bench plug-in test fixture"
    formula = "-log sigma(beta h - margin)"
    needs = Needs(data="pairs", reference=True)

    beta: float = 0.1
    margin: float = 0.5
    reduction: Reduction = "sum"

    def validate(self) -> None:
        super().validate()
        positive(self.name, beta=self.beta)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid(self.beta * h - self.margin), self.beta * rho_w, self.beta * rho_l)


# Verbatim the example of README "Adding an objective" (no ``reduction`` field of its own).
@register_method("plugin_readme_dpo")
class ReadmeDPO(Objective):
    family, source, formula = "dpo", "me, 2026", "-log sigma(beta h) with a twist"
    needs = Needs(data="pairs", reference=True)
    beta: float = 0.1

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid(self.beta * h), self.beta * rho_w, self.beta * rho_l)
'''

BROKEN_OBJECTIVES = "import bench_plugin_dependency_that_is_not_installed  # noqa: F401\n"


def _install(root: Path, dist: str, package: str, entry_points: dict[str, str], source: str) -> Path:
    """Write package ``package`` (distribution ``dist``) under ``root`` and pip-install it into ``root/site``."""
    project = root / "src"
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text("")
    (project / package / "objectives.py").write_text(source)
    lines = "\n".join(f'{name} = "{value}"' for name, value in entry_points.items())
    (project / "pyproject.toml").write_text(PYPROJECT.format(dist=dist, package=package, entry_points=lines))
    site = root / "site"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--no-cache-dir", "--quiet", "--target", str(site), str(project)],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, f"offline pip install failed:\n{done.stdout}\n{done.stderr}"
    assert (site / package / "objectives.py").is_file()
    return site


def _bench(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench.cli ARGS`` with ``site`` on the import path, offline."""
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _table_row(output: str, name: str) -> list[str]:
    rows = [line for line in output.splitlines() if line.startswith(f"| {name} ")]
    assert len(rows) == 1, f"{name} is not listed once in:\n{output}"
    return [cell.strip() for cell in rows[0].strip().strip("|").split("|")]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An install target holding the distribution ``bench-plugin-fixture`` (package ``plugin_pkg``)."""
    return _install(tmp_path_factory.mktemp("plugin"), "bench-plugin-fixture", "plugin_pkg",
                    {"plugin_dpo": "plugin_pkg.objectives", "plugin_readme_dpo": "plugin_pkg.objectives"},
                    GOOD_OBJECTIVES)


def _run_plugin(site: Path, cache: Path, tmp_path: Path, method: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``bench run preset=smoke method=METHOD`` into a fresh store; the smoke gym cache is the session's."""
    store = tmp_path / "runs"
    done = _bench(site, tmp_path, "run", "preset=smoke", f"method={method}", f"cache={cache}", f"store={store}",
                  "progress=false")
    return done, store


def _job_record(store: Path, method: str) -> dict:
    paths = sorted((store / "jobs").glob(f"{method}-seed0-*/metrics.json"))
    assert len(paths) == 1, f"expected one metrics.json for {method}, found {paths}"
    return json.loads(paths[0].read_text())


def test_installed_plugin_is_listed_with_family_and_source(plugin_site: Path, tmp_path: Path):
    done = _bench(plugin_site, tmp_path, "list", "methods")
    assert done.returncode == 0, done.stderr
    header = _table_row(done.stdout, "name")
    row = dict(zip(header, _table_row(done.stdout, "plugin_dpo"), strict=True))
    assert row["family"] == "dpo-plugin"
    assert row["source"] == "bench plug-in test fixture"
    assert row["data"] == "pairs" and row["reduction"] == "sum"
    assert "margin=0.5" in row["defaults"]
    assert "| dpo " in done.stdout  # the built-in objectives are still there
    readme = dict(zip(header, _table_row(done.stdout, "plugin_readme_dpo"), strict=True))
    assert readme["family"] == "dpo" and readme["source"] == "me, 2026"


@pytest.mark.slow
def test_installed_plugin_trains_and_evaluates(plugin_site: Path, smoke_cache: Path, tmp_path: Path):
    done, store = _run_plugin(plugin_site, smoke_cache, tmp_path, "plugin_dpo")
    assert done.returncode == 0, f"bench run failed:\n{done.stdout}\n{done.stderr}"
    job = _job_record(store, "plugin_dpo")["job"]
    assert job["method"] == "plugin_dpo" and job["family"] == "dpo-plugin"
    assert job["hyperparameters"] == {"beta": 0.1, "margin": 0.5, "reduction": "sum"}
    assert "| plugin_dpo " in done.stdout  # it made the leaderboard


@pytest.mark.slow
def test_readme_example_plugin_trains_and_evaluates(plugin_site: Path, smoke_cache: Path, tmp_path: Path):
    done, store = _run_plugin(plugin_site, smoke_cache, tmp_path, "plugin_readme_dpo")
    assert done.returncode == 0, f"bench run failed:\n{done.stdout}\n{done.stderr}"
    job = _job_record(store, "plugin_readme_dpo")["job"]
    assert job["method"] == "plugin_readme_dpo" and job["reduction"] == "sum"


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An install target holding ``bench-broken-fixture``, whose objectives module fails to import."""
    return _install(tmp_path_factory.mktemp("broken"), "bench-broken-fixture", "broken_pkg",
                    {"broken_dpo": "broken_pkg.objectives"}, BROKEN_OBJECTIVES)


@pytest.mark.parametrize("command", ["list", "run"])
def test_plugin_that_fails_to_import_is_a_one_line_error(broken_site: Path, tmp_path: Path, command: str):
    args = ["list", "methods"] if command == "list" else \
        ["run", "preset=smoke", "method=dpo", f"cache={tmp_path / 'cache'}", f"store={tmp_path / 'runs'}",
         "progress=false"]
    done = _bench(broken_site, tmp_path, *args)
    assert done.returncode == 2, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    message = lines[0]
    assert message.startswith("error: plug-in entry point 'broken_dpo' (broken_pkg.objectives)")
    assert "bench_plugin_dependency_that_is_not_installed" in message  # why it failed
    assert "fix or uninstall the package 'bench-broken-fixture'" in message  # what to do
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_debug_shows_the_plugin_traceback(broken_site: Path, tmp_path: Path):
    done = _bench(broken_site, tmp_path, "--debug", "list", "methods")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ModuleNotFoundError" in done.stderr
    assert str(Path("broken_pkg", "objectives.py")) in done.stderr


@pytest.mark.parametrize("name", ["../escape", "a/b", "a.b", "my dpo", "a|b", "<x>", "-x", "1dpo", "dpo-v2", ""])
def test_a_name_that_is_not_an_identifier_cannot_be_registered(name: str):
    with pytest.raises(RegistryError) as raised:
        Registry("method").register(name)
    assert str(raised.value) == (f"method name {name!r} is not allowed: method names must be identifiers (letters, "
                                 f"digits, _), starting with a letter (they become directory names); rename it")


@pytest.fixture(scope="module")
def bad_name_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An install target whose entry point names an objective class ``bad-name`` (not an identifier)."""
    return _install(tmp_path_factory.mktemp("badname"), "bench-badname-fixture", "badname_pkg",
                    {"bad-name": "badname_pkg.objectives:PluginDPO"}, GOOD_OBJECTIVES)


def test_a_plugin_entry_point_named_unsafely_is_a_one_line_error(bad_name_site: Path, tmp_path: Path):
    done = _bench(bad_name_site, tmp_path, "list", "methods")
    assert done.returncode == 2, f"exit {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert done.stderr.strip().splitlines() == [
        "error: method name 'bad-name' is not allowed: method names must be identifiers (letters, digits, _), "
        "starting with a letter (they become directory names); rename it"]
