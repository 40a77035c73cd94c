"""genrt.export: PyTorch checkpoints -> verified ONNX files (fp32, fp16, int8, Triton).

Filled by the export issue. Only this package and `genrt.train` import torch.
"""
