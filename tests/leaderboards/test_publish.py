"""Tests for bench publish: the folder, escaping in HTML and LaTeX, LaTeX that compiles, merging stores,
keys kept apart, the results schema, and the site's sorting in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.leaderboards.publish import publish
from bench.leaderboards.results_file import RESULTS_FILE, SCHEMA_VERSION, read_results

from .test_table import write_job

EVIL = "<script>alert(1)</script> & 100% of_it"
"""User text with HTML markup and LaTeX's special characters."""


def _win(value: float, half: float = 3.0) -> dict[str, float]:
    return {"gold_win_rate": value, "gold_win_rate_ci_low": value - half, "gold_win_rate_ci_high": value + half,
            "kl": value / 20.0, "kl_stderr": 0.05, "length": 20.0 + value / 10.0}


def _store(root: Path, methods: dict[str, list[float]], key: str = "key-a") -> Path:
    for method, values in methods.items():
        for seed, value in enumerate(values):
            write_job(root, f"{method}-{key}-{seed}", method, seed, _win(value), key=key)
    write_job(root, f"reference-{key}", "reference", 0, _win(50.0), key=key)
    return root


@pytest.fixture
def published(tmp_path: Path) -> Path:
    store = _store(tmp_path / "store", {"dpo": [62.0, 64.0], "simpo": [70.0, 71.0], EVIL: [55.0, 56.0]})
    job = store / "key-a" / f"{EVIL}-key-a-0"
    (job / "model_outputs.json").write_text(json.dumps([{"instruction": f"Say {EVIL}", "output": "</pre><b>x</b>",
                                                         "generator": "evil"}]))
    (store / "key-a" / "reference_outputs.json").write_text(json.dumps([{"instruction": f"Say {EVIL}",
                                                                         "output": "ref & more"}]))
    (job / "train_log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3)))
    out = tmp_path / "site"
    publish([store], out)
    return out


def test_publish_writes_the_site_latex_tables_figures_and_results(published: Path) -> None:
    table = published / "key-a"
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.tex", "leaderboard_table.tex", "comparisons.csv",
                 "win_rate_vs_kl.png", "win_rate_vs_kl.svg", "win_rate_vs_length.png", "win_rate_vs_length.svg"):
        assert (table / name).stat().st_size > 0, name
    results = read_results(published / RESULTS_FILE)
    assert results["schema_version"] == SCHEMA_VERSION
    (only,) = results["tables"]
    assert only["comparability_key"] == "key-a" and only["primary_metric"] == "gold_win_rate"
    rows = {row["method"]: row for row in only["rows"]}
    assert rows["simpo"]["rank"] == 1 and rows["simpo"]["tied_group"] == 1
    assert rows["simpo"]["metrics"]["gold_win_rate"]["mean"] == pytest.approx(70.5)
    kl = rows["dpo"]["metrics"]["kl"]
    assert (kl["ci_low"], kl["ci_high"]) == pytest.approx((3.15 - 1.959964 * 0.05, 3.15 + 1.959964 * 0.05))
    assert len(only["jobs"]) == 7 and len(only["comparisons"]) == 3
    assert results["generated_by"]["bench_version"] and "python" in results["generated_by"]
    pages = list((published / "methods" / "key-a").glob("*.html"))
    assert len(pages) == 4  # three configurations and the reference


def test_user_text_is_escaped_in_html_and_latex(published: Path) -> None:
    index = (published / "index.html").read_text()
    assert "<script>alert" not in index and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 100% of_it" in index
    assert index.count("<script>") == 1  # the page's own sorting script, nothing else
    page = next(p for p in (published / "methods" / "key-a").glob("*.html") if "script" in p.name)
    html = page.read_text()
    assert "<script>alert" not in html and "Say &lt;script&gt;" in html
    assert "</pre><b>x</b>" not in html and "&lt;/pre&gt;&lt;b&gt;x&lt;/b&gt;" in html and "ref &amp; more" in html
    latex = (published / "key-a" / "leaderboard_table.tex").read_text()
    assert r"\textless{}script\textgreater{}alert(1)\textless{}/script\textgreater{} \& 100\% of\_it" in latex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base "
                                                              "and texlive-latex-recommended)")
def test_the_latex_document_compiles(published: Path) -> None:
    document = published / "key-a" / "leaderboard.tex"
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                            cwd=document.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (document.parent / "leaderboard.pdf").stat().st_size > 1000


def _tables_without_places(path: Path) -> list[dict]:
    """The tables of a results file, minus where each job's file lies (the only thing a merge may change)."""
    tables = read_results(path)["tables"]
    for table in tables:
        for job in table["jobs"]:
            job.pop("path")
        table["jobs"].sort(key=lambda job: job["job_id"])
    return tables


def test_two_stores_of_one_key_merge_into_the_table_of_one_store_holding_both(tmp_path: Path) -> None:
    both = _store(tmp_path / "both", {"dpo": [62.0, 64.0], "simpo": [70.0, 71.0]})
    first = _store(tmp_path / "first", {"dpo": [62.0, 64.0]})
    second = _store(tmp_path / "second", {"simpo": [70.0, 71.0]})
    publish([both], tmp_path / "one")
    publish([first, second], tmp_path / "merged")
    assert _tables_without_places(tmp_path / "merged" / RESULTS_FILE) == \
        _tables_without_places(tmp_path / "one" / RESULTS_FILE)


def test_stores_of_different_keys_are_never_mixed(tmp_path: Path) -> None:
    first = _store(tmp_path / "first", {"dpo": [62.0]}, key="key-a")
    second = _store(tmp_path / "second", {"dpo": [90.0]}, key="key-b")
    publish([first, second], tmp_path / "out")
    tables = read_results(tmp_path / "out" / RESULTS_FILE)["tables"]
    assert [t["comparability_key"] for t in tables] == ["key-a", "key-b"]
    assert [[r["metrics"]["gold_win_rate"]["mean"] for r in t["rows"] if r["method"] == "dpo"] for t in tables] == \
        [[62.0], [90.0]]


def test_key_publishes_only_the_named_tables_and_an_unknown_key_is_one_line(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", {"dpo": [62.0]}, key="key-a")
    _store(store, {"dpo": [90.0]}, key="key-b")
    publish([store], tmp_path / "out", keys=["key-b"])
    assert [t["comparability_key"] for t in read_results(tmp_path / "out" / RESULTS_FILE)["tables"]] == ["key-b"]
    with pytest.raises(BenchError, match=r"^--key key-c: no table of that comparability key.*key-a, key-b$"):
        publish([store], tmp_path / "none", keys=["key-c"])


def test_a_results_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    path.write_text(json.dumps({"schema": "bench.results", "schema_version": SCHEMA_VERSION + 1, "tables": []}))
    with pytest.raises(BenchError, match="schema version"):
        read_results(path)


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev extra)")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_the_site_sorts_a_column_when_its_header_is_clicked(published: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser = _browser()
    try:
        browser.get((published / "index.html").as_uri())

        def methods() -> list[str]:
            return [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#board-1 tbody td.method")]

        before = methods()
        assert before[0] == "simpo" and before[-1] == "reference"  # ranked, reference last
        header = next(h for h in browser.find_elements(By.CSS_SELECTOR, "#board-1 th") if h.text == "method")
        header.click()
        descending = methods()
        header.click()
        ascending = methods()
        assert ascending != before and ascending == sorted(before) and descending == sorted(before, reverse=True)
        assert header.get_attribute("aria-sort") == "ascending"
        browser.find_element(By.CSS_SELECTOR, "input.filter").send_keys("simpo")
        shown = [row for row in browser.find_elements(By.CSS_SELECTOR, "#board-1 tbody tr") if row.is_displayed()]
        assert len(shown) == 1
        assert browser.save_screenshot(str(tmp_path / "leaderboard.png"))
        assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
    finally:
        browser.quit()
