"""genrt.runtime.onnxfile: the ONNX header and the external-data guard, on real files."""

import os

import numpy as np
import onnx
import pytest

from genrt.errors import ModelError
from genrt.runtime import Generator, check_external_data
from genrt.runtime.onnxfile import read_header
from onnx_models import build_generator, reference_images


def save_with_external_data(model_path, folder, location):
    """Copy of the test generator whose weights live in the external file `location`."""
    model = onnx.load(str(model_path))
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"), save_as_external_data=True, location="weights.bin", size_threshold=1024)
    saved = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    for tensor in saved.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(saved, str(folder / "model.onnx"))  # the locations now say `location`
    return folder / "model.onnx"


@pytest.fixture
def plain_model(tmp_path):
    return build_generator(tmp_path / "plain.onnx", latent_dim=8, image_shape=(1, 8, 8))  # W: 2 KB, external


def test_header_reports_ir_version_opsets_and_producer(plain_model):
    assert read_header(str(plain_model)) == {"ir_version": 8, "opsets": {"ai.onnx": 17}, "producer": "genrt-tests"}


def test_external_data_inside_the_folder_loads(tmp_path, plain_model):
    path = save_with_external_data(plain_model, tmp_path / "ok", "weights.bin")
    assert set(check_external_data(str(path))) == {"weights.bin"}
    g = Generator(path, device="cpu")
    z = g.latents(3, seed=0)
    np.testing.assert_allclose(g.decode(z, raw=True), reference_images(plain_model, z), atol=1e-5)


@pytest.mark.parametrize(
    "location, reason",
    [
        ("ABSOLUTE", "is an absolute path"),
        ("../outside/weights.bin", "climbs out with '..'"),
        ("sub/../../outside/weights.bin", "climbs out with '..'"),
        ("link.bin", "resolves through a symlink"),
        ("linkdir/weights.bin", "resolves through a symlink"),
    ],
)
def test_external_data_outside_the_folder_is_refused(tmp_path, plain_model, location, reason):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "weights.bin"
    secret.write_bytes(b"\0" * 4096)
    folder = tmp_path / "model"
    folder.mkdir()
    os.symlink(secret, folder / "link.bin")
    os.symlink(outside, folder / "linkdir")
    location = str(secret) if location == "ABSOLUTE" else location
    path = save_with_external_data(plain_model, folder, location)
    with pytest.raises(ModelError, match=f"refers to external data .*which {reason}"):
        check_external_data(str(path))
    with pytest.raises(ModelError, match=reason):  # before onnxruntime ever opens it
        Generator(path, device="cpu")


def test_malformed_protobuf_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x3a\xff\xff\xff\x0f")  # field 7 claims 4 GB in a 5-byte file
    with pytest.raises(ModelError, match="protobuf is malformed"):
        check_external_data(str(bad))


def test_graph_inputs_read_without_onnx_skip_initializers(tmp_path):
    """Names and dims (numbers, symbols, unknown) of the real inputs; an initializer listed as an input is left out."""
    from onnx import TensorProto, helper, numpy_helper

    from genrt.runtime.onnxfile import graph_inputs

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [x, w],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.ones(3, np.float32), "w")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), path)
    assert graph_inputs(str(path)) == [("x", ("batch", 3, None))]


def _varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def test_a_number_where_a_string_belongs_is_a_malformed_model_not_a_huge_allocation(tmp_path):
    """A node that repeats its op_type (field 4) as the varint 2^40: onnxruntime keeps it as an unknown field and
    loads the model; genrt's own reader must refuse it instead of making a 2^40-byte string of it."""
    path = build_generator(tmp_path / "foreign.onnx", num_classes=3, metadata=False)
    model = onnx.load(str(path))
    damaged = onnx.NodeProto.FromString(model.graph.node[0].SerializeToString() + bytes([4 << 3]) + _varint(1 << 40))
    model.graph.node[0].CopyFrom(damaged)
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="malformed .*a number where a string"):
        Generator(str(path), device="cpu")
