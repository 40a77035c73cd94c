"""The genrt command line: `genrt info`, exit statuses and one-line errors."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

import genrt
from genrt.cli import cli, main


def test_info_json_reports_versions_providers_and_backend():
    result = CliRunner().invoke(cli, ["info", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    import numpy
    import onnxruntime

    assert report["genrt"] == genrt.__version__
    assert report["numpy"] == numpy.__version__
    assert report["onnxruntime"] == onnxruntime.__version__
    providers = {p["name"]: p for p in report["providers"]}
    assert providers["CPUExecutionProvider"]["usable"] is True
    assert {"CUDAExecutionProvider", "TensorrtExecutionProvider"} <= set(providers)
    assert report["ext"]["backend"] in ("cython", "numpy")
    assert len(report["onnxruntime_wheels"]) == 1


def test_info_text_names_each_part():
    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0
    for word in ("genrt", "numpy", "onnxruntime", "genrt.ext", "providers", "CPUExecutionProvider"):
        assert word in result.output


def test_console_script_runs_and_does_not_import_torch():
    """The installed `genrt` script works, and `info` never pulls torch in."""
    exe = shutil.which("genrt", path=os.path.dirname(sys.executable)) or shutil.which("genrt")
    assert exe, "the genrt console script is not installed"
    out = subprocess.run([exe, "info"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    probe = "import sys, genrt.cli; genrt.cli.main(['info']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "args, message",
    [
        (["bogus"], "No such command 'bogus'"),
        (["info", "--nope"], "No such option '--nope'"),
    ],
)
def test_bad_usage_is_one_line_and_status_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("genrt: error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_help_and_version_exit_0(capsys):
    assert main([]) == 0
    assert "Usage: genrt" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert genrt.__version__ in capsys.readouterr().out


def test_library_messages_name_parameters_and_the_cli_names_its_flags(capsys):
    """The library says `iters`, as Python calls it; `genrt bench` says --iters, as its user typed it."""
    from genrt.bench import BenchConfig
    from genrt.cli.common import in_flag_terms
    from genrt.cli.sample import sample
    from genrt.errors import InputError

    with pytest.raises(InputError, match="`iters` must be from 1 to 1,000,000, got 0"):
        BenchConfig(model="m.onnx", iters=0)
    assert main(["bench", "--iters", "0"]) == 2
    assert capsys.readouterr().err == "genrt: error: --iters must be from 1 to 1,000,000, got 0\n"
    assert (in_flag_terms("choose another `output` or pass `overwrite`; `nothing` is bare", sample)
            == "choose another -o or pass --overwrite; nothing is bare")
