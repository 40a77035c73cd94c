"""`genrt sample` and `genrt info MODEL` on real ONNX files: outputs, layouts and every error path."""

import importlib.resources
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import genrt.ext as ext
import genrt.errors
import genrt.files
from genrt.cli import main
from genrt.runtime import Generator, interpolate_latents
from onnx_models import build_generator


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_models")
    return {
        "gan1": build_generator(root / "gan1.onnx", latent_dim=8, image_shape=(1, 6, 5)),
        "cgan": build_generator(
            root / "cgan.onnx", num_classes=4, image_shape=(3, 5, 5), class_names=["a", "b", "c", "d"], seed=2
        ),
        "foreign": build_generator(root / "foreign.onnx", latent_dim=10, image_shape=(3, 4, 4), metadata=False),
    }


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_cli(*args, capsys):
    """Run the CLI in-process; returns (status, stdout, stderr)."""
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def png(path) -> np.ndarray:
    with Image.open(path) as image:
        array = np.asarray(image)
    return array[:, :, None] if array.ndim == 2 else array


def listing(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_default_output_is_a_grid_of_64(models, workdir, capsys):
    status, out, _ = run_cli("sample", models["cgan"], "--device", "cpu", capsys=capsys)
    assert status == 0 and "wrote samples.png: 64 images 5x5x3" in out
    expected = ext.make_grid(Generator(models["cgan"], device="cpu").sample(64, seed=0), nrow=8)
    np.testing.assert_array_equal(png(workdir / "samples.png"), expected)
    assert oct((workdir / "samples.png").stat().st_mode & 0o777) != "0o600"  # not mkstemp's private mode
    assert [p.name for p in workdir.iterdir()] == ["samples.png"]  # no temp file left


def test_same_png_bytes_for_batch_sizes_1_7_64(models, workdir, capsys):
    for b in (1, 7, 64):
        assert run_cli("sample", models["gan1"], "--device", "cpu", "--seed", 5, "--batch-size", b, "-o", f"b{b}.png",
                     capsys=capsys)[0] == 0
    assert (workdir / "b1.png").read_bytes() == (workdir / "b7.png").read_bytes() == (workdir / "b64.png").read_bytes()


def test_folder_output_one_file_per_image(models, workdir, capsys):
    status, out, _ = run_cli("sample", models["gan1"], "--device", "cpu", "-n", 5, "--seed", 3, "-o", "out/",
                           capsys=capsys)
    assert status == 0 and "5 files in out/" in out
    names = sorted(p.name for p in (workdir / "out").iterdir())
    assert names == [f"seed3_{i:04d}.png" for i in range(5)]
    images = Generator(models["gan1"], device="cpu").sample(5, seed=3)
    for i, name in enumerate(names):
        np.testing.assert_array_equal(png(workdir / "out" / name), images[i])  # 1 channel stays 1 channel


def test_npy_file_and_npy_folder(models, workdir, capsys):
    g = Generator(models["cgan"], device="cpu")
    assert run_cli("sample", models["cgan"], "--device", "cpu", "-n", 6, "--label", "c", "-o", "x.npy", capsys=capsys)[0] == 0
    np.testing.assert_array_equal(np.load(workdir / "x.npy"), g.sample(6, seed=0, labels="c"))
    assert run_cli("sample", models["cgan"], "--device", "cpu", "-n", 2, "--format", "npy", "-o", "arrays/",
                 capsys=capsys)[0] == 0
    np.testing.assert_array_equal(np.load(workdir / "arrays" / "seed0_0001.npy"), g.sample(2, seed=0)[1])


def test_label_all_is_one_row_per_class_sharing_latents(models, workdir, capsys):
    status, out, _ = run_cli("sample", models["cgan"], "--device", "cpu", "--label", "all", "-n", 3, "--seed", 2,
                           "-o", "classes.npy", capsys=capsys)
    assert status == 0 and "12 images" in out
    g = Generator(models["cgan"], device="cpu")
    images = np.load(workdir / "classes.npy").reshape(4, 3, 5, 5, 3)
    z = g.latents(3, seed=2)
    for k in range(4):
        np.testing.assert_array_equal(images[k], g.decode(z, labels=k))
    assert run_cli("sample", models["cgan"], "--device", "cpu", "--label", "all", "-n", 3, "-o", "classes.png",
                 capsys=capsys)[0] == 0
    assert png(workdir / "classes.png").shape == ext.grid_shape((12, 3, 5, 5), nrow=3)[:2] + (3,)


def test_interpolation_rows_walk_between_seeded_latents(models, workdir, capsys):
    status, _, _ = run_cli("sample", models["gan1"], "--device", "cpu", "--interpolate", 5, "-n", 3, "--seed", 4,
                         "-o", "walk.npy", capsys=capsys)
    assert status == 0
    g = Generator(models["gan1"], device="cpu")
    rows = np.load(workdir / "walk.npy").reshape(3, 5, 6, 5, 1)
    ends = g.latents(4, seed=4)
    for r in range(3):
        np.testing.assert_array_equal(rows[r], g.decode(interpolate_latents(ends[r], ends[r + 1], 5)))


def test_foreign_model_overrides_from_the_cli(models, workdir, capsys):
    status, _, err = run_cli("sample", models["foreign"], "--device", "cpu", "--range", "0,1", "-n", 4, "-o", "f.npy",
                           capsys=capsys)
    assert status == 0 and err == ""
    g = Generator(models["foreign"], device="cpu", output_range=(0, 1))
    np.testing.assert_array_equal(np.load(workdir / "f.npy"), g.sample(4, seed=0))


def test_info_model_reports_the_contract(models, capsys):
    status, out, _ = run_cli("info", models["cgan"], "--json", "--device", "cpu", capsys=capsys)
    assert status == 0
    report = json.loads(out)
    assert report["kind"] == "cgan" and report["latent"] == {"name": "z", "dim": 8, "dtype": "float32"}
    assert report["num_classes"] == 4 and report["class_names"] == ["a", "b", "c", "d"]
    assert report["image"]["shape"] == [3, 5, 5] and report["output_range"] == [-1.0, 1.0]
    assert report["opsets"] == {"ai.onnx": 17} and report["size_bytes"] == models["cgan"].stat().st_size
    assert report["providers"] == ["CPUExecutionProvider"] and report["assumptions"] == []
    status, out, _ = run_cli("info", models["foreign"], "--device", "cpu", capsys=capsys)
    assert status == 0
    assert "assumed    no genrt metadata" in out and "latent size 10" in out and "3x4x4" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "missing.onnx"], "model file not found: missing.onnx"),
        (["sample", "corrupt.onnx"], "cannot load corrupt.onnx as an ONNX model"),
        (["sample", "identity.onnx"], "identity.onnx is not a generator: expected one float input"),
        (["info", "identity.onnx"], "identity.onnx is not a generator"),
        (["sample", "{gan1}", "-n", "0"], "Invalid value for '-n' / '--num': 0 is not in the range x>=1"),
        (["sample", "{gan1}", "--truncation", "1.5"], "Invalid value for '--truncation'"),
        (["sample", "{gan1}", "--device", "tpu"], "Invalid value for '--device'"),
        (["sample", "{gan1}", "--label", "3"], "is unconditional; do not pass labels"),
        (["sample", "{gan1}", "--label", "all"], "--label all needs a class-conditional model"),
        (["sample", "{cgan}", "--label", "7"], "label 7 is out of range: this model has classes 0..3"),
        (["sample", "{cgan}", "--label", "zebra"], "label 'zebra' is not a class of this model; known classes: a, b"),
        (["sample", "{gan1}", "-o", "grid.jpg"], "end the file name with .png or .npy"),
        (["sample", "{gan1}", "-o", "grid.png", "--format", "npy"], "is a .png file but --format is npy"),
        (["sample", "{gan1}", "--range", "1,0"], "--range must have LO < HI"),
        (["sample", "{gan1}", "--range", "x"], "--range must be LO,HI"),
        (["sample", "{gan1}", "-o", "notes.txt/grid.png"], "cannot create the folder"),
        (["sample", "{gan1}", "-o", "existing.png"], "existing.png already exists; pass --overwrite"),
        (["sample", "{gan1}", "-n", "3", "-o", "full/"], "full/seed0_0001.png already exists; pass --overwrite"),
    ],
)
def test_errors_are_one_line_status_2_and_leave_files_alone(models, workdir, capsys, args, message):
    (workdir / "corrupt.onnx").write_bytes(models["gan1"].read_bytes()[:100])
    (workdir / "identity.onnx").write_bytes(  # an ONNX graph that is not a generator: genrt's uint8 conversion
        importlib.resources.files("genrt.runtime").joinpath("to_uint8.onnx").read_bytes())
    (workdir / "notes.txt").write_text("a file, not a folder")
    (workdir / "existing.png").write_bytes(b"precious")
    (workdir / "full").mkdir()
    (workdir / "full" / "seed0_0001.png").write_bytes(b"precious too")
    before = listing(workdir)
    args = [a.format(**{k: str(v) for k, v in models.items()}) for a in args]
    status, _, err = run_cli(args[0], "--device", "cpu", *args[1:], capsys=capsys)  # a later --device wins
    assert status == 2
    assert err.startswith("genrt: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert listing(workdir) == before  # nothing written, nothing overwritten, no temp files


def test_overwrite_replaces_whole_files(models, workdir, capsys):
    (workdir / "grid.png").write_bytes(b"old")
    assert run_cli("sample", models["gan1"], "--device", "cpu", "-o", "grid.png", "--overwrite", capsys=capsys)[0] == 0
    assert png(workdir / "grid.png").shape[2] == 1


@pytest.mark.parametrize("sheet", [["--interpolate", 5, "-n", 3], ["--label", "all", "-n", 3], ["-n", 7]])
def test_sheets_do_not_depend_on_the_batch_size(models, workdir, capsys, sheet):
    """A sheet streams in batches that may cut rows and classes; the images are the same for any batch size."""
    for batch in (1, 2, 64):
        args = ["sample", models["cgan"], "--device", "cpu", *sheet, "--batch-size", batch, "-o", f"b{batch}.npy"]
        assert run_cli(*args, capsys=capsys)[0] == 0
    np.testing.assert_array_equal(np.load(workdir / "b1.npy"), np.load(workdir / "b64.npy"))
    np.testing.assert_array_equal(np.load(workdir / "b2.npy"), np.load(workdir / "b64.npy"))


def test_atomic_write_leaves_no_trace_when_the_writer_fails(tmp_path):
    target = tmp_path / "keep.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), genrt.files.atomic_write(target) as f:
        f.write(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["keep.bin"]


def test_no_model_and_no_bundled_default_is_a_clear_error(workdir, capsys, monkeypatch):
    import genrt.runtime

    monkeypatch.setattr(genrt.runtime, "default_model_path", lambda: None)
    status, _, err = run_cli("sample", capsys=capsys)
    assert status == 2 and "no MODEL given and this install has no bundled default model" in err


def test_console_sample_in_a_subprocess_never_imports_torch(models, tmp_path):
    code = (
        "import sys\nfrom genrt.cli import main\n"
        f"status = main(['sample', {str(models['cgan'])!r}, '-o', {str(tmp_path / 'g.png')!r}])\n"
        "print(status, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr
    assert (tmp_path / "g.png").is_file()


def test_no_model_samples_the_bundled_default(models, workdir, capsys, monkeypatch):
    import genrt.runtime

    monkeypatch.setattr(genrt.runtime, "default_model_path", lambda: str(models["cgan"]))
    status, out, _ = run_cli("sample", "--device", "cpu", "-o", "default.npy", capsys=capsys)
    assert status == 0
    np.testing.assert_array_equal(np.load(workdir / "default.npy"), Generator(models["cgan"], device="cpu").sample(64, seed=0))
