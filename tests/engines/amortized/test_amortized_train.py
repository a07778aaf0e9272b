"""Training CLI: checkpoints, and resume gives the same weights as an uninterrupted run."""

import os

import torch

from tabmixr.engines.amortized.train import CHECKPOINT, main

ARGS = ["--seed", "4", "--max-groups", "6", "--max-size", "6", "--dim", "8", "--couplings", "2",
        "--hidden", "16", "--batch-size", "4", "--checkpoint-every", "3", "--device", "cpu"]


def _weights(d):
    return torch.load(os.path.join(d, CHECKPOINT), weights_only=False)


def test_resume_equals_straight_run(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    main(ARGS + ["--steps", "3", "--checkpoint-dir", a])
    assert _weights(a)["step"] == 3
    main(ARGS + ["--steps", "5", "--checkpoint-dir", a, "--resume"])
    main(ARGS + ["--steps", "5", "--checkpoint-dir", b])
    wa, wb = _weights(a), _weights(b)
    assert wa["step"] == wb["step"] == 5
    assert wa["model"].keys() == wb["model"].keys()
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k
    assert "resumed from" in capsys.readouterr().out
    # training moved the weights
    main(ARGS + ["--steps", "1", "--checkpoint-dir", str(tmp_path / "c")])
    one = _weights(str(tmp_path / "c"))["model"]
    assert any(not torch.equal(one[k], wa["model"][k]) for k in one)


def test_export_and_load_shipped_weights(tmp_path):
    import numpy as np

    from tabmixr.engines.amortized.conformal import ConformalCalibration
    from tabmixr.engines.amortized.engine import export_weights, load_shipped_model

    d = str(tmp_path / "run")
    main(ARGS + ["--steps", "1", "--checkpoint-dir", d])
    cal = ConformalCalibration(names=("sigma",), alphas=(0.05,), q_lower=np.array([[0.1]]),
                               q_upper=np.array([[0.2]]), n_calibration=np.array([10]))
    out = export_weights(os.path.join(d, CHECKPOINT), cal, str(tmp_path / "w" / "amortized.pt"))
    model, cal2 = load_shipped_model(out)
    trained = _weights(d)["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, trained[k].float()), k
    assert cal2.q_upper[0, 0] == 0.2 and cal2.names == ("sigma",)


def test_calibration_cli_exports_loadable_weights(tmp_path, capsys):
    from tabmixr.engines.amortized.calibration import main as calibrate_main
    from tabmixr.engines.amortized.engine import load_shipped_model

    d = str(tmp_path / "run")
    main(ARGS + ["--steps", "2", "--checkpoint-dir", d])
    out = calibrate_main(["--checkpoint", os.path.join(d, CHECKPOINT), "--n-sets", "12", "--n-test", "6",
                          "--n-draws", "60", "--no-importance", "--out", str(tmp_path / "w.pt")])
    text = capsys.readouterr().out
    assert "sigma" in text and "CE cal" in text
    model, cal = load_shipped_model(out)
    assert "sigma" in cal.names and cal.q_lower.shape == (15, 5)


def test_row_encoder_trains_on_bucketed_batches_and_resumes_exactly(tmp_path):
    rows = ARGS + ["--local-depth", "1", "--pool", "3"]
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    main(rows + ["--steps", "3", "--checkpoint-dir", a])
    main(rows + ["--steps", "6", "--checkpoint-dir", a, "--resume"])
    main(rows + ["--steps", "6", "--checkpoint-dir", b])
    wa, wb = _weights(a), _weights(b)
    assert wa["model_config"]["local_depth"] == 1 and any(k.startswith("local.") for k in wa["model"])
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k


def test_pool_must_divide_the_checkpoint_interval(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="multiple of pool"):
        main(ARGS + ["--local-depth", "1", "--pool", "2", "--steps", "2",
                     "--checkpoint-dir", str(tmp_path / "a")])
