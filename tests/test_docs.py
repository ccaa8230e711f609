"""The docs stay true: every config field is documented with its real default."""

from __future__ import annotations

import os
import re
from pathlib import Path

from evolve.config import SearchConfig, flat_items, tomllib  # tomli before Python 3.11

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_field_is_in_docs_config_md():
    text = (ROOT / "docs" / "config.md").read_text()
    missing = [key for key, _ in flat_items(SearchConfig()) if f"| `{key}` |" not in text]
    assert not missing, f"document these config fields in docs/config.md: {missing}"


def documented_default(text: str, key: str) -> object:
    """The default docs/config.md's row for ``key`` gives, read as the TOML value it is."""
    row = re.search(rf"^\| `{re.escape(key)}` \| `(.*?)` \|", text, re.MULTILINE)
    assert row, f"docs/config.md: the row of {key} has no `default` cell"
    return tomllib.loads(f"v = {row.group(1)}")["v"]


def test_docs_config_md_gives_each_fields_real_default():
    """The default column is the dataclass default: same value and same TOML type (1 is not
    1.0), so a changed default cannot leave its documentation behind."""
    text = (ROOT / "docs" / "config.md").read_text()
    wrong = []
    for key, value in flat_items(SearchConfig()):
        expected = list(value) if isinstance(value, tuple) else value
        documented = documented_default(text, key)
        if documented != expected or type(documented) is not type(expected):
            wrong.append(f"{key}: documented {documented!r}, default {value!r}")
    assert not wrong, "fix these defaults in docs/config.md: " + "; ".join(wrong)


def test_readme_quickstart_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ('pip install -e ".[test,kernels,export,bench]" torch==2.13.0',
                    "neurevo search", "pytest"):
        assert command in readme and command in ci


def test_science_md_tables_are_the_generated_ones():
    """docs/science.md's and docs/benchmarks.md's tables come from the committed benchmark
    JSON and rule_limits() (benchmarks/science_tables.py), never from hand-copied figures."""
    import subprocess
    import sys

    text = (ROOT / "docs" / "science.md").read_text()
    assert "| digits | bp |" in text and "| mnist1d | bp |" in text  # the blocks are filled
    bench = (ROOT / "docs" / "benchmarks.md").read_text()
    assert "| mnist1d | 40-256-256-10 | bp |" in bench and "| digits | 64-128-10 | bp |" in bench
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "science_tables.py"),
                             "--check"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_custom_rules_of_docs_architecture_md_train(tmp_path, monkeypatch):
    """The readout rule and its typed-state variant, run as a user would paste them; the
    state changes what the members learn (a state that only rescaled their updates would
    not, under Adam), and the weights it masks keep their initial values."""
    from evolve import search
    from evolve.config import override
    from rules import registry

    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))
    text = (ROOT / "docs" / "architecture.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    readout = next(b for b in blocks if "class OutputOnly" in b)
    sparse = next(b for b in blocks if "class SparseReadout" in b)
    exec(compile(readout + sparse, "docs/architecture.md", "exec"), {"__name__": "docs_rules"})
    accuracies = {}
    for name in ("readout", "sparse-readout"):
        config = override(SearchConfig(), {
            "generations": 1, "population": 3, "out": str(tmp_path / name),
            "task": {"name": "digits"}, "rule": {"name": name}, "training": {"epochs": 2},
            "executor": {"name": "serial"}})
        table = search(config, reporters=[]).evaluations()
        assert table.column("status").to_pylist() == ["ok"] * 3
        accuracies[name] = table.column("valid_accuracy").to_pylist()
    assert max(accuracies["sparse-readout"]) > 0.5  # far above chance (10 classes)
    assert accuracies["sparse-readout"] != accuracies["readout"]
    # the rule's own state, on a net of its own: masked weights are never moved
    from evolve.tasks import load_task
    from rules.base import Budget
    from search_spaces.compile import compile_genome, init_params
    from search_spaces.genome import layered

    rule = registry.get_rule("sparse-readout")
    task = load_task("iris")
    net = compile_genome(layered([task.n_features, 6, task.n_classes], "relu"))
    hyper = [rule.hyperparameters().defaults()]
    start = init_params(net, [7], [1.0])
    mask = rule.init_extra(net, start, hyper, [7]).mask.bool()
    trained = rule.fit(net, task, hyper, Budget(epochs=2), [7]).params
    moved = trained.weights[-1] != start.weights[-1]
    assert moved[mask].any() and not moved[~mask].any()


def test_docs_records_md_reads_an_interrupted_run_with_pandas(tmp_path):
    """The pandas recipe of docs/records.md, pasted as a user would, reads every recorded
    row of a run stopped by Ctrl-C in the middle of a generation, whose journal (weights
    files that are not Parquet) lies in evaluations/ beside the generation files, and whose
    first generation file lacks a column, as in a run recorded before that column existed
    and resumed by a newer neurevo."""
    import pandas as pd
    import pyarrow.parquet as pq
    import pytest

    import evolve
    from evolve.config import override
    from evolve.reporters import Reporter

    class StopAfterOneJournaled(Reporter):
        def evaluation_done(self, generation: int, done: int, total: int,
                            outcome: object) -> None:
            if generation == 2:
                raise KeyboardInterrupt

    config = override(SearchConfig(), {
        "generations": 3, "population": 4, "out": str(tmp_path), "run_id": "cut",
        "task": {"name": "iris"}, "rule": {"name": "bp"}, "training": {"epochs": 2},
        "executor": {"name": "serial", "chunk_size": 1}})
    with pytest.raises(KeyboardInterrupt):
        evolve.search(config, reporters=[StopAfterOneJournaled()])
    run_dir = tmp_path / "cut"
    assert list((run_dir / "evaluations" / "_gen-00002.partial").glob("*.safetensors"))
    first = run_dir / "evaluations" / "gen-00000.parquet"
    pq.write_table(pq.read_table(first).drop_columns(["activity_used"]), first)

    text = (ROOT / "docs" / "records.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S)
                 if "pd.read_parquet" in b)
    names: dict[str, object] = {}
    exec(compile(block.replace('"runs/<run-id>"', repr(str(run_dir))), "docs/records.md",
                 "exec"), names)
    frame = names["evaluations"]
    assert isinstance(frame, pd.DataFrame)
    recorded = evolve.load_run(run_dir).evaluations()
    assert frame["candidate_id"].tolist() == recorded.column("candidate_id").to_pylist()
    assert sorted(set(frame["generation"])) == [0, 1]
    old = frame["generation"] == 0  # kept as a column, missing where the file has none
    assert frame.loc[old, "activity_used"].isna().all()
    assert frame.loc[~old, "activity_used"].eq("fixed").all()
    assert "objective.energy" in frame.columns and frame["status"].eq("ok").any()


def test_the_readmes_plugin_file_runs_as_written(tmp_path):
    """README's my_plugins.py, pasted into a file, and its search command (made small)."""
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    plugin = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S)
                  if b.startswith("# my_plugins.py"))
    (tmp_path / "my_plugins.py").write_text(plugin)
    command = next(line for line in text.splitlines()
                   if line.startswith("neurevo search --plugin my_plugins.py"))
    args = command.split()[1:] + ["--generations", "1", "--population", "4", "--executor",
                                  "serial", "--set", "training.epochs=1", "--out",
                                  str(tmp_path / "runs")]
    result = subprocess.run([sys.executable, "-m", "evolve.cli", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def test_the_readmes_python_snippet_runs_as_written(tmp_path):
    """README's "From Python" block, pasted into a script (made small: one generation of
    four, in-process), runs end to end: its names are all defined, its export is read back."""
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## From Python"):]
    snippet = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    small = snippet.replace('{"generations": 4, "population": 12,',
                            '{"generations": 1, "population": 4, "executor": {"name": '
                            '"serial"}, "training": {"epochs": 2},')
    assert small != snippet, "the snippet's config line changed: update this test"
    (tmp_path / "snippet.py").write_text(small + "\nprint('label', label)\n")
    result = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "label " in result.stdout and (tmp_path / "best.safetensors").is_file()
