"""Command-line messages: every bad option is refused before any work, in one line naming it, with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relu_convex.cli import main
from relu_convex.validation.runner import connect


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=X[:, 0] - X[:, 1])
    return path


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *parts: str) -> None:
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err
    for part in parts:
        assert part in err


@pytest.mark.parametrize("command", ["solve", "certify", "demo", "validate"])
def test_negative_seed_is_refused_naming_the_option(tmp_path, data, capsys, command):
    network = tmp_path / "net.npz"
    np.savez(network, W1=np.ones((2, 3)), w2=np.ones(2))
    args = {
        "solve": ["solve", data, "--lam", 0.1],
        "certify": ["certify", data, "--network", network, "--lam", 0.1],
        "demo": ["demo", "--no-figures"],
        "validate": ["validate", "--datasets", "gallery:xor", "--out", tmp_path / "report", "--quiet"],
    }[command]
    code, out, err = run(capsys, *args, "--seed", -1)
    assert code == 2 and out == ""
    assert_one_line(err, f"relu-convex {command}: error: --seed must be an integer >= 0, got -1")
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("timeout", ["-1", "0", "nan"])
def test_non_positive_connect_timeout_is_refused(tmp_path, capsys, timeout):
    code, _, err = run(capsys, "validate", "--datasets", "gallery:xor", "--out", tmp_path / "r", "--quiet",
                       "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout", timeout)
    assert code == 2
    assert_one_line(err, "--connect-timeout must be a finite number of seconds > 0")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("address", ["garbage", "tcp://host-without-port", "nosuchscheme://h:1"])
def test_malformed_scheduler_address_gives_one_line_and_no_dask_traceback(tmp_path, capsys, address):
    pytest.importorskip("distributed")
    code, _, err = run(capsys, "validate", "--datasets", "gallery:xor", "--out", tmp_path / "r", "--quiet",
                       "--scheduler", address, "--connect-timeout", 1)
    assert code == 2
    assert_one_line(err, f"--scheduler: {address!r} is not a Dask scheduler address", "expected tcp://HOST:PORT")


def test_connect_refuses_a_non_positive_timeout():
    with pytest.raises(ValueError, match="--connect-timeout must be"):
        connect("tcp://127.0.0.1:1", timeout=-1.0)


@pytest.mark.parametrize("make", ["file", "proc"])
def test_validate_out_that_cannot_be_a_folder_is_refused_before_any_work(tmp_path, capsys, make):
    out = tmp_path / "taken" if make == "file" else "/proc/relu-convex-no-such-folder/x"
    if make == "file":
        out.write_text("")
    code, _, err = run(capsys, "validate", "--datasets", "gallery:xor", "--out", out, "--quiet", "--workers", 1)
    assert code == 2
    assert_one_line(err, "relu-convex validate: error: --out: ")


@pytest.mark.parametrize(
    ("suite", "message"),
    [
        ({"datasets": ["gallery:xor"], "max_samples": -5}, "'max_samples' must be an integer >= 1 or null, got -5"),
        ({"datasets": ["gallery:xor"], "max_samples": 0}, "'max_samples' must be an integer >= 1 or null, got 0"),
        ({"datasets": ["gallery:xor"], "max_samples": True}, "'max_samples' must be an integer >= 1 or null"),
        ({"datasets": ["gallery:xor"], "patterns": 0}, "'patterns' must be an integer >= 1 or \"exact\", got 0"),
        ({"datasets": ["gallery:xor"], "patterns": 2.5}, "'patterns' must be an integer >= 1"),
        ({"datasets": ["gallery:xor"], "seed": -1}, "'seed' must be an integer >= 0, got -1"),
        ({"datasets": ["gallery:xor"], "seed": "x"}, "'seed' must be an integer >= 0, got 'x'"),
    ],
)
def test_suite_file_values_are_checked_naming_the_key(tmp_path, capsys, suite, message):
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    code, _, err = run(capsys, "validate", "--suite", path, "--out", tmp_path / "r", "--quiet")
    assert code == 2
    assert_one_line(err, message)
    assert not (tmp_path / "r").exists()


def test_suite_file_accepts_integral_values(tmp_path):
    from relu_convex.validation import read_suite_file

    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"datasets": ["sklearn:iris"], "lams": [0.1], "max_samples": 30.0, "patterns": "7", "seed": 3}))
    specs = read_suite_file(path)
    assert {(s.max_samples, s.patterns, s.seed) for s in specs} == {(30, 7, 3)}


@pytest.mark.parametrize("command", ["validate", "solve", "certify", "demo"])
def test_subcommand_help_is_plain_text(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and ":mod:" not in out
    if command in ("validate", "solve", "demo"):
        assert f"relu-convex {command}:" in out


def test_version_is_the_installed_one(capsys):
    from importlib import metadata

    import relu_convex

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out.strip()
    try:
        expected = metadata.version("relu-convex")
    except metadata.PackageNotFoundError:
        expected = relu_convex.__version__
    assert out == f"relu-convex {expected}"


def test_version_falls_back_to_the_package_attribute(monkeypatch):
    from importlib import metadata

    import relu_convex
    from relu_convex.cli import package_version

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert package_version() == relu_convex.__version__


def test_a_missing_extra_raised_by_a_command_is_one_line(capsys, monkeypatch):
    import relu_convex.cli.solve as solve

    def needs_extra(args):
        raise ImportError("this needs torch: pip install 'relu-convex[torch]'")

    monkeypatch.setattr(solve, "run", needs_extra)
    code, _, err = run(capsys, "solve", "x.npz", "--lam", 0.1)
    assert code == 2
    assert err == "relu-convex solve: error: this needs torch: pip install 'relu-convex[torch]'\n"


@pytest.mark.parametrize("where", ["missing-folder", "directory", "file-as-folder"])
def test_save_network_is_checked_before_solving(tmp_path, data, capsys, monkeypatch, where):
    import relu_convex.cli.solve as solve

    def fail(*args, **kwargs):
        raise AssertionError("solved")

    monkeypatch.setattr(solve, "load_dataset", fail)
    (tmp_path / "plain").write_text("")
    target = {"missing-folder": tmp_path / "nope" / "x.npz", "directory": tmp_path,
              "file-as-folder": tmp_path / "plain" / "x.npz"}[where]
    code, out, err = run(capsys, "solve", data, "--lam", 0.1, "--save-network", target)
    assert code == 2 and out == ""
    assert_one_line(err, "relu-convex solve: error: --save-network: ")
    assert "Errno" not in err


def test_save_network_writes_into_an_existing_folder(tmp_path, data, capsys):
    target = tmp_path / "net.npz"
    code, out, _ = run(capsys, "solve", data, "--lam", 0.1, "--patterns", 5, "--save-network", target, "--json")
    assert code == 0 and json.loads(out)["network_file"] == str(target)
    assert target.is_file()
