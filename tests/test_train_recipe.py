"""The small-data GAN recipe (genrt.train.recipe, quality.py): augmentation, adaptive p, spectral norm, R1, TTUR,
and quality scored while training, on real (tiny) PyTorch runs."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genrt.cli import main
from genrt.errors import InputError
from genrt.train import TrainConfig, build_models, load_checkpoint, train
from genrt.train.models import ModelConfig, minibatch_std
from genrt.train.recipe import ADA_INTERVAL, Augmenter, augment, cutout, parse_augment, r1_penalty, translate

TINY = {"data": "fake:64", "split": "all", "batch_size": 16, "ngf": 8, "ndf": 8, "latent_dim": 16, "log_every": 1}
RECIPE = {"loss": "hinge", "d_norm": "spectral", "augment": "translation,cutout,color", "augment_p": 0.5,
          "ada_target": 0.6, "r1_gamma": 1.0, "r1_every": 2, "lr_d": 4e-4, "d_mbstd": 4, "class_weight": 0.5}


def quiet(message):
    pass


def images(n=6, size=8, seed=0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed)) + 0.5  # no zeros in it


def test_translation_shifts_each_image_by_whole_pixels_within_an_eighth():
    x = images(n=32, size=16)
    moved = translate(x, torch.Generator().manual_seed(1))
    shifts = []
    for original, result in zip(x[:, 0], moved[:, 0]):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(result, _shifted(original, dy, dx))]
        assert found, "each image is its original shifted by at most 16/8 pixels, the border filled with 0"
        shifts.append(found[0])
    assert len(set(shifts)) > 5  # the shifts vary between images


def _shifted(image, dy, dx):
    out = torch.zeros_like(image)
    h, w = image.shape
    for r in range(h):
        for c in range(w):
            if 0 <= r + dy < h and 0 <= c + dx < w:
                out[r, c] = image[r + dy, c + dx]
    return out


def test_cutout_zeroes_one_square_of_half_the_size_and_keeps_the_rest():
    x = images(n=32, size=16)
    cut = cutout(x, torch.Generator().manual_seed(2))
    for original, result in zip(x[:, 0], cut[:, 0]):
        hole = result == 0
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert hole[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one rectangle
        assert int(hole.sum()) == len(rows) * len(cols)
        assert torch.equal(result[~hole], original[~hole])


def test_color_is_an_affine_change_of_each_image_and_p_chooses_images():
    x = images(n=16)
    coloured = augment(x, ("color",), 1.0, torch.Generator().manual_seed(3))
    for original, result in zip(x.flatten(1), coloured.flatten(1)):
        a, b = np.polyfit(original.numpy(), result.numpy(), 1)
        np.testing.assert_allclose(result.numpy(), a * original.numpy() + b, atol=1e-5)
        assert 0.5 - 1e-4 <= a <= 1.5 + 1e-4
    assert torch.equal(augment(x, ("translation", "cutout", "color"), 0.0, torch.Generator()), x)
    half = augment(x, ("color",), 0.5, torch.Generator().manual_seed(4))
    unchanged = [torch.equal(a, b) for a, b in zip(half, x)]
    assert any(unchanged) and not all(unchanged)


def test_augmentation_is_differentiable_and_seeded():
    x = images().requires_grad_(True)
    names = parse_augment("translation, cutout,color")
    out = augment(x, names, 1.0, torch.Generator().manual_seed(5))
    out.square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    again = augment(x.detach(), names, 1.0, torch.Generator().manual_seed(5))
    torch.testing.assert_close(out.detach(), again, rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown augmentation rotate"):
        parse_augment("translation,rotate")


def test_adaptive_p_rises_when_the_discriminator_overfits_and_falls_otherwise():
    augmenter = Augmenter("translation", 0.5, 0.6, batch_size=64, generator=torch.Generator())
    step = 64 * ADA_INTERVAL / 100_000
    for _ in range(ADA_INTERVAL * 3):
        augmenter.observe(torch.ones(64))  # sign(D(real)) = 1 > 0.6: overfitting
    assert augmenter.p == pytest.approx(0.5 + 3 * step)
    saved = augmenter.state()
    for _ in range(ADA_INTERVAL * 5 + 1):
        augmenter.observe(-torch.ones(64))
    assert augmenter.p == pytest.approx(0.5 - 2 * step) and augmenter.seen == 1
    augmenter.load_state(saved)
    assert augmenter.p == pytest.approx(0.5 + 3 * step) and augmenter.seen == 0
    fixed = Augmenter("translation", 0.5, None, 64, torch.Generator())
    fixed.observe(torch.ones(64))
    assert fixed.p == 0.5


def test_r1_is_the_squared_gradient_norm_at_the_real_images():
    x = images(n=4)
    weight = torch.randn(1, 64)
    penalty = r1_penalty(lambda v, _labels: v.flatten(1) @ weight.T, x, None, lambda v: 2 * v)
    expected = (2 * weight).square().sum()  # D(view(x)) = 2 w.x: the gradient is 2w for every image
    torch.testing.assert_close(penalty, expected)


def test_spectral_norm_bounds_the_discriminators_layers():
    cfg = ModelConfig(kind="cgan", image_shape=(1, 28, 28), latent_dim=16, num_classes=10, ngf=8, ndf=8,
                      norm="spectral")
    d = build_models(cfg)["discriminator"]
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    d.train()
    for _ in range(20):  # power iterations converge while training
        d(torch.randn(2, 1, 28, 28), torch.tensor([0, 1]))
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert float(sigma) == pytest.approx(1.0, abs=0.05)


def test_minibatch_std_tells_a_group_of_copies_from_a_varied_one():
    varied = torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    copies = varied[:1].expand(4, -1, -1, -1)
    batch = torch.stack([copies, varied], dim=1).reshape(8, 3, 2, 2)  # groups of 4: even images, odd images
    out = minibatch_std(batch, 4)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], batch)
    plane = out[:, 3]
    assert torch.allclose(plane[0::2], torch.full((4, 2, 2), 1e-4))  # the copies do not vary
    expected = varied.var(dim=0, unbiased=False).add(1e-8).sqrt().mean()
    assert torch.allclose(plane[1::2], expected.expand(4, 2, 2))
    assert torch.allclose(minibatch_std(batch, 1)[:, 3], torch.tensor(1e-4))  # a group of one image
    assert minibatch_std(batch[:6], 4)[:, 3, 0, 0].unique().numel() == 3  # gcd(6, 4) = 2 images a group: 3 groups

    cfg = ModelConfig(kind="cgan", image_shape=(1, 28, 28), latent_dim=16, num_classes=10, ngf=8, ndf=8,
                      norm="none", mbstd_group=2)
    d = build_models(cfg)["discriminator"]
    x, labels = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    changed = x.clone()
    changed[2] = 0  # image 2 shares a group with image 0 (groups 0, 2 and 1, 3)
    before, after = d(x, labels), d(changed, labels)
    assert before[0] != after[0] and torch.equal(before[[1, 3]], after[[1, 3]])


def test_the_whole_recipe_trains_and_resumes_exactly(tmp_path):
    def config(name, **extra):
        return TrainConfig(**{**TINY, **RECIPE, "model": "cgan", "epochs": 3, "out": str(tmp_path / name), **extra})

    straight = train(config("straight"), progress=False, log=quiet)
    train(config("split", steps=5), progress=False, log=quiet)
    resumed = train(config("split"), resume=True, progress=False, log=quiet)
    w1, w2 = load_checkpoint(straight["checkpoint"]), load_checkpoint(resumed["checkpoint"])
    for key in w1.tensors:
        if not key.startswith("rng."):
            torch.testing.assert_close(w1.tensors[key], w2.tensors[key], rtol=0, atol=0, msg=key)
    assert w1.state["augment"] == w2.state["augment"]
    assert w1.state["augment"]["p"] != 0.5  # adapted (3 times), and kept
    assert w1.model_config.norm == "spectral" and w1.model_config.mbstd_group == 4
    groups = w1.state["param_groups"]
    assert groups["discriminator"][0]["lr"] == 4e-4 and groups["generator"][0]["lr"] == 2e-4  # TTUR
    assert groups["auxiliary"][0]["lr"] == 4e-4  # the auxiliary classifier learns beside the discriminator
    assert any(".parametrizations.weight." in key for key in w1.tensors)


@pytest.mark.filterwarnings("ignore:FID from 60 samples")
def test_quality_is_scored_while_training_as_genrt_eval_scores_the_export(tmp_path):
    from genrt.eval import evaluate

    out = tmp_path / "run"
    config = TrainConfig(model="cgan", data="digits", batch_size=16, ngf=8, ndf=8, latent_dim=16, steps=5,
                         eval_every=2, eval_samples=60, out=str(out), augment="translation")
    train(config, progress=False, log=quiet)
    scores = [json.loads(line) for line in open(out / "metrics.jsonl") if '"eval"' in line]
    assert [row["step"] for row in scores] == [2, 4, 5]  # every 2 steps, and the last
    assert all(row["fid"] > 0 and 0 <= row["class_accuracy"] <= 1 and row["augment_p"] == 1.0 for row in scores)
    best = load_checkpoint(out / "best.safetensors")
    assert best.state["best_fid"] == min(row["fid"] for row in scores)
    assert best.state["step"] == best.state["best_step"] == min(scores, key=lambda row: row["fid"])["step"]
    assert [row["best"] for row in scores] == [row["fid"] == min(r["fid"] for r in scores[: i + 1])
                                               for i, row in enumerate(scores)]
    assert load_checkpoint(out).state["best_fid"] == best.state["best_fid"]
    assert Image.open(out / "loss_curve.png").size[0] > 1000  # the losses and, beside them, the scores

    assert main(["export", str(out / "best.safetensors"), "-o", str(tmp_path / "best.onnx"), "--no-optimize"]) == 0
    report = evaluate(str(tmp_path / "best.onnx"), n=60)
    assert report["metrics"]["fid"] == pytest.approx(best.state["best_fid"], rel=1e-3)


@pytest.mark.filterwarnings("ignore:FID from 60 samples")
def test_the_best_checkpoint_can_require_a_class_accuracy(tmp_path):
    lines = []
    config = {"model": "cgan", "data": "digits", "batch_size": 16, "ngf": 8, "ndf": 8, "latent_dim": 16, "steps": 4,
              "eval_every": 2, "eval_samples": 60}
    floor = TrainConfig(**config, eval_min_accuracy=1.0, out=str(tmp_path / "floor"))  # out of a 4-step run's reach
    train(floor, progress=False, log=lines.append)
    scores = [json.loads(line) for line in open(tmp_path / "floor" / "metrics.jsonl") if '"eval"' in line]
    assert len(scores) == 2 and all(row["class_accuracy"] < 1.0 and row["best"] is False for row in scores)
    assert not (tmp_path / "floor" / "best.safetensors").exists()
    assert "best_fid" not in load_checkpoint(tmp_path / "floor").state
    assert sum("(below --eval-min-accuracy; no best yet)" in line for line in lines) == 2

    any_accuracy = TrainConfig(**config, eval_min_accuracy=0.0, out=str(tmp_path / "any"))
    train(any_accuracy, progress=False, log=quiet)
    assert load_checkpoint(tmp_path / "any" / "best.safetensors").state["best_fid"] > 0
    with pytest.raises(InputError, match="eval_min_accuracy needs class labels"):
        TrainConfig(model="dcgan", eval_min_accuracy=0.99)
    with pytest.raises(InputError, match="eval_min_accuracy must be a number from 0 to 1"):
        TrainConfig(model="cgan", eval_min_accuracy=99.0)


def test_recipe_settings_are_checked_and_leave_old_digests_alone(tmp_path, capsys):
    for options, message in [
        ({"d_norm": "layer"}, "d_norm must be one of auto, batch, none, spectral"),
        ({"augment": "translation,rotate"}, "unknown augmentation rotate"),
        ({"augment_p": 1.5}, "augment_p must be a number from 0 to 1"),
        ({"ada_target": -0.1}, "ada_target must be a number from 0 to 1"),
        ({"r1_gamma": float("nan")}, "r1_gamma must be a number"),
        ({"r1_every": 0}, "r1_every must be an integer from 1 to 1,000,000,000"),
        ({"d_mbstd": -1}, "d_mbstd must be an integer from 0 \\(off\\)"),
        ({"lr_d": 0.0}, "lr_d must be positive"),
        ({"eval_every": 0}, "eval_every must be an integer from 1 to 1,000,000,000"),
        ({"eval_samples": 5}, "eval_samples must be from 10"),
        ({"class_weight": -1.0}, "class_weight must be a number from 0 to 1000"),
    ]:
        with pytest.raises(InputError, match=message):
            TrainConfig(model="cgan", **options)
    with pytest.raises(InputError, match="class_weight needs class labels \\(model cgan\\); dcgan draws"):
        TrainConfig(model="dcgan", class_weight=0.5)
    base = TrainConfig(model="cgan")
    assert base.digest() == TrainConfig(model="cgan", eval_every=100, d_norm="auto", r1_gamma=0.0, d_mbstd=0,
                                                class_weight=0.0).digest()
    assert base.digest() != TrainConfig(model="cgan", augment="translation").digest()
    assert base.discriminator_norm == "batch"
    assert TrainConfig(model="dcgan", loss="wgan-gp").discriminator_norm == "none"

    assert main(["train", "cgan", "--augment", "rotate", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genrt: error: ") and "unknown augmentation rotate" in err and len(err.splitlines()) == 1
    # A run whose images the scoring classifier cannot take is refused before it trains.
    assert main(["train", "cgan", "--data", "fake:64", "--size", "32", "--eval-every", "2", "--steps", "2",
                 "--out", str(tmp_path / "b"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "eval-extractor" in err and not (tmp_path / "b" / "checkpoint.safetensors").exists()


def test_lr_decay_lowers_every_learning_rate_to_zero_over_the_end_of_the_budget(tmp_path):
    config = TrainConfig(**{**TINY, "model": "cgan", "lr_d": 4e-4, "lr_decay": 0.5, "steps": 8})
    assert [config.lr_scale(config.budget_spent(step, step / 4, 0.0)) for step in (0, 4, 6, 8)] == [1.0, 1.0, 0.5, 0.0]
    by_minutes = TrainConfig(model="cgan", minutes=10, epochs=1000, lr_decay=0.25)
    assert by_minutes.lr_scale(by_minutes.budget_spent(1, 1 / 4, 9 * 60)) == pytest.approx(0.4)  # time ends it first
    assert by_minutes.lr_scale(by_minutes.budget_spent(3999, 3999 / 4, 0.0)) == pytest.approx(0.001)  # epochs do

    def lrs(run):
        groups = load_checkpoint(run["checkpoint"]).state["param_groups"]
        return groups["generator"][0]["lr"], groups["discriminator"][0]["lr"]

    run = train(TrainConfig(**{**config.to_dict(), "out": str(tmp_path / "run")}), progress=False, log=quiet)
    assert lrs(run) == pytest.approx((2e-4 / 4, 4e-4 / 4))  # set before each step: the last one after 7 of 8
    with pytest.raises(InputError, match="lr_decay must be a number from 0 to 1"):
        TrainConfig(model="cgan", lr_decay=1.5)
