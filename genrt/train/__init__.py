"""genrt.train: PyTorch training of the generators genrt exports and serves (torch is imported here only).

- `TrainConfig` (config.py): every setting of a run.
- `train(config, resume=False)` (loop.py): the loop; DCGAN, cGAN, VAE; CPU, GPU, torchrun.
- `load_dataset(spec)` (genrt/data.py, shared with genrt.eval): embedded digits, IDX files, image folders, fake data.
- `build_models(ModelConfig)` (models.py): the networks, sized from the image resolution.
- recipe.py: differentiable augmentation, adaptive augmentation, R1; quality.py: FID while training.
- `load_checkpoint(path)` (checkpoint.py): safetensors checkpoints, never pickles.
"""

from genrt.train.checkpoint import Checkpoint, load_checkpoint
from genrt.train.config import TrainConfig
from genrt.data import Dataset, load_dataset
from genrt.train.loop import TrainingError, train
from genrt.train.models import ModelConfig, build_models, inference_module

__all__ = [
    "Checkpoint",
    "Dataset",
    "ModelConfig",
    "TrainConfig",
    "TrainingError",
    "build_models",
    "inference_module",
    "load_checkpoint",
    "load_dataset",
    "train",
]
