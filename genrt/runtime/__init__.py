"""genrt.runtime: serve exported generators with onnxruntime and numpy only (never torch).

- `Generator` (generator.py): one session serving one generator ONNX file.
  Its parts: providers.py (where its session runs, ProviderFallbackWarning), labels.py (class
  labels), buffers.py (the reused buffers of each session run).
- `interpolate_latents` (latents.py): slerp / lerp paths between latents.
- latents.py: seeded latents, counter-based (Philox + Box-Muller): image i's row depends only on (seed, i).
- `open_session` (session.py): the one place onnxruntime sessions open.
- report.py: what `genrt info` reports about this install and about a model file.
- `check_external_data` (onnxfile.py): refuses external-data paths that leave
  the model's folder, before onnxruntime opens the file.
- `read_contract` (contract.py): what a graph takes and gives, from genrt metadata
  or inferred from its signature.
- `import_onnxruntime()` (ort.py): the onnxruntime wheel, with the extra to install when missing.
- `probe_providers()` (environment.py): the execution providers that really work here.
"""

from genrt.runtime.contract import Contract, read_contract
from genrt.runtime.environment import ProviderStatus, default_model_path, probe_providers
from genrt.runtime.ort import import_onnxruntime, installed_onnxruntime_wheels
from genrt.runtime.onnxfile import check_external_data
from genrt.runtime.generator import Generator
from genrt.runtime.providers import ProviderFallbackWarning
from genrt.runtime.latents import interpolate_latents

__all__ = [
    "Contract",
    "Generator",
    "ProviderFallbackWarning",
    "ProviderStatus",
    "check_external_data",
    "default_model_path",
    "import_onnxruntime",
    "installed_onnxruntime_wheels",
    "interpolate_latents",
    "probe_providers",
    "read_contract",
]
