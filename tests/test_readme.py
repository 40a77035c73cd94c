"""The README's two commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up and run (two commands)", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_ci_runs_exactly_the_readme_commands():
    commands = readme_commands()
    assert len(commands) == 2
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert command in ci_lines, f"README command not run verbatim by .ci/run: {command}"


def test_setup_installs_cpu_torch_before_anything_can_pull_a_cuda_build():
    setup = readme_commands()[0]
    assert setup.index("pip install torch==2.13.0") < setup.index("pip install -e")
    assert "[cpu," in setup and "gpu" not in setup


def test_the_main_job_samples_the_bundled_model():
    setup = readme_commands()[0]
    assert setup.endswith("&& .venv/bin/genrt sample")  # no flags, no downloads: genrt/runtime/default.onnx
    assert (ROOT / "genrt" / "runtime" / "default.onnx").is_file()
    assert '"genrt.runtime" = ["*.onnx"]' in (ROOT / "pyproject.toml").read_text()  # shipped in the wheel too
    assert (ROOT / "genrt" / "eval" / "digits_classifier.onnx").is_file()  # genrt eval's default extractor
    assert '"genrt.eval" = ["*.onnx"]' in (ROOT / "pyproject.toml").read_text()
