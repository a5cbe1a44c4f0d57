"""`e3gen bench --cases m` (e3gen/bench_models.py): the argument plumbing, not the timings.

Properties: 'm' is an accepted case beside the others (an unknown letter is still refused); without
the client venvs the case prints one message and the bench exits 0; with them, every model and
dtype runs the worker twice per side (e3nn, e3gen, e3gen, e3nn), in the right venv, with the switch only on the e3gen side,
`python -P` (so the worker's folder, e3gen/ with its own `math`, never shadows the standard
library), the requested repeats and thread count, and the table reports each side's numbers. The
worker is replaced by a stub that writes a fixed result: no timing is asserted.
"""

import json
import subprocess
from pathlib import Path

import pytest

from e3gen import bench, bench_models

pytest.importorskip("e3nn")


def test_case_m_without_client_venvs_prints_one_message_and_exits_zero(monkeypatch, capsys):
    monkeypatch.delenv("E3GEN_CLIENT_VENVS", raising=False)
    assert bench.main(["--cases", "m", "--repeats", "1", "--backends", "eager"]) == 0
    err = capsys.readouterr().err
    assert err.count("case m skipped") == 1 and "E3GEN_CLIENT_VENVS" in err


def test_unknown_case_beside_m_is_still_refused(capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--cases", "mz"])
    assert stop.value.code == 2 and "--cases" in capsys.readouterr().err


def _fake_venvs(root: Path) -> Path:
    for name in ("mace-ref", "nequip-ref", "e3gen-clients"):
        (root / name / "bin").mkdir(parents=True)
        (root / name / "bin" / "python").write_text("")
    return root


def test_case_m_runs_each_model_dtype_and_side_with_its_venv_switch_and_arguments(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("E3GEN_CLIENT_VENVS", str(_fake_venvs(tmp_path)))
    monkeypatch.setenv("E3GEN_AS_E3NN", "1")  # must not leak into the e3nn side
    calls = []

    def fake_run(command, cwd, env, capture_output, text):
        calls.append((command, env))
        model, dtype, repeats, out = command[3:]
        side = "e3gen" if "e3gen-clients" in command[0] else "e3nn"
        split = {"TensorProduct": 0.5, "Linear": 0.25, "other": 0.25}
        Path(out).write_text(json.dumps({
            "e3nn": "0.6.0+e3gen.x" if side == "e3gen" else "ref", "threads": 1, "products": [f"{model} product"],
            "sizes": {s: {"edges": e, "median_ms": 10.0 if side == "e3nn" else 5.0, "split": split}
                      for s, e in (("small", 1400), ("large", 20000))}}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(bench_models.subprocess, "run", fake_run)
    assert bench_models.run(repeats=4, threads=1) == 0
    assert len(calls) == 2 * 2 * 4
    sides = ["e3gen" if "e3gen-clients" in command[0] else "e3nn" for command, _ in calls]
    assert sides == ["e3nn", "e3gen", "e3gen", "e3nn"] * 4
    for command, env in calls:
        python, flag, worker, model, dtype, repeats, _ = command
        venv = Path(python).parents[1].name
        assert flag == "-P" and Path(worker) == bench_models.WORKER and repeats == "4" and dtype in ("float32", "float64")
        assert venv in ("e3gen-clients", bench_models.MODELS[model]) and env["OMP_NUM_THREADS"] == "1"
        assert (env.get("E3GEN_AS_E3NN") == "1") == (venv == "e3gen-clients")
    out = capsys.readouterr().out
    assert out.count("e3gen/e3nn 0.50") == 8 and "20000 edges" in out and "TP 5 Lin 2" in out
