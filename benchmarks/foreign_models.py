"""Generators genrt did not write, built in torch and exported with plain torch.onnx.export.

- `pytorch_examples_dcgan`: pytorch/examples' DCGAN generator, 64x64 RGB (nz 100, ngf 64,
  a ConvTranspose on the 1x1 latent, then four strided ConvTransposes with batch norm);
- `linear_first_28`: the common MNIST generator, 28x28 grey: Linear(100, 256*7*7) with
  batch norm, then two strided ConvTransposes (256 -> 128 -> 1).

Weights are random (seeded), scaled so that activations keep unit variance and the
image spans the tanh's range, as a trained model's does. Each builder returns the torch
module (for torch eager) and writes the ONNX file.
"""

from __future__ import annotations

import contextlib
import io
import warnings


def _export(net, nz: int, path: str) -> None:
    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # the exporter reports each stage
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(3, nz),), path, input_names=["z"], output_names=["image"],
                          dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))


def _unit_variance(net, last_gain: float) -> None:
    """He-scaled weights and jittered batch-norm statistics; the last layer scaled by `last_gain`."""
    import torch
    from torch import nn

    with torch.no_grad():
        layers = []
        for m in net.modules():
            if isinstance(m, nn.ConvTranspose2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] / (m.stride[0] * m.stride[1])
                m.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
                layers.append(m)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, (2.0 / m.in_features) ** 0.5)
                layers.append(m)
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.normal_(1.0, 0.02)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.8, 1.2)
        layers[-1].weight.mul_(last_gain)


def pytorch_examples_dcgan(path: str, nz: int = 100, ngf: int = 64, nc: int = 3):
    """pytorch/examples' DCGAN generator (64x64), z [N, nz] in; writes `path`, returns the module."""
    import torch
    from torch import nn

    class Generator64(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
            )

        def forward(self, z):
            return self.main(z.view(-1, nz, 1, 1))

    torch.manual_seed(0)
    net = Generator64().eval()
    _unit_variance(net, 0.7)
    _export(net, nz, path)
    return net


def linear_first_28(path: str, nz: int = 100, width: int = 256):
    """A 28x28 MNIST generator whose first layer is a Linear; writes `path`, returns the module."""
    import torch
    from torch import nn

    net = nn.Sequential(
        nn.Linear(nz, width * 7 * 7, bias=False), nn.BatchNorm1d(width * 7 * 7), nn.ReLU(True),
        nn.Unflatten(1, (width, 7, 7)),
        nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True),
        nn.ConvTranspose2d(width // 2, 1, 4, 2, 1), nn.Tanh(),
    )
    torch.manual_seed(1)
    net.eval()
    _unit_variance(net, 0.7)
    _export(net, nz, path)
    return net


BUILDERS = {"DCGAN 64x64": ("dcgan64", pytorch_examples_dcgan), "Linear-first 28x28": ("linear28", linear_first_28)}
