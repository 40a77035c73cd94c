"""The GPU layer's rules that run anywhere (gpu.py, the to_uint8 graph, NVML device choice); the GPU itself is
exercised by tests/test_gpu.py, which needs one."""

import importlib.resources
import os
import sys

import numpy as np
import pytest
from onnx_models import build_generator

import genrt.ext as ext
from genrt.bench import system
from genrt.ext.reference import range_params
from genrt.runtime import gpu
from genrt.runtime import Generator
from genrt.runtime.ort import import_onnxruntime
from genrt.runtime.onnxfile import graph_inputs
from genrt.runtime.session import open_session


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"gan1": build_generator(root / "gan1.onnx", latent_dim=8, image_shape=(1, 6, 5)),
            "cgan": build_generator(root / "cgan.onnx", num_classes=4, image_shape=(3, 5, 5), seed=2)}


def test_tensorrt_engines_are_cached_per_model_content(models, tmp_path, monkeypatch):
    monkeypatch.setenv("GENRT_CACHE", str(tmp_path))
    first = gpu.tensorrt_options(str(models["gan1"]), [], None)
    assert first["trt_engine_cache_enable"] == "True"
    assert first["trt_engine_cache_path"] == first["trt_timing_cache_path"]
    assert os.path.dirname(first["trt_engine_cache_path"]) == str(tmp_path / "tensorrt")
    # The same bytes under another name share the engine; other weights of the same architecture do not.
    copy = tmp_path / "renamed.onnx"
    copy.write_bytes(models["gan1"].read_bytes())
    assert gpu.tensorrt_options(str(copy), [], None)["trt_engine_cache_path"] == first["trt_engine_cache_path"]
    changed = bytearray(models["gan1"].read_bytes())
    changed[-1] ^= 1
    copy.write_bytes(bytes(changed))
    assert gpu.tensorrt_options(str(copy), [], None)["trt_engine_cache_path"] != first["trt_engine_cache_path"]


def test_external_data_is_part_of_the_model_key(tmp_path):
    model, data = tmp_path / "m.onnx", tmp_path / "w.bin"
    model.write_bytes(b"graph")
    data.write_bytes(b"weights 1")
    key = gpu.model_key(str(model), ["w.bin"])
    data.write_bytes(b"weights 2")
    assert gpu.model_key(str(model), ["w.bin"]) != key
    assert gpu.model_key(str(model), []) != key


def test_tensorrt_profile_spans_batch_1_to_the_largest_batch_in_use(models):
    inputs = graph_inputs(str(models["cgan"]))
    assert [name for name, _ in inputs] == ["z", "label"]
    profile = gpu.batch_profile(inputs, max_batch=64, opt_batch=64)
    latent = inputs[0][1][1]
    assert profile == {"z": ((1, latent), (64, latent), (64, latent)), "label": ((1,), (64,), (64,))}
    options = gpu.tensorrt_options(str(models["cgan"]), [], profile)
    assert options["trt_profile_min_shapes"] == f"z:1x{latent},label:1"
    assert options["trt_profile_opt_shapes"] == f"z:64x{latent},label:64"
    assert options["trt_profile_max_shapes"] == f"z:64x{latent},label:64"


def test_no_profile_for_fixed_shapes_or_unknown_dimensions():
    assert gpu.batch_profile([("z", (1, 100))], 64, 64) is None
    assert gpu.batch_profile([("z", ("batch", "width"))], 64, 64) is None
    assert gpu.batch_profile([("z", ("batch", 100)), ("x", ("batch", None))], 64, 64) is None


def test_cuda_options_turn_tf32_off_only_for_verification():
    assert "use_tf32" not in gpu.cuda_options()
    assert gpu.cuda_options(tf32=False)["use_tf32"] == "0"
    assert gpu.cuda_options(cuda_graph=True)["enable_cuda_graph"] == "1"
    exact = gpu.cuda_providers(exact=True)
    assert exact == [("CUDAExecutionProvider", gpu.cuda_options(tf32=False)), "CPUExecutionProvider"]
    assert gpu.cuda_providers() == [("CUDAExecutionProvider", gpu.cuda_options()), "CPUExecutionProvider"]


def test_graph_ids_start_at_one_and_minus_one_runs_plainly():
    ort = import_onnxruntime()
    options = gpu.graph_run_options(ort, 7)
    assert options.get_run_config_entry("gpu_graph_id") == "7"
    assert gpu.graph_run_options(ort, gpu.NO_GRAPH).get_run_config_entry("gpu_graph_id") == "-1"
    with pytest.raises(ValueError, match="start at 1"):
        gpu.graph_run_options(ort, 0)


def test_cpu_wheel_preloads_nothing():
    ort = import_onnxruntime()
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a GPU wheel: tests/test_gpu.py covers it")
    assert gpu.preload_cuda(ort) == ()


def test_missing_tensorrt_libraries_are_named(tmp_path, monkeypatch):
    """A tensorrt_libs folder whose files are not libraries still counts as missing, each by name."""
    package = tmp_path / "tensorrt_libs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "libnvinfer.so.10").write_bytes(b"not an ELF file")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tensorrt_libs", None)
    missing = gpu.load_tensorrt()
    if not missing:
        pytest.skip("TensorRT 10 is installed on this machine")
    assert "libnvinfer.so.10" in missing and "libnvonnxparser.so.10" in missing
    assert "tensorrt-cu13-libs>=10.13,<11" in gpu.TENSORRT_HINT


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0), (-3.0, 0.5)])
def test_device_conversion_graph_matches_genrt_ext_bit_for_bit(value_range):
    """to_uint8.onnx is what the GPU path converts with; on CPU it must give genrt.ext's bytes exactly."""
    graph = importlib.resources.files("genrt.runtime").joinpath("to_uint8.onnx").read_bytes()
    session = open_session(graph, ["CPUExecutionProvider"], name="to_uint8")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 3, 9, 11)) * 2).astype(np.float32)
    x[0, 0, 0, :5] = [np.nan, np.inf, -np.inf, value_range[0], value_range[1]]
    lo, span = range_params(value_range)
    got = session.run(None, {"image": x, "lo": np.array([lo], np.float32), "span": np.array([span], np.float32)})[0]
    np.testing.assert_array_equal(got, ext.to_uint8(x, value_range))


@pytest.mark.parametrize("environ, pci, expected", [
    ({}, None, ("index", 0)),
    ({"CUDA_VISIBLE_DEVICES": "3,1"}, None, ("index", 3)),
    ({"CUDA_VISIBLE_DEVICES": "GPU-8f2c1a"}, None, ("uuid", "GPU-8f2c1a")),
    ({"CUDA_VISIBLE_DEVICES": "MIG-4b1d/1/0"}, None, ("uuid", "MIG-4b1d/1/0")),
    ({"CUDA_VISIBLE_DEVICES": "3"}, "00000000:41:00.0", ("pci", "00000000:41:00.0")),
])
def test_nvml_finds_the_gpu_onnxruntime_uses(environ, pci, expected):
    assert system.cuda_device_selector(environ, pci) == expected


def test_no_cuda_runtime_loaded_means_no_pci_bus_id():
    if system.cuda_pci_bus_id() is not None:
        pytest.skip("a CUDA runtime is loaded in this process")
    assert system.cuda_pci_bus_id() is None


def test_memory_poller_keeps_the_highest_reading():
    """Real threads and timing, with a stand-in for NVML (no NVIDIA driver here): the peak is the largest value read."""
    readings = iter([100.0, 250.0, 180.0])

    class Readings:
        def used_mb(self, handle):
            return next(readings, 120.0)

    with system.MemoryPoller(Readings(), None, interval=0.001) as poller:
        while poller.peak_mb is None or poller.peak_mb < 250:
            pass
    assert poller.peak_mb == 250.0


@pytest.mark.parametrize("graph_id", [None, 1])
@pytest.mark.parametrize("model", ["gan1", "cgan"])
def test_device_buffer_steps_give_the_images_sample_gives(models, model, graph_id):
    """The GPU path's steps (output bound as an OrtValue, to_uint8.onnx chained on it, and with a graph id the
    inputs as OrtValues updated in place), run here with CPU buffers: the same bytes as Generator.sample."""
    from genrt.runtime.buffers import DEVICE_U8, HOST_FLOAT, DeviceBuffers

    g = Generator(models[model], device="cpu")
    graph = importlib.resources.files("genrt.runtime").joinpath("to_uint8.onnx").read_bytes()
    converter = open_session(graph, ["CPUExecutionProvider"], name="to_uint8")
    n = 5
    for output in (DEVICE_U8, HOST_FLOAT):
        io = DeviceBuffers(g._ort, g.session, g.contract, n, output, converter, graph_id=graph_id, device="cpu")
        for seed in (0, 1):  # the second call overwrites the first one's inputs in place
            z = g.latents(n, seed=seed)
            out = io.run(z, g.label_array(None, n))
            if output == DEVICE_U8:
                np.testing.assert_array_equal(out, g.sample(n, seed=seed))
            else:
                np.testing.assert_array_equal(out, g.decode(z, raw=True))


def test_preload_failures_become_library_names_not_stdout(capsys):
    """onnxruntime-gpu's preload_dlls prints "Failed to load PATH: why" and returns; genrt keeps stdout clean (a PNG
    may be going there) and names the libraries. A stand-in module, since no GPU wheel can be installed here."""

    class GpuWheelWithoutCuda:
        def get_available_providers(self):
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

        def preload_dlls(self, cuda=True, cudnn=True, msvc=True):
            print("Failed to load /venv/nvidia/cu13/lib/libcublasLt.so.13: cannot open shared object file")
            print("Failed to load libcudnn.so.9: libcudnn.so.9: cannot open shared object file")
            print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.")

    assert gpu.preload_cuda(GpuWheelWithoutCuda()) == ("libcublasLt.so.13", "libcudnn.so.9")
    assert capsys.readouterr().out == ""
