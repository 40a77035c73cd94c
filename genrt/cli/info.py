"""`genrt info [MODEL]`: this install's versions, providers and backend, or a model's contract."""

from __future__ import annotations

import json

import click

from genrt.cli.common import printed_warnings
from genrt.spec import RUNTIME_DEVICES


@click.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--device", type=click.Choice(RUNTIME_DEVICES), default="auto", show_default=True,
              help="With MODEL: where it would run.")
def info(model: str | None, as_json: bool, device: str) -> None:
    """This install's versions, providers and backend; with MODEL, that model's contract.

    For MODEL it prints what the graph takes and gives (kind, latent size, classes,
    image shape, value range), its opset and size, the providers a session would
    use, and what genrt had to assume for a model exported outside genrt.
    """
    from genrt.runtime import report

    if model is not None:
        with printed_warnings():
            result = report.model_report(model, device)
        click.echo(json.dumps(result, indent=2) if as_json else "\n".join(report.model_lines(result)))
        return
    result = report.environment_report()
    click.echo(json.dumps(result, indent=2) if as_json else "\n".join(report.environment_lines(result)))
    conflict = report.wheel_conflict(result)
    if conflict:
        click.echo(f"warning: {conflict}", err=True)
