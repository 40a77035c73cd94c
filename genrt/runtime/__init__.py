"""genrt.runtime: serve exported generators with onnxruntime and numpy only (never torch).

- `Generator` (generator.py): one session serving one generator ONNX file.
- `read_contract` (contract.py): what a graph takes and gives, from genrt metadata
  or inferred from its signature.
- `import_onnxruntime()` / `probe_providers()` (environment.py): the onnxruntime
  wheel (with the extra to install when missing) and the providers that really work.
"""

from genrt.runtime.contract import Contract, read_contract
from genrt.runtime.environment import (
    ProviderStatus,
    import_onnxruntime,
    installed_onnxruntime_wheels,
    probe_providers,
)
from genrt.runtime.generator import Generator, ProviderFallbackWarning

__all__ = [
    "Contract",
    "Generator",
    "ProviderFallbackWarning",
    "ProviderStatus",
    "import_onnxruntime",
    "installed_onnxruntime_wheels",
    "probe_providers",
    "read_contract",
]
