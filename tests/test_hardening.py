"""Hostile input: contradictory or broken metadata, impossible options, failures inside onnxruntime.

Each case must end as one `genrt: error:` line with exit status 2 (from the CLI) or a
GenrtError (from Python): never a traceback, never onnxruntime's own log lines, and
nothing written.
"""

import os

import onnx
import pytest

from genrt.cli import main
from genrt.errors import InputError, ModelError
from genrt.runtime import Generator, default_model_path


def with_metadata(tmp_path, name, **changes):
    """A copy of the bundled model with some genrt.* metadata replaced (None: removed)."""
    model = onnx.load(default_model_path())
    kept = {p.key: p.value for p in model.metadata_props}
    for key, value in changes.items():
        kept.pop(key, None) if value is None else kept.__setitem__(key, value)
    del model.metadata_props[:]
    for key, value in kept.items():
        model.metadata_props.add(key=key, value=value)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


def cli(capsys, *args):
    status = main([str(a) for a in args])
    err = capsys.readouterr().err
    return status, err


def assert_one_line(err, *fragments):
    lines = err.strip().splitlines()
    assert lines[-1].startswith("genrt: error: ") and "Traceback" not in err, err
    assert not any("onnxruntime:" in line and "[E:" in line for line in lines), err  # no onnxruntime log line
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])


BROKEN_METADATA = {
    "range not numbers": ({"genrt.output_range": "abc"}, "genrt.output_range='abc' is not two finite numbers"),
    "empty range": ({"genrt.output_range": "1,1"}, "genrt.output_range='1,1' is not two finite numbers"),
    "class names not JSON": ({"genrt.class_names": "[not json"}, "genrt.class_names is not a JSON list"),
    "class names miscounted": ({"genrt.class_names": '["a", "b"]'}, "lists 2 class names for 10 classes"),
    "image shape not numbers": ({"genrt.image_shape": "a,b"}, "genrt.image_shape='a,b' is not C,H,W"),
    "image shape contradicts the graph": ({"genrt.image_shape": "3,28,28"}, "but its output 'image' is 1,28,28"),
    "negative classes": ({"genrt.num_classes": "-3"}, "genrt.num_classes='-3' is not an integer >= 0"),
    "latent size not a number": ({"genrt.latent_dim": "x"}, "genrt.latent_dim='x' is not an integer >= 1"),
    "latent size contradicts the graph": ({"genrt.latent_dim": "64"}, "genrt.latent_dim=64 but its input 'z' takes"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_METADATA))
def test_broken_metadata_is_refused_at_open(tmp_path, capsys, case):
    changes, message = BROKEN_METADATA[case]
    path = with_metadata(tmp_path, "broken", **changes)
    with pytest.raises(ModelError, match="export the model again") as info:
        Generator(path, device="cpu")
    assert message in str(info.value)
    status, err = cli(capsys, "sample", path, "--device", "cpu", "-o", tmp_path / "out.png")
    assert status == 2
    assert_one_line(err, message)
    assert sorted(os.listdir(tmp_path)) == ["broken.onnx"]


@pytest.mark.parametrize("args, message", [
    (["--range", "-inf,inf"], "--range must be two finite numbers lo < hi"),
    (["--range", "1,0"], "--range must have LO < HI"),
    (["--latent-dim", "7"], "--latent-dim 7 contradicts"),
    (["--threads", "100000"], "--threads must be an integer from 1 to"),
])
def test_impossible_options_are_refused(tmp_path, capsys, args, message):
    status, err = cli(capsys, "sample", default_model_path(), "--device", "cpu", "-o", tmp_path / "out.png", *args)
    assert status == 2
    assert_one_line(err, message)
    assert os.listdir(tmp_path) == []


def test_a_foreign_model_failing_inside_onnxruntime_is_one_line(tmp_path, capsys):
    """A label the graph has no row for: onnxruntime's Gather fails; the user gets one line naming the labels."""
    foreign = with_metadata(tmp_path, "foreign", **{k: None for k in (
        "genrt.format", "genrt.kind", "genrt.latent_dim", "genrt.num_classes", "genrt.class_names",
        "genrt.output_range", "genrt.image_shape", "genrt.latent_distribution", "genrt.precision", "genrt.source")})
    g = Generator(foreign, device="cpu")
    assert g.contract.conditional and g.contract.num_classes == 0
    assert g.sample(2, seed=0, labels=3).shape == (2, 28, 28, 1)
    with pytest.raises(InputError, match=r"failed on labels \[99\], probably outside its classes"):
        g.sample(2, seed=0, labels=99)
    status, err = cli(capsys, "sample", foreign, "--device", "cpu", "--label", "99", "-o", tmp_path / "out.png")
    assert status == 2
    assert_one_line(err, "failed on labels [99]")
    assert sorted(os.listdir(tmp_path)) == ["foreign.onnx"]
