"""genrt.train: PyTorch training of DCGAN, conditional GAN and VAE models.

Filled by the training issue. Only this package and `genrt.export` import torch.
"""
