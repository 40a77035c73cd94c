"""genrt: train, export and serve image GANs and VAEs.

The top level imports nothing heavy: `import genrt` costs numpy at most, so the
CLI starts fast and the runtime never drags torch in. Subpackages:

- `genrt.ext`      Cython post-processing (float NCHW -> uint8 NHWC, grids).
- `genrt.runtime`  onnxruntime + numpy serving of exported generators.
- `genrt.train`    PyTorch training (needs the `train` extra).
- `genrt.export`   PyTorch -> verified ONNX (needs the `train` extra).
"""

from genrt.errors import DependencyError, GenrtError, InputError, ModelError, OutputError

__version__ = "0.1.0"

__all__ = ["__version__", "DependencyError", "GenrtError", "InputError", "ModelError", "OutputError"]
