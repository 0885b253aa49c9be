"""The `autorouter` command as a user runs it: train, route (table and JSON), eval with a plot."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from autorouter.cli import app

from synthetic import TIMED, add_timed_models, make_rows, write_jsonl

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    train = write_jsonl(make_rows(240, seed=0), d / "train.jsonl.gz")
    test = write_jsonl(make_rows(90, seed=9), d / "test.jsonl")
    res = runner.invoke(app, ["train", str(train), "--out", str(d / "router"), "--embedder", "static"])
    assert res.exit_code == 0, res.output
    return d, train, test


def test_train_writes_a_loadable_router(trained):
    d, _, _ = trained
    assert (d / "router" / "router.json").is_file() and (d / "router" / "arrays.npz").is_file()
    meta = json.loads((d / "router" / "router.json").read_text())
    assert meta["data_models"] == ["big", "coder", "tiny"]
    assert meta["embedder"]["kind"] == "static"


def test_route_prints_pick_and_ranking(trained):
    d, _, _ = trained
    res = runner.invoke(app, ["route", "write a python function to sort 3 lists", "--router", str(d / "router"),
                              "--tradeoff", "0"])
    assert res.exit_code == 0, res.output
    assert "big" in res.output and "coder" in res.output and "tiny" in res.output
    assert "quality" in res.output and "cost $" in res.output and "tradeoff 0.00" in res.output


def test_route_json(trained):
    d, _, _ = trained
    res = runner.invoke(app, ["route", "hello there friend", "--router", str(d / "router"), "--tradeoff", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["model"] == "tiny" and out["tradeoff"] == 1.0
    assert {r["model"] for r in out["ranking"]} == {"big", "coder", "tiny"}


def test_route_caps_latency_and_shows_it(trained, tmp_path):
    from autorouter import Router

    d, _, _ = trained
    add_timed_models(Router.load(d / "router")).save(tmp_path / "timed")
    args = ["route", "prove that 3 plus 4 is an integer", "--router", str(tmp_path / "timed"), "--tradeoff", "0"]
    assert json.loads(runner.invoke(app, [*args, "--json"]).output)["model"] == "slow-thinker"

    res = runner.invoke(app, [*args, "--max-latency", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["model"] not in ("slow-thinker", "steady")
    ranked = {r["model"]: r for r in out["ranking"]}
    assert set(ranked) == {"big", "coder", "tiny", *TIMED}
    for slow in ("slow-thinker", "steady"):
        assert not ranked[slow]["eligible"]
        assert ranked[slow]["excluded_because"].endswith("is above max_latency_s 3s")
    assert ranked["quick"]["eligible"] and ranked["quick"]["latency_s"] < 3
    assert ranked["big"]["latency_s"] is None and ranked["big"]["eligible"]  # speed unknown

    table = runner.invoke(app, [*args, "--max-latency", "3", "--latency-weight", "0.001"],
                          env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert "~s" in table.output
    rows = {line.split("│")[2].strip(): line for line in table.output.splitlines() if line.count("│") > 6}
    assert f"{ranked['quick']['latency_s']:.1f}" in rows["quick"]
    assert "117.0" in rows["slow-thinker"] and "predicted latency" in rows["slow-thinker"]
    assert rows["big"].split("│")[5].strip() == ""  # no latency shown for a model of unknown speed

    for option, value, message in (("--max-latency", "-1", "max_latency_s must be a positive number"),
                                   ("--latency-weight", "-1", "latency_weight must be a finite number >= 0")):
        res = runner.invoke(app, [*args, option, value])
        assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_eval_prints_figures_and_draws_the_curve(trained):
    d, train, test = trained
    png = d / "curve.png"
    res = runner.invoke(app, ["eval", str(d / "router"), str(test), "--knn-train", str(train), "--json",
                              "--plot", str(png), "--points", "11"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out["figures"]) == {"router", "zero-router", "oracle", "kNN (k=100)"}
    assert set(out["single_models"]) == {"big", "coder", "tiny"}
    r, z = out["figures"]["router"], out["figures"]["zero-router"]
    assert r["aiq"] > z["aiq"]  # on data with a known answer the router must beat fixed models
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    table = runner.invoke(app, ["eval", str(d / "router"), str(test)])
    assert table.exit_code == 0 and "AIQ" in table.output and "zero-router" in table.output


def test_bad_input_gives_a_message_not_a_traceback(trained, tmp_path):
    d, _, _ = trained
    res = runner.invoke(app, ["route", "hi", "--router", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not a saved router" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["route", "hi", "--router", str(d / "router"), "--tradeoff", "3"])
    assert res.exit_code == 2 and "tradeoff must be in [0, 1]" in res.output
    res = runner.invoke(app, ["train", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "not found" in res.output


def test_plot_without_matplotlib_is_a_message(trained, monkeypatch):
    import builtins

    d, _, test = trained
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    res = runner.invoke(app, ["eval", str(d / "router"), str(test), "--plot", str(d / "x.png"), "--points", "3"])
    assert res.exit_code == 2 and "autorouter[plot]" in res.output
    assert "Traceback" not in res.output


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "autorouter.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout and "route" in out.stdout


def test_train_says_in_one_line_when_the_data_has_no_costs(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "cost_usd"} for r in make_rows(60)]
    data = write_jsonl(rows, tmp_path / "nocost.jsonl")
    out = subprocess.run([sys.executable, "-m", "autorouter.cli", "train", str(data), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning: the data has no costs" in out.stderr and "train --prices FILE" in out.stderr
    assert "UserWarning" not in out.stderr and "cli.py" not in out.stderr  # no Python warning dump
