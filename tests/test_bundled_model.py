"""The model genrt ships (genrt/runtime/default.onnx): what `genrt sample` with no arguments draws from."""

import json
import os

import numpy as np
from PIL import Image

from genrt.cli import main
from genrt.files import file_sha256
from genrt.runtime import Generator, default_model_path

BENCHMARK_MODELS = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "models")


def test_the_bundled_model_is_the_documented_digits_cgan():
    path = default_model_path()
    assert path is not None and path.endswith("default.onnx")
    c = Generator(path, device="cpu").contract
    assert (c.kind, c.latent_dim, c.num_classes, c.image_shape, c.output_range) == ("cgan", 100, 10, (1, 28, 28),
                                                                                    (-1.0, 1.0))
    assert c.class_names == tuple(str(d) for d in range(10)) and c.assumptions == ()
    source = json.loads(c.metadata["genrt.source"])
    # The README's reproduction commands: the previous bundled model (250 minutes of the recipe, the last 100 with
    # R1), fine-tuned from its plain export for 95 minutes with the auxiliary classifier; the best.safetensors of
    # the scores with at least 99% class accuracy, step 15,000's
    config = source["train_config"]
    assert (source["dataset"], source["steps"], config["model"]) == ("digits (train)", 15000, "cgan")
    assert (config["augment"], config["ada_target"], config["eval_every"]) == ("translation,cutout", 0.6, 2500)
    assert (config["minutes"], config["lr_decay"], config["ema_decay"], config["ema_warmup"]) == (95, 0.5, 0.9999, 1)
    assert (config["lr"], config["lr_d"], config["r1_gamma"]) == (5e-5, 2e-4, 0.1)
    assert (config["class_weight"], config["eval_min_accuracy"]) == (0.3, 0.99)
    # It started from the previous bundled model's plain export, kept (renamed) beside today's.
    assert config["init_generator"] == "benchmarks/models/cgan_digits_plain.onnx"
    assert file_sha256(os.path.join(BENCHMARK_MODELS, "cgan_digits_r1_plain.onnx")).startswith("234978776dba4706")
    assert source["weights"] == "ema" and source["split"].startswith("held-out: 20% of each class")
    assert c.metadata["genrt.precision"] == "fp32"


def test_sample_with_no_arguments_writes_64_digits(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["sample"]) == 0
    assert "wrote samples.png: 64 images 28x28x1, seed 0" in capsys.readouterr().out
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size == (8 * 30 + 2, 8 * 30 + 2) and grid.mode == "L"


def test_labels_and_latents_both_change_the_digits():
    """A working conditional generator: the label changes the image, and so does z (no collapse)."""
    g = Generator(default_model_path(), device="cpu")
    z = np.repeat(g.latents(8, seed=0), 10, axis=0)  # 8 latents, each drawn as every class
    images = g.decode(z, np.tile(np.arange(10), 8)).reshape(8, 10, -1).astype(np.float32) / 255
    across_labels = images.std(axis=1).mean()
    across_latents = images.std(axis=0).mean()
    assert across_labels > 0.1 and across_latents > 0.1
    ink = images.mean(axis=2)  # digits on a black background: some ink, mostly background
    assert (0.025 < ink).all() and (ink < 0.35).all()  # the real digits' ink lies in 0.030..0.308


def test_the_bundled_model_is_optimized_and_says_so(capsys):
    """genrt info shows what genrt optimize did to the shipped file; its int8 variant ships beside it."""
    from genrt.runtime.contract import variant_path

    assert main(["info", default_model_path(), "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    optimized = report["optimized"]
    assert optimized["kept"] == "optimized" and optimized["plan"]["dense_first_layer"] is True
    assert optimized["batch_sizes"] == [1, 8, 64]
    # tuned for CPUs, where genrt.ext converts faster and an image_u8 output would still run on every call
    assert report["uint8_output"] is False and \
        [o.name for o in Generator(default_model_path(), device="cpu").session.get_outputs()] == ["image"]
    assert main(["info", default_model_path(), "--device", "cpu"]) == 0
    assert "optimized  genrt optimize kept the optimized graph" in capsys.readouterr().out
    int8 = variant_path(default_model_path(), "int8")
    assert os.path.isfile(int8)
    assert Generator(int8, device="cpu").contract.metadata["genrt.precision"] == "int8"
