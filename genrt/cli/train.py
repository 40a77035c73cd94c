"""`genrt train KIND`: train a DCGAN, conditional GAN, VAE or the eval classifier (PyTorch)."""

from __future__ import annotations

import click

from genrt.spec import AUGMENTS, D_NORMS, GAN_LOSSES, MODEL_KINDS, TRAIN_DEVICES


@click.command()
@click.argument("model", type=click.Choice(MODEL_KINDS))
@click.option("--data", default="digits", show_default=True,
              help="digits (embedded, offline), fake[:N], mnist:DIR, fashion-mnist:DIR, or a folder of images.")
@click.option("--split", type=click.Choice(["train", "all"]), default="train", show_default=True,
              help="GANs and VAEs: train on the train part (held-out images stay unseen for genrt eval), or all.")
@click.option("--size", type=int, default=None, help="Resize and centre-crop images to SIZE x SIZE (28, 32, 64, ...).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Convert images to 1 or 3 channels.")
@click.option("--flip", is_flag=True, help="Mirror a random half of each batch left-right (photos, not digits).")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--minutes", type=float, default=None, help="Stop after this much training time instead.")
@click.option("--steps", type=int, default=None, help="Stop after this many steps (dry runs).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Images per step and process.")
@click.option("--lr", type=float, default=None, help="Adam learning rate [2e-4 GAN, 1e-4 WGAN-GP, 1e-3 VAE].")
@click.option("--loss", type=click.Choice(GAN_LOSSES), default="nonsaturating", show_default=True)
@click.option("--critic-steps", type=int, default=None, help="Discriminator steps per generator step [5 for wgan-gp].")
@click.option("--latent-dim", type=int, default=100, show_default=True)
@click.option("--ngf", type=int, default=64, show_default=True, help="Generator width.")
@click.option("--ndf", type=int, default=64, show_default=True, help="Discriminator width.")
@click.option("--beta", "vae_beta", type=float, default=1.0, show_default=True, help="VAE: weight of the KL term.")
@click.option("--ema-decay", type=float, default=0.999, show_default=True,
              help="GANs: decay of the averaged generator weights that get exported; 0 turns the average off.")
@click.option("--ema-warmup", type=float, default=10.0, show_default=True,
              help="GANs: the average's warm-up, decay_t = min(decay, (1 + t) / (warmup + t)).")
@click.option("--likelihood", type=click.Choice(["bernoulli", "gaussian"]), default="bernoulli", show_default=True)
@click.option("--d-norm", type=click.Choice(D_NORMS), default="auto", show_default=True,
              help="GANs: discriminator normalisation [auto: none for wgan-gp, else batch]; spectral pairs with hinge.")
@click.option("--lr-d", type=float, default=None, help="GANs: the discriminator's learning rate (TTUR) [--lr].")
@click.option("--augment", default="", help=f"GANs: differentiable augmentation of what the discriminator sees, "
              f"a comma list of {', '.join(AUGMENTS)} (DiffAugment: translation,cutout).")
@click.option("--augment-p", type=float, default=1.0, show_default=True,
              help="The probability of each transform (the start value with --ada-target).")
@click.option("--ada-target", type=float, default=None,
              help="Adapt --augment-p so that E[sign(D(real))] stays near this (ADA uses 0.6).")
@click.option("--r1-gamma", type=float, default=0.0, show_default=True, help="GANs: R1 penalty weight (0: none).")
@click.option("--r1-every", type=int, default=16, show_default=True, help="Steps between R1 penalties (lazy).")
@click.option("--d-mbstd", type=int, default=0, show_default=True,
              help="GANs: the discriminator also sees the spread of its features over groups of this many "
                   "images (minibatch standard deviation, ProGAN uses 4; 0: off).")
@click.option("--lr-decay", type=float, default=0.0, show_default=True,
              help="Lower every learning rate linearly to 0 over this last fraction of the run's budget "
                   "(--steps, --epochs or --minutes, whichever ends it; a resumed run counts its earlier part).")
@click.option("--eval-every", type=int, default=None,
              help="Score FID and class accuracy every this many steps (genrt eval's path) and keep best.safetensors.")
@click.option("--eval-samples", type=int, default=10_000, show_default=True, help="Images per score.")
@click.option("--eval-extractor", default=None, help="Classifier ONNX file to score with [genrt eval's bundled one].")
@click.option("--eval-min-accuracy", type=float, default=0.0, show_default=True,
              help="cgan: best.safetensors is the lowest FID among the scores with at least this class accuracy "
                   "(a fraction: 0.99).")
@click.option("--init-generator", default=None,
              help="GANs: start the generator (and its average) from this plain export (genrt export --no-optimize) "
                   "instead of random weights; the discriminator starts fresh.")
@click.option("--class-weight", type=float, default=0.0, show_default=True,
              help="cgan: train an auxiliary classifier beside the discriminator and add this weight times its "
                   "cross-entropy on generated images to the generator's loss (AC-GAN; 0: off).")
@click.option("--device", type=click.Choice(TRAIN_DEVICES), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", default=None, help="Run folder [runs/MODEL].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--no-amp", is_flag=True, help="No mixed precision on CUDA.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(model, channels, out, resume, no_amp, quiet, **options):
    """Train a DCGAN, class-conditional GAN, VAE, or the classifier genrt eval uses; outputs go to --out.

    \b
      genrt train cgan                          # the embedded digits, 10 epochs, runs/cgan
      genrt train dcgan --data faces/ --size 64 --minutes 30
      genrt train cgan --out runs/cgan --resume # continue after Ctrl-C
      genrt train cgan --loss hinge --d-norm spectral --augment translation,cutout --eval-every 1000
      genrt train cgan --init-generator plain.onnx --out runs/tuned   # fine-tune an exported generator
      genrt train classifier --epochs 8         # genrt eval's feature extractor
      torchrun --nproc-per-node 2 -m genrt.cli train dcgan   # DistributedDataParallel
    """
    from genrt.train import TrainConfig
    from genrt.train import train as run_training

    config = TrainConfig(model=model, channels=int(channels) if channels else None, out=out or f"runs/{model}",
                         amp=not no_amp, **options)
    summary = run_training(config, resume=resume, progress=not quiet, log=lambda m: click.echo(m, err=True))
    if summary["rank"] == 0:
        click.echo(f"done: {summary['epochs']} epochs, {summary['steps']} steps in {summary['seconds']} s; "
                   f"checkpoint {summary['checkpoint']}")
