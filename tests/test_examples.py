"""examples/embed_generator.py: the embedding example runs as a script and its functions do what they say."""

import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from genrt.runtime import Generator, default_model_path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "embed_generator.py"


def load_example():
    spec = importlib.util.spec_from_file_location("embed_generator", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_avatar_is_the_same_for_a_user_and_differs_between_users():
    example = load_example()
    g = Generator(default_model_path(), device="cpu")
    alice = example.avatar_png(g, "alice")
    assert alice == example.avatar_png(Generator(default_model_path(), device="cpu"), "alice")
    assert alice != example.avatar_png(g, "bob")
    assert np.asarray(Image.open(io.BytesIO(alice))).shape == (28, 28)


def test_the_dataset_is_the_generators_images_with_cycling_labels(tmp_path):
    example = load_example()
    g = Generator(default_model_path(), device="cpu")
    labels = example.write_dataset(g, 150, str(tmp_path / "d.npy"), seed=4)
    np.testing.assert_array_equal(np.load(tmp_path / "d.npy"), g.sample(150, seed=4))
    np.testing.assert_array_equal(labels, np.arange(150) % 10)


def test_the_example_runs_as_a_script(tmp_path):
    out = tmp_path / "alice.png"
    subprocess.run([sys.executable, str(EXAMPLE), "--user", "alice", "-o", str(out)], check=True, timeout=120)
    assert out.read_bytes() == load_example().avatar_png(Generator(default_model_path(), device="cpu"), "alice")
    result = subprocess.run([sys.executable, str(EXAMPLE), "--dataset", "20", "-o", str(tmp_path / "d.npy")],
                            check=True, capture_output=True, text=True, timeout=120)
    assert "20 images, classes [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]" in result.stdout
