"""genrt.runtime: serve exported generators with onnxruntime and numpy only (never torch).

Today this package holds the environment layer that everything else builds on:
`import_onnxruntime()` (with a clear message naming the extra to install when no
onnxruntime wheel is present) and `probe_providers()` (which execution providers
this machine can actually run, not only the ones the wheel lists). The
`Generator` class and `genrt sample` arrive with the runtime issue.
"""

from genrt.runtime.environment import (
    ProviderStatus,
    import_onnxruntime,
    installed_onnxruntime_wheels,
    probe_providers,
)

__all__ = ["ProviderStatus", "import_onnxruntime", "installed_onnxruntime_wheels", "probe_providers"]
