"""The `autorouter` command as a user runs it: train, route (table and JSON), eval with a plot,
chat against a real loopback server, prompts from stdin and files, honest evaluation splits."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from autorouter.cli import app, main
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
    assert "quality" in res.output and "cost" in res.output and "tradeoff 0.00" in res.output


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
    # with latency free, the best model answers; a cap (below) leaves out the slow ones
    unweighted = runner.invoke(app, [*args, "--latency-weight", "0", "--json"]).output
    assert json.loads(unweighted)["model"] == "slow-thinker"

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
    rows = {line.split()[1]: line for line in table.output.splitlines() if re.match(r"\s*\d+ \S", line)}
    assert f"{ranked['quick']['latency_s']:.1f}" in rows["quick"]
    assert "117.0" in rows["slow-thinker"] and rows["slow-thinker"].rstrip().endswith("excluded")
    assert "slow-thinker: predicted latency 117.0s is above max_latency_s 3s" in table.output
    # no latency shown for a model of unknown speed (latencies are the only one-decimal cells)
    assert not any(re.fullmatch(r"\d+\.\d", cell) for cell in rows["big"].split()[2:])

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


def test_help_lists_every_command_in_the_order_they_were_written():
    group = typer.main.get_command(app)
    assert list(group.commands) == ["train", "route", "eval", "chat", "label", "serve"]
    assert main.__module__ == "autorouter.cli"  # the console script's entry point


def test_train_says_in_one_line_when_the_data_has_no_costs(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "cost_usd"} for r in make_rows(60)]
    data = write_jsonl(rows, tmp_path / "nocost.jsonl")
    out = subprocess.run([sys.executable, "-m", "autorouter.cli", "train", str(data), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning: the data has no costs" in out.stderr and "train --prices FILE" in out.stderr
    assert "UserWarning" not in out.stderr and "cli.py" not in out.stderr  # no Python warning dump
    assert "autorouter/cli/" not in out.stderr  # nor one from a module of the cli package


# --- route and chat: prompts from stdin or a file, output at 80 columns, the whole decision in JSON


def test_route_reads_the_prompt_from_stdin_or_a_file(trained, tmp_path):
    """`route -` routes what stdin holds (not the text "-"), `--file` what a file holds; a long
    few-shot prompt that no shell would take as an argument goes through either way."""
    d, _, _ = trained
    prompt = "write a python function to sort 3 lists\n" + "\n".join(["example: sorted([3, 1, 2]) == [1, 2, 3]"] * 4000)
    base = ["route", "--router", str(d / "router"), "--tradeoff", "0.5", "--json"]
    direct = json.loads(runner.invoke(app, [*base, prompt]).stdout)
    literal_dash = json.loads(runner.invoke(app, [*base, "--", "x-"]).stdout)

    piped = runner.invoke(app, [*base, "-"], input=prompt + "\n")
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.stdout) == direct != literal_dash

    path = tmp_path / "prompt.txt"
    path.write_text(prompt + "\n", encoding="utf-8")
    from_file = runner.invoke(app, [*base, "--file", str(path)])
    assert from_file.exit_code == 0, from_file.output
    assert json.loads(from_file.stdout) == direct
    assert json.loads(runner.invoke(app, [*base, "-f", "-"], input=prompt).stdout) == direct

    for args, message in (
        ([*base], "no prompt: give it as an argument, '-' to read it from stdin, or --file PATH"),
        ([*base, "hi", "--file", str(path)], "give the prompt either as an argument or with --file, not both"),
        ([*base, "--file", str(tmp_path / "missing.txt")], "cannot read the prompt file"),
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and f"error: {message}" in res.output, res.output
        assert "Traceback" not in res.output
    res = runner.invoke(app, [*base, "-"], input="\n")
    assert res.exit_code == 2 and "error: the prompt read from stdin is empty" in res.output
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    res = runner.invoke(app, [*base, "--file", str(latin)])
    assert res.exit_code == 2 and "is not UTF-8 text" in res.output


def test_route_json_holds_fallbacks_family_and_difficulty(trained):
    d, _, _ = trained
    res = runner.invoke(app, ["route", "write a python function to sort 3 lists", "--router", str(d / "router"),
                              "--tradeoff", "0.5", "--max-cost", "0.005", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["fallbacks"] == [r["model"] for r in out["ranking"][1:] if r["eligible"]]
    assert "big" not in out["fallbacks"]  # excluded by the cap, so no fallback
    assert out["family"] == "code"  # the task the training rows name
    assert out["difficulty"] in ("easy", "medium", "hard")
    # the same family and difficulty the explanation names
    assert f"looks like {out['family']}, {out['difficulty']} difficulty" in out["explanation"]
    assert list(out)[:4] == ["model", "fallbacks", "family", "difficulty"] and list(out)[-1] == "ranking"


def test_route_table_fits_80_columns_and_costs_stay_readable():
    """The default router's 20 candidates (names up to 34 characters, costs from $0.00002):
    nothing is cut to `0.00…`, no line passes 80 columns, and each cost reads as dollars with
    its significant digits."""
    from autorouter.report import format_usd

    args = ["route", "Prove that the square root of 2 is irrational", "--max-cost", "0.01"]
    decision = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    res = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(line for line in lines if len(line) > 80)
    assert "…" not in res.output
    rows = {line.split()[1]: line.split() for line in lines if re.match(r"\s*\d+ \S+/", line)}
    assert len(rows) == len(decision["ranking"]) == 20
    for r in decision["ranking"]:
        cells = rows[r["model"]]
        assert format_usd(r["cost_usd"]) in cells and f"{r['quality']:.3f}" in cells
        if not r["eligible"]:
            assert cells[-1] == "excluded" and f"{r['model']}: predicted cost" in res.output
    # the explanation is printed a clause per line (a long one wrapped), without repeating the model
    first = decision["explanation"].split("; ")[0].split(": ", 1)[1]
    end = next(i for i, line in enumerate(lines) if line.startswith("prompt "))
    assert lines[0] == decision["model"] and " ".join(line.strip() for line in lines[1:end]) == first


@pytest.mark.parametrize("usd, text", [
    (0.0, "$0"), (1.7e-05, "$0.000017"), (0.00012, "$0.00012"), (0.007675, "$0.00768"),
    (0.1, "$0.10"), (0.18432, "$0.184"), (12.3, "$12.30"), (-0.0005, "-$0.0005"),
])
def test_costs_are_formatted_to_stay_readable(usd, text):
    from autorouter.report import format_usd

    assert format_usd(usd) == text


def test_chat_reaches_a_keyless_local_endpoint(trained, openai_server, tmp_path):
    """`chat --api-key-env ''` sends no key (a local server needs none), as `serve` does; a
    named variable is read like OPENROUTER_API_KEY is; the prompt may come from stdin."""
    d, _, _ = trained
    base = ["chat", "--router", str(d / "router"), "--base-url", openai_server.base_url]
    res = runner.invoke(app, [*base, "--api-key-env", "", "hello there friend"], env={"OPENROUTER_API_KEY": None})
    assert res.exit_code == 0, res.output
    assert re.match(r"\[\w+\] hello there friend\n", res.stdout)
    assert "model: " in res.output and "tokens: " in res.output
    assert "authorization" not in openai_server.requests[-1].headers

    res = runner.invoke(app, [*base, "--api-key-env", "MY_LOCAL_KEY", "-"], input="a prompt from stdin\n",
                        env={"MY_LOCAL_KEY": "s3cret-local", "OPENROUTER_API_KEY": None})
    assert res.exit_code == 0, res.output
    assert res.stdout.split("\n")[0].endswith("] a prompt from stdin")
    assert openai_server.requests[-1].headers["authorization"] == "Bearer s3cret-local"

    res = runner.invoke(app, [*base, "--api-key-env", "MY_LOCAL_KEY", "hi"], env={"MY_LOCAL_KEY": None})
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "error: no API key: set the MY_LOCAL_KEY environment variable" in res.output
    assert "--api-key-env ''" in res.output and "the router would send this prompt to" in res.output


# --- eval: in-sample figures are flagged, and an honest split is one option away


def test_eval_warns_when_the_test_prompts_are_training_prompts(trained):
    d, train, test = trained
    res = runner.invoke(app, ["eval", str(d / "router"), str(train), "--json", "--points", "5"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["training_overlap"] == {"seen": 240, "n_test": 240, "sample": 240, "n_train": 240,
                                       "exact": True, "estimated_seen": 240}
    assert "warning: 240 of the 240 test prompts are prompts this router was trained on" in res.stderr
    assert "in-sample" in res.stderr and "--test-fraction" in res.stderr

    res = runner.invoke(app, ["eval", str(d / "router"), str(test), "--knn-train", str(test), "--points", "5"])
    assert res.exit_code == 0, res.output
    assert "trained on" not in res.stderr  # held-out prompts: no warning about the router
    assert "90 of the 90 test prompts are also in the --knn-train data" in res.stderr


def test_eval_counts_overlap_from_the_sample_a_big_router_keeps(tmp_path):
    """A router trained on more prompts than the 1,024 it keeps embeddings of: the count is
    of the sample, scaled to an estimate, and the warning says so."""
    from autorouter import Router, load_dataset
    from autorouter.report import overlap_warning, training_overlap

    ds = load_dataset(write_jsonl(make_rows(1100, seed=4), tmp_path / "big.jsonl"))
    router = Router(embedder="static").fit(ds)
    router.save(tmp_path / "r")
    overlap = training_overlap(Router.load(tmp_path / "r"), router.embed_prompts(ds.prompts).x)
    assert overlap["sample"] == 1024 and overlap["n_train"] == 1100 and not overlap["exact"]
    assert overlap["seen"] == 1024 and overlap["estimated_seen"] == 1100
    assert overlap_warning(overlap, "split it") == (
        "1024 of the 1100 test prompts match the router's sample of 1,024 of its 1,100 training prompts, "
        "so about 1100 of them are training prompts: those figures are in-sample and flatter the router; split it"
    )


def test_eval_with_a_test_fraction_tests_only_on_prompts_the_router_never_saw(tmp_path):
    data = write_jsonl(make_rows(300, seed=3), tmp_path / "all.jsonl.gz")
    router = tmp_path / "router"
    res = runner.invoke(app, ["train", str(data), "--out", str(router), "--embedder", "static",
                              "--test-fraction", "0.3"])
    assert res.exit_code == 0, res.output
    held = int(re.search(r"holding out (\d+) for `autorouter eval", res.output)[1])
    assert 60 <= held <= 120 and f"training on {300 - held} prompts" in res.output

    res = runner.invoke(app, ["eval", str(router), str(data), "--test-fraction", "0.3", "--json", "--points", "5",
                              "--knn-train", str(data)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["n_test"] == held and out["training_overlap"]["seen"] == 0
    assert out["knn_train_overlap"] == 0  # the kNN baseline learns from the training side only
    assert out["split"] == {"test_fraction": 0.3, "split_seed": 7}
    assert "warning" not in res.stderr
    table = runner.invoke(app, ["eval", str(router), str(data), "--test-fraction", "0.3", "--points", "5"])
    assert f"{held} test prompts (held out of 300 by --test-fraction 0.3, --split-seed 7)" in table.output

    # another split of the same file overlaps the router's training prompts: flagged
    res = runner.invoke(app, ["eval", str(router), str(data), "--test-fraction", "0.3", "--split-seed", "8",
                              "--points", "5"])
    assert res.exit_code == 0, res.output
    assert "in-sample" in res.stderr and "--split-seed 8" in res.stderr

    for fraction in ("0", "1", "1.5"):
        res = runner.invoke(app, ["eval", str(router), str(data), "--test-fraction", fraction])
        assert res.exit_code == 2 and "error: the test fraction must be a number strictly between 0 and 1" in res.output


def test_train_on_a_corrupt_file_is_an_error_not_a_traceback(tmp_path):
    """A gzip file whose compressed stream is damaged (zlib.error, once a raw traceback)."""
    good = bytearray(gzip.compress("".join(json.dumps(r) + "\n" for r in make_rows(200)).encode(), mtime=0))
    good[40:60] = b"\xff" * 20
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(bytes(good))
    res = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.exception
    assert f"error: {path}: the gzip data is corrupt or truncated" in res.output and "zlib.error" in res.output


def test_eval_compares_with_the_default_router_when_the_models_are_catalog_models(tmp_path):
    """Labelled data of catalog models: the report says whether training beat `Router.default()`."""
    from synthetic import make_rows, write_jsonl

    names = {"big": "anthropic/claude-3.5-sonnet", "coder": "openai/gpt-4o-2024-08-06",
             "tiny": "openai/gpt-4o-mini-2024-07-18"}
    rows = [{**r, "scores": {names[m]: v for m, v in r["scores"].items()},
             "cost_usd": {names[m]: v for m, v in r["cost_usd"].items()}} for r in make_rows(200)]
    data = write_jsonl(rows, tmp_path / "labels.jsonl")
    assert runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "r"), "--test-fraction", "0.3"]).exit_code == 0
    res = runner.invoke(app, ["eval", str(tmp_path / "r"), str(data), "--test-fraction", "0.3", "--json",
                              "--points", "5"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)["figures"]
    assert {"router", "default router", "zero-router", "oracle"} <= set(figures)
    assert 0 < figures["default router"]["aiq"] <= 1
    # a router trained on the data knows these (synthetic) skills; the default one cannot
    assert figures["router"]["aiq"] > figures["default router"]["aiq"]
