"""Tests of eventcnn.learn.evaluate: metrics.json/report.md with the baseline, predict on images and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eventcnn.cli import main
from eventcnn.learn.evaluate import evaluate_run


def test_evaluate_writes_metrics_report_and_baseline(cms_run):
    m = evaluate_run(cms_run / "run", quiet=True)
    saved = json.loads((cms_run / "run" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(m))
    for key in ("accuracy", "balanced_accuracy", "per_class", "confusion_matrix", "roc_auc", "auc",
                "signal_efficiency", "baseline", "plots", "model"):
        assert key in saved, key
    assert saved["n"] == 6 and set(saved["per_class"]) == {"tt", "w"}
    assert np.asarray(saved["confusion_matrix"]["counts"]).sum() == 6
    # the baseline ran on the same 6 test events (the jet multiplicity separates these toys)
    assert saved["baseline"]["n"] == 6 and saved["baseline"]["accuracy"]["value"] >= 0.5
    # every figure carries its interval; the CNN and the trees are compared on the same events
    assert saved["accuracy"]["ci95"][0] <= saved["accuracy"]["value"] <= saved["accuracy"]["ci95"][1]
    assert set(saved["cnn_minus_baseline"]["auc"]) == {"value", "ci95"}
    assert (cms_run / "run" / "test_scores.csv").is_file()
    report = (cms_run / "run" / "report.md").read_text()
    assert "gradient-boosted trees" in report and "CNN" in report
    for plot in ("roc.png", "efficiency_rejection.png", "confusion_matrix_normalized.png"):
        assert (cms_run / "run" / plot).exists()


def test_cli_evaluate_and_predict(cms_run, tmp_path):
    assert main(["evaluate", str(cms_run / "run"), "--no-baseline", "--quiet"]) == 0
    assert json.loads((cms_run / "run" / "metrics.json").read_text())["baseline"] == {"skipped": "disabled"}
    out = tmp_path / "p.csv"
    assert main(["predict", str(cms_run / "run"), str(cms_run / "tt.json"), "--out", str(out), "--quiet"]) == 0
    assert out.read_text().count("\n") == 21
    assert main(["predict", str(cms_run / "run"), str(tmp_path / "missing.png"), "--quiet"]) == 1
    assert main(["evaluate", str(tmp_path), "--quiet"]) == 1


def test_baseline_fallback_is_recorded_and_bugs_propagate(cms_run, tmp_path, monkeypatch):
    import shutil

    import eventcnn.learn.baseline

    run = tmp_path / "run"
    shutil.copytree(cms_run / "run", run)
    split = json.loads((run / "split.json").read_text())
    for part in ("train", "val", "test"):
        for row in split[part]:
            row["source"] = str(tmp_path / "gone" / row["source"].rsplit("/", 1)[-1])  # event files deleted
    (run / "split.json").write_text(json.dumps(split))
    with pytest.warns(UserWarning, match="baseline skipped: cannot read the events behind the images"):
        m = evaluate_run(run, data_dir=cms_run / "images", quiet=True)
    assert "not found" in m["baseline"]["skipped"]
    assert json.loads((run / "metrics.json").read_text())["baseline"] == m["baseline"]

    def bug(*_a, **_k):
        raise KeyError("class")

    monkeypatch.setattr(eventcnn.learn.baseline, "features_for_manifest", bug)
    with pytest.raises(KeyError):
        evaluate_run(run, data_dir=cms_run / "images", quiet=True)


def test_cli_opal_run_is_evaluated_and_compared_like_a_cms_run(opal_folder, tmp_path: Path, capsys) -> None:
    """`eventcnn evaluate` and `eventcnn compare` read the run folder `eventcnn opal train` writes."""
    import json

    from eventcnn.cli import main

    d, labels = opal_folder
    reference = tmp_path / "reference.csv"
    reference.write_text(labels.read_text() + "ev6.png;m\n")
    out = tmp_path / "run"
    assert main(["opal", "train", "--data", str(d), "--labels", str(labels), "--size", "64", "--epochs", "1",
                 "--out", str(out), "--quiet", "--reference", str(reference)]) == 0
    first = json.loads((out / "metrics.json").read_text())
    (out / "metrics.json").unlink()
    assert main(["evaluate", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == "opal" and sum(map(sum, m["confusion_matrix"]["counts"])) == 1  # ev6, the one unlabelled
    assert m["accuracy"]["value"] == first["accuracy"] and len(m["accuracy"]["ci95"]) == 2
    assert (out / "test_scores.csv").read_text().startswith("key,file,true,cnn:p_q")
    assert (out / "report.md").read_text().startswith(f"# Evaluation of `{out}` (OPAL)")
    capsys.readouterr()
    assert main(["compare", str(out)]) == 0
    assert "| run " in capsys.readouterr().out
