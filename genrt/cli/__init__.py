"""The `genrt` command line: a thin click layer over the library, one module per command.

Each command parses its options, calls the library and prints. Errors the user can
fix print one line, `genrt: error: ...`, on stderr and exit with status 2 (bad
input) or 1 (a failure during work); `--debug` shows the traceback instead. The
library names a parameter in backticks as Python calls it (`batch_size`); the
message shows it as the option of the command that ran (--batch-size).
Commands import their heavy dependencies when they run, so that `genrt --help`
and `genrt info` start fast and never import torch.
"""

from __future__ import annotations

import os
import signal
import sys

import click

import genrt
from genrt.cli import bench, evaluate, export, generate, info, optimize, sample, serve, train
from genrt.cli.common import in_flag_terms
from genrt.errors import GenrtError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(genrt.__version__, prog_name="genrt")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """genrt: train, export and serve image GANs and VAEs."""
    # --debug is acted on by main(), which must know it before click parses anything.


for command in (info.info, sample.sample, generate.generate, serve.serve, train.train, export.export, optimize.optimize,
                bench.bench, evaluate.evaluate):
    cli.add_command(command)


def prefer_passive_openmp_wait() -> None:
    """Let OpenMP threads sleep between kernels (OMP_WAIT_POLICY=PASSIVE) unless the user chose a policy.

    libgomp reads the variable once, when genrt.ext's compiled kernels load, so this
    acts only before then. genrt.ext's kernels run between onnxruntime calls, and
    libgomp's default of spinning after each parallel region takes the CPUs that
    onnxruntime's thread pool needs next (benchmarks/runtime_overhead.py measures
    it). The command line sets it for its own process; library code never writes
    the environment, so an application that embeds a Generator sets it itself.
    """
    if "genrt.ext._kernels" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Terminated(BaseException):  # not an Exception, so no `except Exception` swallows it
    """SIGTERM arrived: raised where the program is, so that open writes roll back as on any error."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `genrt` console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    prefer_passive_openmp_wait()
    if argv is None:  # the console script owns its process; a caller of main() keeps its own handlers
        signal.signal(signal.SIGTERM, _raise_terminated)
    debug = "--debug" in args
    if not args:  # a bare `genrt` asks what it can do
        args = ["--help"]
    try:
        cli.main(args=args, prog_name="genrt", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("genrt: interrupted", err=True)
        return 130
    except Terminated:
        click.echo("genrt: terminated", err=True)
        return 128 + signal.SIGTERM
    except click.ClickException as exc:  # bad options or arguments
        if debug:
            raise
        click.echo(f"genrt: error: {exc.format_message()} (see 'genrt --help')", err=True)
        return 2
    except GenrtError as exc:
        if debug:
            raise
        command = cli.commands.get(next((a for a in args if a in cli.commands), ""))
        click.echo(f"genrt: error: {in_flag_terms(str(exc), command)}", err=True)
        return exc.exit_code
    return 0
