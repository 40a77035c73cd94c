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
