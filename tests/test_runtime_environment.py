"""The runtime's environment layer: onnxruntime import, wheel conflicts, provider probing."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx

from genrt.runtime import environment

BLOCK_ONNXRUNTIME = textwrap.dedent(
    """
    import sys
    class Block:  # behave as if no onnxruntime wheel were installed
        def find_spec(self, name, path=None, target=None):
            if name == "onnxruntime" or name.startswith("onnxruntime."):
                raise ImportError("No module named 'onnxruntime'")
    sys.meta_path.insert(0, Block())
    """
)


def run_python(code, extra_path=None):
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([extra_path, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_missing_onnxruntime_names_the_extra_to_install():
    code = BLOCK_ONNXRUNTIME + textwrap.dedent(
        """
        from genrt.runtime import import_onnxruntime
        from genrt.errors import DependencyError
        try:
            import_onnxruntime()
        except DependencyError as exc:
            print(exc)
        """
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "pip install 'genrt[cpu]'" in out.stdout and "pip install 'genrt[gpu]'" in out.stdout


def test_info_without_onnxruntime_still_reports_and_says_what_to_install():
    code = BLOCK_ONNXRUNTIME + "import sys, genrt.cli; sys.exit(genrt.cli.main(['info']))"
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "onnxruntime  missing" in out.stdout and "genrt[cpu]" in out.stdout


def test_two_onnxruntime_wheels_are_detected(tmp_path):
    """A second wheel's metadata on the path (as pip leaves it) makes `genrt info` warn."""
    dist = tmp_path / "onnxruntime_gpu-1.31.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.31.1\n")
    out = run_python("import sys, genrt.cli; sys.exit(genrt.cli.main(['info']))", extra_path=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "onnxruntime-gpu==1.31.1" in out.stdout
    assert "warning: 2 onnxruntime wheels are installed" in out.stderr


def test_probe_model_is_a_valid_identity_graph():
    data = environment._probe_model_bytes()
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Identity"]
    ort = environment.import_onnxruntime()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.array([3.5], dtype=np.float32)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x)


def test_cpu_is_usable_and_gpu_providers_say_why_not():
    statuses = {s.name: s for s in environment.probe_providers()}
    assert statuses["CPUExecutionProvider"].usable
    ort = environment.import_onnxruntime()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert not statuses["CUDAExecutionProvider"].usable
        assert "genrt[gpu]" in statuses["CUDAExecutionProvider"].detail


def test_runtime_never_imports_torch():
    code = "import sys, genrt, genrt.ext, genrt.runtime; genrt.runtime.probe_providers(); print('torch' in sys.modules)"
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
