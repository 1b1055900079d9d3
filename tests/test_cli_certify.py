"""The ``relu-convex certify`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest

import relu_convex as rc
from relu_convex.cli import main

LAM = 0.01


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Data as .npz and .csv, and networks in the accepted layouts."""
    root = tmp_path_factory.mktemp("certify")
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-2, 2, 14))
    y = np.sin(2 * x) + 0.1 * rng.standard_normal(14)
    np.savez(root / "data.npz", X=x[:, None], y=y)
    np.savetxt(root / "data.csv", np.c_[x, y], delimiter=",", header="x,target", comments="")
    X = rc.add_bias(x[:, None])
    net = rc.train_network(X, y, LAM, width=8, steps=2000, seed=0).network
    np.savez(root / "biases.npz", W1=net.W1[:, :1], b1=net.W1[:, 1], w2=net.w2)  # hidden biases as b1
    np.savez(root / "columns.npz", W1=net.W1, w2=net.w2)  # bias as the last column of W1
    np.savez(root / "offset.npz", W1=net.W1, w2=net.w2, b2=np.array(0.25))
    np.savez(root / "wide.npz", W1=np.ones((3, 4)), w2=np.ones(3))
    np.savez(root / "badb1.npz", W1=net.W1[:, :1], b1=np.ones(3), w2=net.w2)
    np.savez(root / "nan.npz", W1=net.W1 * np.nan, w2=net.w2)
    np.save(root / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (root / "objects.npz").write_bytes((root / "objects.npy").read_bytes())  # not an npz archive
    np.savez(root / "pickled.npz", W1=np.array([{"a": 1}], dtype=object), w2=np.ones(1))
    return root, X, y, net


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_certify_npz_with_b1(files, capsys):
    root, X, y, net = files
    code, out, err = run(capsys, "certify", root / "data.npz", "--network", root / "biases.npz", "--lam", LAM)
    assert code == 0, err
    assert "lower bound" in out and "rigorous" in out and "column of ones appended" in out
    expected = rc.certify_network(net, X, y, LAM)
    assert f"{expected.lower_bound:.12g}" in out


def test_certify_csv_with_bias_column_json(files, capsys):
    root, X, y, net = files
    code, out, err = run(capsys, "certify", root / "data.csv", "--network", root / "columns.npz", "--lam", LAM, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "NetworkCertificate" and data["rigorous"] is True and data["pattern_set"] == "exact"
    assert data["objective"] == pytest.approx(net.objective(X, y, LAM), rel=1e-12)
    assert data["lower_bound"] <= data["objective"]
    assert data["output_offset"] == "none"


def test_certify_sampled_patterns_is_relative(files, capsys):
    root, *_ = files
    code, out, err = run(
        capsys, "certify", root / "data.npz", "--network", root / "columns.npz", "--lam", LAM, "--patterns", 5, "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["rigorous"] is False and data["pattern_set"].startswith("sampled: 5 gates")


def test_certify_output_offset_is_unpenalized(files, capsys):
    root, X, y, net = files
    code, out, err = run(capsys, "certify", root / "data.npz", "--network", root / "offset.npz", "--lam", LAM, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert "unpenalized" in data["output_offset"] and "unpenalized" in data["objective_kind"]
    r = net.predict(X) + 0.25 - y
    assert data["objective"] == pytest.approx(r @ r / (2 * len(y)) + LAM * net.penalty(), rel=1e-12)


def test_certify_upper_bound(files, capsys):
    root, *_ = files
    code, out, err = run(
        capsys, "certify", root / "data.npz", "--network", root / "columns.npz", "--lam", LAM, "--upper-bound", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["lower_bound"] <= data["upper_bound"] <= data["objective"] * (1 + 1e-9)


@pytest.mark.parametrize(
    "args,names",
    [
        (["DATA", "--network", "missing.npz", "--lam", LAM], "--network: file not found"),
        (["missing.csv", "--network", "columns.npz", "--lam", LAM], "DATA: file not found"),
        (["DATA", "--network", "columns.npz", "--lam", -1], "--lam must be finite and >= 0"),
        (["DATA", "--network", "columns.npz", "--lam", LAM, "--patterns", "many"], "--patterns must be 'exact'"),
        (["DATA", "--network", "columns.npz", "--lam", LAM, "--patterns", 0], "--patterns must be an integer >= 1"),
        (["DATA", "--network", "columns.npz", "--lam", LAM, "--max-patterns", 3], "above --max-patterns 3"),
        (["DATA", "--network", "wide.npz", "--lam", LAM], "--network: W1 has 4 columns"),
        (["DATA", "--network", "badb1.npz", "--lam", LAM], "--network: b1 must hold"),
        (["DATA", "--network", "nan.npz", "--lam", LAM], "--network: W1 must contain only finite numbers"),
        (["DATA", "--network", "objects.npz", "--lam", LAM], "--network: cannot read"),
        (["DATA", "--network", "pickled.npz", "--lam", LAM], "--network: cannot read"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(files, capsys, args, names):
    root, *_ = files
    argv = ["certify"] + [
        root / "data.npz" if a == "DATA" else (root / a if isinstance(a, str) and a.endswith((".npz", ".csv")) else a)
        for a in args
    ]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert names in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_required_argument_is_a_usage_error(files, capsys):
    root, *_ = files
    with pytest.raises(SystemExit) as exc:
        main(["certify", str(root / "data.npz"), "--lam", "0.1"])
    assert exc.value.code == 2
    assert "--network" in capsys.readouterr().err


# -- one network file format: ReLUNetwork.save / load, solve --save-network, certify --network --


def test_saved_offset_is_certified(files, capsys, tmp_path):
    root, X, y, net = files
    with_offset = rc.ReLUNetwork(net.W1, net.w2, offset=0.25)
    with_offset.save(tmp_path / "saved.npz")
    code, out, err = run(capsys, "certify", root / "data.npz", "--network", tmp_path / "saved.npz", "--lam", LAM, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["objective"] == pytest.approx(with_offset.objective(X, y, LAM), rel=1e-12)
    assert data["output_offset"].startswith("offset = [0.25], unpenalized")
    # the earlier name b2 (offset.npz) gives the same certificate
    code, out, err = run(capsys, "certify", root / "data.npz", "--network", root / "offset.npz", "--lam", LAM, "--json")
    assert code == 0, err
    legacy = json.loads(out)
    assert legacy["objective"] == data["objective"] and legacy["lower_bound"] == data["lower_bound"]


def test_solve_save_network_then_certify(files, capsys, tmp_path):
    root, X, y, _ = files
    saved = tmp_path / "relu.npz"
    code, out, err = run(capsys, "solve", root / "data.npz", "--lam", LAM, "--patterns", "exact", "--solver", "ipm",
                         "--save-network", saved, "--json")
    assert code == 0, err
    solved = json.loads(out)
    assert solved["max_violation"] <= 1e-12  # feasible to rounding: its network has the same objective
    code, out, err = run(capsys, "certify", root / "data.npz", "--network", saved, "--lam", LAM, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["hidden_bias"].startswith("column of ones") and data["output_offset"] == "none"
    assert data["objective"] == pytest.approx(solved["objective"], rel=1e-9)
    assert data["lower_bound"] <= data["objective"] and data["relative_gap"] <= 1e-6


def test_gated_network_file_is_refused(files, capsys, tmp_path):
    root, *_ = files
    saved = tmp_path / "gated.npz"
    code, out, err = run(capsys, "solve", root / "data.npz", "--lam", LAM, "--program", "grelu", "--patterns", 20,
                         "--save-network", saved)
    assert code == 0, err
    assert "gates" in np.load(saved).files
    code, out, err = run(capsys, "certify", root / "data.npz", "--network", saved, "--lam", LAM)
    assert code == 2 and out == ""
    assert "--network: the file holds a gated ReLU network" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    net = rc.ReLUNetwork(rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), offset=[0.5, -1.5])
    net.save(tmp_path / "net.npz")
    assert sorted(np.load(tmp_path / "net.npz").files) == ["W1", "offset", "w2"]
    back = rc.ReLUNetwork.load(tmp_path / "net.npz")
    assert type(back) is rc.ReLUNetwork
    for name in ("W1", "w2", "offset"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    gated = rc.GatedReLUNetwork(rng.standard_normal((4, 3)), net.W1, net.w2, offset=[1.0, 2.0])
    gated.save(tmp_path / "gated.npz")
    for cls in (rc.ReLUNetwork, rc.GatedReLUNetwork):  # the gates are never dropped
        back = cls.load(tmp_path / "gated.npz")
        assert isinstance(back, rc.GatedReLUNetwork)
        np.testing.assert_array_equal(back.gates, gated.gates)
        np.testing.assert_array_equal(back.offset, gated.offset)
    with pytest.raises(ValueError, match="holds no gates"):
        rc.GatedReLUNetwork.load(tmp_path / "net.npz")


def test_network_file_arrays():
    from relu_convex.networks import network_from_arrays

    W1, w2 = np.arange(6.0).reshape(3, 2), np.array([1.0, -1.0, 2.0])
    b1 = np.array([0.1, 0.2, 0.3])
    net = network_from_arrays({"W1": W1, "w2": w2, "b1": b1, "b2": np.array(0.5)})
    np.testing.assert_array_equal(net.W1, np.c_[W1, b1])
    assert net.offset == 0.5
    assert network_from_arrays({"W1": W1, "w2": w2, "offset": np.array(0.5)}).offset == 0.5
    for arrays, match in [
        ({"W1": W1}, "network must hold arrays W1 and w2; missing w2"),
        ({"W1": W1, "w2": w2, "offset": 0.5, "b2": 0.5}, "both offset and b2"),
        ({"W1": W1, "w2": w2, "bias": b1}, "holds arrays bias, which are not part of a network file"),
        ({"W1": W1, "w2": w2, "b1": b1[:2]}, "network: b1 must hold 3 finite hidden biases"),
        ({"W1": W1, "w2": w2, "b2": np.ones(2)}, r"network: b2 \(the output offset\): offset must have shape \(\)"),
        ({"W1": W1, "w2": w2, "gates": np.ones((3, 3))}, r"network: gates must have shape \(d, m\) = \(2, 3\)"),
    ]:
        with pytest.raises(ValueError, match=match):
            network_from_arrays(arrays)
