"""The `genrt` command line: a thin click layer over the library.

Errors the user can fix print one line, `genrt: error: ...`, on stderr and exit
with status 2 (bad input) or 1 (a failure during work); `--debug` shows the
traceback instead. Commands import their heavy dependencies lazily so that
`genrt --help` and `genrt info` start fast and never import torch.
"""

from __future__ import annotations

import json
import platform
import sys

import click

import genrt
from genrt.errors import GenrtError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(genrt.__version__, prog_name="genrt")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """genrt: train, export and serve image GANs and VAEs."""
    # --debug is acted on by main(), which must know it before click parses anything.


def environment_report() -> dict:
    """Everything `genrt info` prints, as a dict (also its --json output)."""
    import numpy

    import genrt.ext
    from genrt.runtime import environment

    report = {
        "genrt": genrt.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "ext": genrt.ext.backend_info(),
        "onnxruntime_wheels": environment.installed_onnxruntime_wheels(),
    }
    try:
        ort = environment.import_onnxruntime()
    except GenrtError as exc:
        report["onnxruntime"] = None
        report["onnxruntime_error"] = str(exc)
        report["providers"] = []
    else:
        report["onnxruntime"] = ort.__version__
        report["providers"] = [
            {"name": p.name, "usable": p.usable, "detail": p.detail} for p in environment.probe_providers(ort)
        ]
    return report


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def info(as_json: bool) -> None:
    """Versions, execution providers and the post-processing backend of this install."""
    report = environment_report()
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    ext = report["ext"]
    if ext["backend"] == "cython":
        threads = f"OpenMP, {ext['threads']} threads" if ext["openmp"] else "serial build (no OpenMP)"
        ext_line = f"compiled Cython kernels, {threads}"
    else:
        ext_line = f"numpy fallback: {ext['reason']}"
    lines = [
        ("genrt", report["genrt"]),
        ("python", f"{report['python']} ({report['platform']})"),
        ("numpy", report["numpy"]),
        ("onnxruntime", report["onnxruntime"] or f"missing: {report.get('onnxruntime_error')}"),
        ("ort wheels", ", ".join(report["onnxruntime_wheels"]) or "none"),
        ("genrt.ext", ext_line),
    ]
    for key, value in lines:
        click.echo(f"{key:<13}{value}")
    for i, p in enumerate(report["providers"]):
        mark = "yes" if p["usable"] else "no "
        click.echo(f"{'providers' if i == 0 else '':<13}{mark} {p['name']}: {p['detail']}")
    if len(report["onnxruntime_wheels"]) > 1:
        click.echo(
            f"warning: {len(report['onnxruntime_wheels'])} onnxruntime wheels are installed "
            f"({', '.join(report['onnxruntime_wheels'])}); they overwrite each other's files. "
            "Uninstall all, then install one: pip install 'genrt[cpu]' or 'genrt[gpu]'.",
            err=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `genrt` console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    if not args:  # a bare `genrt` asks what it can do
        args = ["--help"]
    try:
        cli.main(args=args, prog_name="genrt", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        return exc.exit_code
    except click.Abort:
        click.echo("genrt: interrupted", err=True)
        return 130
    except click.ClickException as exc:  # bad options or arguments
        if debug:
            raise
        click.echo(f"genrt: error: {exc.format_message()} (see 'genrt --help')", err=True)
        return 2
    except GenrtError as exc:
        if debug:
            raise
        click.echo(f"genrt: error: {exc}", err=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
