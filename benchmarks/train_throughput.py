"""genrt's DCGAN training step against the PyTorch DCGAN example's loop, images/s in one run; and genrt's step
with differentiable augmentation against without.

    python benchmarks/train_throughput.py [--batch-size 64] [--rounds 8] [--device auto]
                                          [--augment translation,cutout,color]

The reference is written the way pytorch/examples' dcgan/main.py writes it: its
Generator and Discriminator (nn.Sequential, sigmoid + BCELoss), and per step a
D update on a real batch then a fake batch, then a G update, with `.item()` on the
losses. Both sides get the same image size, widths (ngf = ndf = 64), latent size
(100), batch size, Adam settings and device. genrt's step is timed as `genrt
train` runs it: uint8 images are converted to floats per batch inside the step
(the reference gets its float batches ready-made, as its DataLoader workers
would hand them over), with channels-last and mixed precision on CUDA.

Timing: rounds alternate between the two (order shuffled each round, see
timing.py); each round times `--steps` consecutive steps; the figure is the
median. The result is genrt images/s divided by the reference's (target >= 1.0).
The third contender is genrt's step with `--augment` (applied to the real and the
generated batch before each discriminator pass, as `genrt train --augment` does);
its rate over genrt's plain step is the cost of augmentation (target >= 0.85).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from dataclasses import replace

import torch
from timing import time_interleaved
from torch import nn

from genrt.train import TrainConfig
from genrt.train.loop import _Run


class ReferenceGenerator(nn.Module):
    """pytorch/examples dcgan Generator (64 x 64): z N x nz x 1 x 1 -> N x nc x 64 x 64."""

    def __init__(self, nz: int, ngf: int, nc: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),  # 4x4
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),  # 8x8
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),  # 16
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),  # 32x32
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),  # 64x64
        )

    def forward(self, z):
        return self.main(z)


class ReferenceDiscriminator(nn.Module):
    """pytorch/examples dcgan Discriminator (64 x 64): N x nc x 64 x 64 -> N probabilities."""

    def __init__(self, ndf: int, nc: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),  # 32x32
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),  # 1x1
        )

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


def reference_step_fn(batches, device, nz=100, ngf=64, ndf=64, nc=3, lr=2e-4):
    """One training step of the example's loop, cycling through ready-made float batches."""
    netG, netD = ReferenceGenerator(nz, ngf, nc).to(device), ReferenceDiscriminator(ndf, nc).to(device)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=lr, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=lr, betas=(0.5, 0.999))
    position = [0]

    def step():
        real = batches[position[0] % len(batches)]
        position[0] += 1
        netD.zero_grad()
        label = torch.full((real.size(0),), 1.0, device=device)
        output = netD(real)
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = torch.randn(real.size(0), nz, 1, 1, device=device)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        _ = (errD_real + errD_fake).item()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        _ = errG.item()
        optimizerG.step()

    return step, netG, netD


def genrt_step_fn(run: _Run, batch_size: int):
    """One step of genrt's own loop (`_Run._gan_step`, batch conversion included), cycling through the data."""
    order = torch.arange(len(run.images))
    position = [0]

    def step():
        b = position[0] % run.steps_per_epoch
        position[0] += 1
        x, y = run._batch(order[b * batch_size : (b + 1) * batch_size])
        run._gan_step(x, y)
        run.state["step"] += 1
        if run.device.type == "cuda":
            torch.cuda.synchronize()

    return step


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=8, help="timed rounds per contender")
    parser.add_argument("--steps", type=int, default=3, help="steps per timed round")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--augment", default="translation,cutout,color", help="the augmentation contender's transforms")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(model="dcgan", data=f"fake:{args.batch_size * 4}", size=64, channels=3, out=out,
                             batch_size=args.batch_size, device=device.type, seed=0)
        run = _Run(config, resume=False, progress=False, log=lambda *_: None)
        augmented = _Run(replace(config, augment=args.augment), resume=False, progress=False, log=lambda *_: None)
        batches = [run._batch(torch.arange(i * args.batch_size, (i + 1) * args.batch_size))[0].contiguous()
                   for i in range(run.steps_per_epoch)]
        reference, netG, netD = reference_step_fn(batches, device)

        def reference_synced():
            reference()
            if device.type == "cuda":
                torch.cuda.synchronize()

        contenders = {"genrt": genrt_step_fn(run, args.batch_size), "reference": reference_synced,
                      "genrt + augment": genrt_step_fn(augmented, args.batch_size)}
        seconds = time_interleaved(contenders, repeats=args.rounds, number=args.steps, warmup=2)

    rates = {name: args.batch_size / s for name, s in seconds.items()}
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "image": "3x64x64",
        "params": {"genrt": {"G": count(run.models["generator"]), "D": count(run.models["discriminator"])},
                   "reference": {"G": count(netG), "D": count(netD)}},
        "images_per_s": {k: round(v, 1) for k, v in rates.items()},
        "ratio": round(rates["genrt"] / rates["reference"], 3),
        "augment": args.augment,
        "augment_ratio": round(rates["genrt + augment"] / rates["genrt"], 3),
    }
    print(f"DCGAN 3x64x64, batch {args.batch_size}, {result['device']} ({result['threads']} threads), torch {torch.__version__}")
    print(f"  parameters  genrt G {result['params']['genrt']['G']:,} D {result['params']['genrt']['D']:,}   "
          f"reference G {result['params']['reference']['G']:,} D {result['params']['reference']['D']:,}")
    print(f"  genrt       {rates['genrt']:8.1f} images/s")
    print(f"  reference   {rates['reference']:8.1f} images/s   (pytorch/examples dcgan loop)")
    print(f"  ratio       {result['ratio']:.3f}x   (target >= 1.0)")
    print(f"  + augment   {rates['genrt + augment']:8.1f} images/s   ({args.augment})")
    print(f"  ratio       {result['augment_ratio']:.3f}x of genrt without augmentation   (target >= 0.85)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
