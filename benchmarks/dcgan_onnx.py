"""DCGAN-shaped generator ONNX files with random weights, built with onnx.helper (no torch).

The layer stack of Radford et al. (2016), as a PyTorch export of it looks at
inference: z [N, 100] -> Reshape [N, 100, 1, 1] -> ConvTranspose blocks with
BatchNormalization and ReLU -> ConvTranspose -> Tanh, with a symbolic batch axis
and genrt metadata. Used by the runtime benchmark so that its figures do not wait
for a trained model; the weights do not matter for speed.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (channels, kernel, stride, pad) per ConvTranspose; the spatial size doubles at each stride-2 block.
ARCHITECTURES = {
    # 1x1 -> 7x7 -> 14x14 -> 28x28
    "dcgan28": {"image": (1, 28, 28), "blocks": [(256, 7, 1, 0), (128, 4, 2, 1), (1, 4, 2, 1)]},
    # 1x1 -> 4 -> 8 -> 16 -> 32 -> 64 (ngf = 64, as in the paper)
    "dcgan64": {
        "image": (3, 64, 64),
        "blocks": [(512, 4, 1, 0), (256, 4, 2, 1), (128, 4, 2, 1), (64, 4, 2, 1), (3, 4, 2, 1)],
    },
}


def build_dcgan(path, name: str = "dcgan64", latent_dim: int = 100, seed: int = 0):
    """Write the DCGAN-shaped generator `name` to `path`; returns the path."""
    spec = ARCHITECTURES[name]
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(np.array([-1, latent_dim, 1, 1], np.int64), "z_shape")]
    nodes = [helper.make_node("Reshape", ["z", "z_shape"], ["x0"])]
    channels, x = latent_dim, "x0"
    for i, (out_channels, kernel, stride, pad) in enumerate(spec["blocks"]):
        last = i == len(spec["blocks"]) - 1
        weight = rng.standard_normal((channels, out_channels, kernel, kernel)).astype(np.float32) * 0.02
        inits.append(numpy_helper.from_array(weight, f"w{i}"))
        nodes.append(
            helper.make_node(
                "ConvTranspose", [x, f"w{i}"], [f"ct{i}"], kernel_shape=[kernel, kernel], strides=[stride, stride],
                pads=[pad] * 4,
            )
        )
        if last:
            nodes.append(helper.make_node("Tanh", [f"ct{i}"], ["image"]))
            break
        for stat, value in (("scale", 1.0), ("bias", 0.0), ("mean", 0.0), ("var", 1.0)):
            data = (value + rng.standard_normal(out_channels) * 0.1).astype(np.float32)
            inits.append(numpy_helper.from_array(np.abs(data) if stat == "var" else data, f"bn{i}_{stat}"))
        nodes += [
            helper.make_node("BatchNormalization", [f"ct{i}"] + [f"bn{i}_{s}" for s in ("scale", "bias", "mean", "var")],
                             [f"bn{i}"]),
            helper.make_node("Relu", [f"bn{i}"], [f"x{i + 1}"]),
        ]
        channels, x = out_channels, f"x{i + 1}"
    c, h, w = spec["image"]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent_dim])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", c, h, w])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="genrt-benchmarks")
    model.ir_version = 9
    helper.set_model_props(
        model,
        {
            "genrt.format": "1",
            "genrt.kind": "gan",
            "genrt.latent_dim": str(latent_dim),
            "genrt.num_classes": "0",
            "genrt.output_range": "-1,1",
            "genrt.image_shape": f"{c},{h},{w}",
            "genrt.latent_distribution": "normal",
        },
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path
