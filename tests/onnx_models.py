"""Small real generator ONNX files for the tests, built with onnx.helper (no torch).

The graph is z [N, D] -> (+ label embedding [K, D] for conditional models) ->
MatMul [D, C*H*W] + bias -> Reshape [-1, C, H, W] -> Tanh (or Sigmoid), with a
symbolic `batch` dimension, so it exercises what the runtime relies on: the
dynamic batch axis, integer labels, the genrt metadata (or its absence).
"""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build_generator(
    path,
    latent_dim=8,
    image_shape=(1, 6, 5),
    num_classes=0,
    metadata=True,
    sigmoid=False,
    class_names=None,
    seed=0,
):
    rng = np.random.default_rng(seed)
    c, h, w = image_shape
    weight = (rng.standard_normal((latent_dim, c * h * w)) * 0.6).astype(np.float32)
    bias = (rng.standard_normal(c * h * w) * 0.1).astype(np.float32)
    inits = [
        numpy_helper.from_array(weight, "W"),
        numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(np.array([-1, c, h, w], dtype=np.int64), "shape"),
    ]
    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])]
    nodes = []
    latent = "z"
    if num_classes:
        inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]))
        table = rng.standard_normal((num_classes, latent_dim)).astype(np.float32) * 2
        inits.append(numpy_helper.from_array(table, "embedding"))
        nodes += [
            helper.make_node("Gather", ["embedding", "label"], ["label_vec"], axis=0),
            helper.make_node("Add", ["z", "label_vec"], ["z_cond"]),
        ]
        latent = "z_cond"
    nodes += [
        helper.make_node("MatMul", [latent, "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["pre"]),
        helper.make_node("Reshape", ["pre", "shape"], ["pre4"]),
        helper.make_node("Sigmoid" if sigmoid else "Tanh", ["pre4"], ["image"]),
    ]
    output = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", c, h, w])
    graph = helper.make_graph(nodes, "test_generator", inputs, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="genrt-tests")
    model.ir_version = 8
    if metadata:
        props = {
            "genrt.format": "1",
            "genrt.kind": "cgan" if num_classes else "gan",
            "genrt.latent_dim": str(latent_dim),
            "genrt.num_classes": str(num_classes),
            "genrt.output_range": "0,1" if sigmoid else "-1,1",
            "genrt.image_shape": f"{c},{h},{w}",
            "genrt.latent_distribution": "normal",
            "genrt.sha256": "none",  # written here, not by genrt: no digest, on purpose
        }
        if class_names:
            props["genrt.class_names"] = json.dumps(list(class_names))
        helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def reference_images(path, z, labels=None):
    """What the graph computes, in plain numpy (the oracle for the runtime's outputs)."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    x = z.astype(np.float32)
    if labels is not None:
        x = x + inits["embedding"][labels]
    pre = (x @ inits["W"] + inits["B"]).reshape(inits["shape"])
    act = model.graph.node[-1].op_type
    return np.tanh(pre) if act == "Tanh" else 1 / (1 + np.exp(-pre))


def build_upsampler(layers, latent_dim=6, start=(8, 3), num_classes=0, batchnorm=False, reshape=False, seed=0,
                    metadata=True):
    """A DCGAN-shaped generator ModelProto: z (+ label embedding) -> 1x1 -> ConvTranspose stack -> Tanh.

    `start` = (channels, kernel) of the first ConvTranspose (on the 1x1 input, stride 1);
    `layers` = [(out channels, kernel, stride, pad, output_padding, bias)] after it, each
    followed by BatchNormalization (if `batchnorm`) and Relu, the last by Tanh. The 1x1
    input comes from Unsqueeze, or from Reshape [-1, D, 1, 1] (`reshape`). Weights are
    scaled so that activations keep about unit variance and the output spans (-1, 1).
    """
    rng = np.random.default_rng(seed)
    inits, nodes = [], []
    inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])]
    x, width = "z", latent_dim
    if num_classes:
        inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]))
        inits.append(numpy_helper.from_array(rng.standard_normal((num_classes, latent_dim)).astype(np.float32), "E"))
        nodes += [helper.make_node("Gather", ["E", "label"], ["emb"], axis=0),
                  helper.make_node("Concat", ["z", "emb"], ["zc"], axis=1)]
        x, width = "zc", 2 * latent_dim
    if reshape:
        inits.append(numpy_helper.from_array(np.array([-1, width, 1, 1], np.int64), "to4d"))
        nodes.append(helper.make_node("Reshape", [x, "to4d"], ["x4"]))
    else:
        inits.append(numpy_helper.from_array(np.array([2, 3], np.int64), "axes"))
        nodes.append(helper.make_node("Unsqueeze", [x, "axes"], ["x4"]))
    x, size = "x4", 1
    stack = [(start[0], start[1], 1, 0, 0, False)] + list(layers)
    for i, (out_channels, kernel, stride, pad, extra, bias) in enumerate(stack):
        fan_in = width * kernel * kernel / (stride * stride)
        weight = (rng.standard_normal((width, out_channels, kernel, kernel)) / np.sqrt(fan_in)).astype(np.float32)
        inits.append(numpy_helper.from_array(weight, f"w{i}"))
        names = [x, f"w{i}"]
        if bias:
            inits.append(numpy_helper.from_array((rng.standard_normal(out_channels) * 0.1).astype(np.float32), f"b{i}"))
            names.append(f"b{i}")
        nodes.append(helper.make_node("ConvTranspose", names, [f"ct{i}"], kernel_shape=[kernel, kernel],
                                      strides=[stride, stride], pads=[pad] * 4, output_padding=[extra, extra]))
        x = f"ct{i}"
        if batchnorm and i < len(stack) - 1:
            for stat, value in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0)):
                data = value + rng.standard_normal(out_channels).astype(np.float32) * 0.1
                inits.append(numpy_helper.from_array(np.abs(data) if stat == "var" else data, f"bn{i}_{stat}"))
            nodes.append(helper.make_node("BatchNormalization", [x] + [f"bn{i}_{s}" for s in ("scale", "bias", "mean",
                                                                                             "var")], [f"bn{i}"]))
            x = f"bn{i}"
        last = i == len(stack) - 1
        nodes.append(helper.make_node("Tanh" if last else "Relu", [x], ["image" if last else f"a{i}"]))
        x, width = ("image" if last else f"a{i}"), out_channels
        size = (size - 1) * stride + kernel - 2 * pad + extra
    output = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", width, size, size])
    graph = helper.make_graph(nodes, "upsampler", inputs, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="genrt-tests")
    model.ir_version = 9
    if metadata:
        helper.set_model_props(model, {
            "genrt.format": "1", "genrt.kind": "cgan" if num_classes else "gan", "genrt.latent_dim": str(latent_dim),
            "genrt.num_classes": str(num_classes), "genrt.output_range": "-1,1",
            "genrt.image_shape": f"{width},{size},{size}", "genrt.latent_distribution": "normal",
            "genrt.sha256": "none",
        })
    onnx.checker.check_model(model, full_check=True)
    return model
