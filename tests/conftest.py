"""Shared test settings: hypothesis profiles sized for a 2-core CI machine."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def private_genrt_cache(tmp_path_factory):
    """genrt's cache (decoded image folders, eval features, TensorRT engines) in a temporary folder, not ~/.cache."""
    os.environ["GENRT_CACHE"] = str(tmp_path_factory.mktemp("genrt-cache"))


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` run only where onnxruntime's CUDA provider ran genrt's probe convolution."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    from genrt.runtime.environment import gpu_problem
    from genrt.runtime.ort import import_onnxruntime

    why = gpu_problem("CUDAExecutionProvider", import_onnxruntime())
    if why:
        skip = pytest.mark.skip(reason=f"needs a usable CUDA provider: {why}")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs) for the whole test run, started by the first test that asks for it.

    This process is its driver, so genrt.generate uses it as "the cluster this process is connected to";
    `address` lets a `genrt generate --ray ADDRESS` subprocess join it.
    """
    import logging

    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
