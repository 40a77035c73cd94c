"""genrt eval: metric formulas against plain references, their behaviour on real digits, the CLI, the classifier."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
from scipy import linalg

from genrt.cli import main
from genrt.data import load_dataset, split
from genrt.eval import Extractor, bundled_extractor_path, evaluate
from genrt.eval import metrics
from genrt.eval.core import real_features
from genrt.runtime import default_model_path


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    return split(data, "train"), split(data, "holdout")


@pytest.fixture(scope="module")
def extractor():
    return Extractor()


def run_cli(*args, capsys):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------ formulas against plain references


def test_fid_matches_the_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 6))
    b = rng.standard_normal((150, 6)) @ rng.standard_normal((6, 6)) * 0.7 + 0.3
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert metrics.fid(a, b) == pytest.approx(reference, rel=1e-7)
    assert metrics.fid(a, a) == pytest.approx(0, abs=1e-9)


def test_kid_matches_a_double_loop():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((12, 4)), rng.standard_normal((9, 4)) + 0.5

    def k(u, v):
        return (u @ v / 4 + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(12) for j in range(12) if i != j) / (12 * 11)
    yy = sum(k(y[i], y[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy = sum(k(x[i], y[j]) for i in range(12) for j in range(9)) / (12 * 9)
    # one subset holding everything: a permutation, so the estimate is exact and deterministic
    x9 = x[:9]
    xx9 = sum(k(x9[i], x9[j]) for i in range(9) for j in range(9) if i != j) / (9 * 8)
    xy9 = sum(k(x9[i], y[j]) for i in range(9) for j in range(9)) / 81
    assert metrics._mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    mean, se, std = metrics.kid(x9, y, subsets=1, subset_size=9, normalise=False)
    assert mean == pytest.approx(xx9 + yy - 2 * xy9, rel=1e-10) and se == 0 and std == 0


def test_inception_score_matches_its_definition():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(5) * 0.3, size=40)
    marginal = p.mean(0)
    expected = np.exp(np.mean([np.sum(row * np.log(row / marginal)) for row in p]))
    assert metrics.inception_score(p, splits=1)[0] == pytest.approx(expected, rel=1e-10)
    assert metrics.inception_score(np.full((30, 4), 0.25), splits=3)[0] == pytest.approx(1.0)
    assert metrics.inception_score(np.eye(4)[np.arange(40) % 4], splits=1)[0] == pytest.approx(4.0)  # K classes, sure


def test_precision_recall_match_brute_force():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((30, 3)), rng.standard_normal((30, 3)) * 1.5 + 0.8

    def coverage(points, centres, k=3):
        d = np.linalg.norm(centres[:, None] - centres[None], axis=2)
        radii = np.sort(d, axis=1)[:, k]
        return np.mean([any(np.linalg.norm(p - c) <= r for c, r in zip(centres, radii)) for p in points])

    precision, recall = metrics.precision_recall(real, fake)
    assert precision == pytest.approx(coverage(fake, real)) and recall == pytest.approx(coverage(real, fake))


# ------------------------------------------------------------ behaviour on real digits


def test_metrics_rank_real_split_and_noise_as_expected(digits, extractor):
    train_part, holdout = digits
    real_f, real_p = real_features(holdout, extractor)
    other_f, _ = real_features(train_part, extractor)
    noise = np.random.default_rng(0).integers(0, 256, (1000, 28, 28, 1), dtype=np.uint8)
    noise_f, noise_p = extractor(noise)

    assert metrics.fid(real_f, real_f) == pytest.approx(0, abs=1e-3)  # traces are ~1e3: rounding only
    fid_split, fid_noise = metrics.fid(real_f, other_f), metrics.fid(real_f, noise_f)
    assert fid_split < 30 and fid_noise > 20 * fid_split

    kid_split, kid_split_se, _ = metrics.kid(real_f, other_f)
    kid_noise, _, _ = metrics.kid(real_f, noise_f)
    assert abs(kid_split) < 0.01 and kid_noise > 100 * max(abs(kid_split), kid_split_se)

    assert metrics.precision_recall(real_f, real_f) == (1.0, 1.0)
    p_split, r_split = metrics.precision_recall(real_f, other_f)
    p_noise, r_noise = metrics.precision_recall(real_f, noise_f)
    assert p_split > 0.8 and r_split > 0.8 and r_noise < 0.05
    # Noise features collapse near one point, which a few wide real outlier balls cover: the k-NN
    # precision's known weakness (Kynkaanniemi et al.). It still falls far below the real split's.
    assert p_noise < p_split - 0.3

    assert metrics.inception_score(real_p)[0] > 9 and metrics.inception_score(noise_p)[0] < 3


def test_the_bundled_cgan_draws_the_class_it_is_asked_for():
    report = evaluate(default_model_path(), n=1000)
    m = report["metrics"]
    assert m["class_accuracy"] >= 0.90  # the evaluation issue's target, measured on 1,000 samples
    assert min(m["per_class_accuracy"]) >= 0.75
    assert report["extractor"]["sha256"] == __import__("genrt.files", fromlist=["x"]).file_sha256(
        bundled_extractor_path())
    assert report["data"]["images"] == 1000 and report["n"] == 1000


def test_real_features_are_cached(digits, extractor, tmp_path):
    _, holdout = digits
    first = real_features(holdout, extractor)
    files = list((tmp_path / "cache" / "eval").glob("real-*.npz"))
    assert len(files) == 1
    again = real_features(holdout, extractor)
    np.testing.assert_array_equal(first[0], again[0])
    files[0].write_bytes(b"damaged")  # a damaged entry is recomputed, not trusted
    np.testing.assert_array_equal(real_features(holdout, extractor)[0], first[0])


# ------------------------------------------------------------ the command


def test_cli_eval_prints_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "eval.json"
    status, text, err = run_cli("eval", "-n", "300", "--json", out, capsys=capsys)
    assert status == 0, err
    report = json.loads(out.read_text())
    assert report["schema"] == "genrt.eval/1"
    assert set(report["metrics"]) >= {"fid", "kid", "kid_se", "inception_score", "precision", "recall",
                                      "class_accuracy", "per_class_accuracy"}
    assert report["extractor"]["sha256"][:16] in text and "FID" in text and "accuracy" in text
    status, text, _ = run_cli("eval", "--real", capsys=capsys)
    assert status == 0 and "real images: digits (train)" in text


def test_variants_table(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    shutil.copy(default_model_path(), model)
    shutil.copy(default_model_path(), tmp_path / "m.int8.onnx")  # stands in for an int8 file: tests the selection
    status, text, err = run_cli("eval", model, "-n", "200", "--variants", capsys=capsys)
    assert status == 0, err
    assert "variant" in text and "p50 @64" in text and len([l for l in text.splitlines() if "ms" in l]) == 2


@pytest.mark.parametrize("case, message", [
    ("extractor is a generator", "is not a genrt classifier"),
    ("missing extractor", "extractor not found"),
    ("wrong data shape", "has 1x32x32 images, the generator makes 1x28x28"),
    ("too few", "Invalid value for '-n'"),
    ("too few reference images", "--data 'fake:5' holds out 0 of its 5 images as the reference"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, case, message):
    args = {"extractor is a generator": ["--extractor", default_model_path()],
            "missing extractor": ["--extractor", tmp_path / "none.onnx"],
            "wrong data shape": ["--data", tmp_path / "images", "-n", "20"],
            "too few": ["-n", "5"],
            "too few reference images": ["--data", "fake:5", "-n", "20"]}[case]
    if case == "wrong data shape":  # a folder of 32x32 images, two classes
        from PIL import Image

        for label in ("a", "b"):
            (tmp_path / "images" / label).mkdir(parents=True)
            for i in range(3):
                Image.new("L", (32, 32), 40 * i).save(tmp_path / "images" / label / f"{i}.png")
    status, _, err = run_cli("eval", *args, "--json", tmp_path / "r.json", capsys=capsys)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r.json").exists()


def test_a_model_trained_on_the_held_out_images_gets_a_warning(tmp_path, capsys):
    import onnx

    model = onnx.load(default_model_path())
    props = {p.key: p.value for p in model.metadata_props} | {"genrt.sha256": "none"}  # an edit, accepted
    props["genrt.source"] = json.dumps({**json.loads(props["genrt.source"]), "dataset": "digits"})  # split all
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(tmp_path / "all.onnx"))
    status, _, err = run_cli("eval", tmp_path / "all.onnx", "-n", "20", capsys=capsys)
    assert status == 0
    assert "was trained on all of --data 'digits', the held-out images it is scored against included" in err


def test_scores_from_few_images_come_with_a_warning(capsys):
    status, out, err = run_cli("eval", "--data", "fake:300", "-n", "20", capsys=capsys)
    assert status == 0 and "FID" in out
    assert "genrt: warning: FID against 60 held-out images is unstable" in err
    assert "genrt: warning: FID from 20 samples is unstable and biased upward (use -n 1,000 or more)" in err
    # The bundled model was trained on the train part only: no warning. A model trained on all digits gets one.
    status, _, err = run_cli("eval", "-n", "20", capsys=capsys)
    assert status == 0 and "the held-out images it is scored against included" not in err


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(),
                    reason="a GPU onnxruntime: device auto may not fall back")
def test_eval_on_a_cpu_wheel_runs_on_cpu_without_a_fallback_warning(capsys):
    """A CPU wheel asked for no GPU, so `--device auto` running on CPU is no fallback to warn about."""
    status, out, err = run_cli("eval", "-n", "20", "--device", "auto", capsys=capsys)
    assert status == 0, err
    assert "genrt: warning: running " not in err and "FID" in out


def test_eval_runs_with_the_runtime_install_alone():
    """The default reference digits ship with genrt: eval needs neither torch nor the train extra's packages."""
    code = ("import sys\n"
            "class Absent:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'mlxtend', 'safetensors', 'onnx'):\n"
            "            raise ImportError(f'{name} is not installed')\n"
            "sys.meta_path.insert(0, Absent())\n"
            "from genrt.cli import main\n"
            "assert main(['eval', '-n', '50']) == 0\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------ the classifier


def test_train_and_export_a_classifier(tmp_path, capsys):
    pytest.importorskip("torch")
    from genrt.export import export_checkpoint
    from genrt.train import TrainConfig, load_checkpoint, train

    config = TrainConfig(model="classifier", data="fake:120", batch_size=16, ndf=16, steps=6,
                         out=str(tmp_path / "clf"))
    summary = train(config, progress=False, log=lambda m: None)
    ck = load_checkpoint(summary["checkpoint"])
    assert ck.model_config.kind == "classifier" and 0 <= ck.state["holdout_accuracy"] <= 1
    assert ck.data["holdout_images"] == 20 and ck.data["train_images"] == 100  # round(20% of 12) of each class
    path = str(tmp_path / "clf.onnx")
    result = export_checkpoint(summary["checkpoint"], path, batch_sizes=(1, 7, 64), log=lambda m: None)
    assert result.kind == "classifier" and not result.reports["fp32"].images
    ex = Extractor(path)
    features, probs = ex(np.zeros((5, 28, 28, 1), np.uint8))
    assert features.shape == (5, 128) and probs.shape == (5, 10)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-9)
    assert ex.holdout_accuracy == pytest.approx(ck.state["holdout_accuracy"], abs=1e-4)
    status, _, err = run_cli("export", summary["checkpoint"], "-o", tmp_path / "x.onnx", "--fp16", capsys=capsys)
    assert status == 2 and "a classifier exports as float32 only" in err


def test_classifier_training_honours_its_flags(tmp_path, capsys, monkeypatch):
    """--minutes stops it, --device cuda without a GPU and torchrun are refused with one line, nothing written."""
    torch = pytest.importorskip("torch")
    from genrt.train import TrainConfig, train

    config = TrainConfig(model="classifier", data="fake:120", batch_size=16, ndf=16, epochs=1000, minutes=1e-9,
                         out=str(tmp_path / "clf"))
    summary = train(config, progress=False, log=lambda m: None)
    assert summary["epochs"] == 0 and summary["steps"] == 0 and os.path.isfile(summary["checkpoint"])

    out = tmp_path / "refused"
    if not torch.cuda.is_available():
        status, _, err = run_cli("train", "classifier", "--data", "fake:120", "--device", "cuda", "--out", out,
                                 capsys=capsys)
        assert status == 2 and err.startswith("genrt: error: --device cuda: PyTorch sees no usable GPU")
    monkeypatch.setenv("WORLD_SIZE", "2")
    status, _, err = run_cli("train", "classifier", "--data", "fake:120", "--out", out, capsys=capsys)
    assert status == 2 and "the classifier trains in one process" in err
    assert not out.exists()
