"""genrt.export: PyTorch checkpoints -> verified ONNX files (fp32, fp16, int8) and Triton repositories.

- `export_checkpoint(checkpoint, "model.onnx", fp16=, int8=, triton_repo=)` (pipeline.py): the whole
  path, from a training checkpoint to files that have passed verification; nothing is kept otherwise.
- `verify(path, module, cfg, trace_batch)` (verify.py): checker, contract signature, baked-in batch
  constants, onnxruntime-vs-PyTorch parity; raises VerificationError naming every failure.
- graph.py: the traced graph and its genrt.* metadata; variants.py: fp16 and int8; triton.py: config.pbtxt.

Only this package and `genrt.train` import torch.
"""

from genrt.errors import VerificationError
from genrt.export.pipeline import ExportResult, export_checkpoint
from genrt.export.report import VerificationReport
from genrt.export.verify import BATCH_SIZES, verify
from genrt.runtime.contract import variant_path
from genrt.spec import TOLERANCES, Tolerance

__all__ = [
    "BATCH_SIZES",
    "TOLERANCES",
    "ExportResult",
    "Tolerance",
    "VerificationError",
    "VerificationReport",
    "export_checkpoint",
    "variant_path",
    "verify",
]
