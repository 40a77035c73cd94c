"""Sample-quality metrics on feature vectors and class probabilities, numpy only.

- `fid`: Fréchet distance between Gaussians fitted to two feature sets (Heusel et
  al., 2017): |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)). The trace of the
  matrix square root is computed as the sum of the square roots of the
  eigenvalues of S1^(1/2) S2 S1^(1/2), a symmetric positive semi-definite matrix
  with the same eigenvalues as S1 S2, so no complex scipy.linalg.sqrtm is needed.
- `kid`: Kernel Inception Distance (Binkowski et al., 2018): the unbiased MMD^2
  estimate with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged
  over random subsets; reported with its standard error.
- `inception_score`: exp(E_x KL(p(y|x) || p(y))) (Salimans et al., 2016), mean and
  std over splits, from the classifier's class probabilities.
- `precision_recall`: the k-nearest-neighbour manifold estimate (Kynkäänniemi et
  al., 2019): precision is the share of generated samples inside some real
  sample's k-NN ball, recall the share of real samples inside some generated one's.
"""

from __future__ import annotations

import numpy as np


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, float64) of N x D features."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need an N x D array with N >= 2, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def fid_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)


def fid(features1: np.ndarray, features2: np.ndarray) -> float:
    return fid_from_stats(*gaussian(features1), *gaussian(features2))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0,
        normalise: bool = True):
    """(mean, standard error, std across subsets) of the unbiased MMD^2 over random subsets.

    `normalise` divides both sides by one constant, the root-mean-square feature
    value of `real`, so that x.y / d is of order 1 as it is for Inception
    features (values around 0.1 to 1). Features of a ReLU classifier run larger
    (RMS 5.5 for the bundled digits classifier): there the cubic kernel reached
    ~3e4, and the estimate moved by more than its standard error between two
    samples of the same generator.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if normalise:
        scale = np.sqrt(np.mean(real * real)) or 1.0
        real, fake = real / scale, fake / scale
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError("KID needs at least 2 samples on each side")
    rng = np.random.default_rng(seed)
    values = np.array([_mmd2_unbiased(real[rng.choice(len(real), m, replace=False)],
                                      fake[rng.choice(len(fake), m, replace=False)]) for _ in range(subsets)])
    std = float(values.std(ddof=1)) if subsets > 1 else 0.0
    return float(values.mean()), std / np.sqrt(subsets), std


def inception_score(probs: np.ndarray, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """(mean, std) over `splits` equal parts of exp(mean KL(p(y|x) || p(y))).

    The rows are shuffled (seeded) before splitting, so that samples stored class
    by class do not make every part single-class.
    """
    p = np.asarray(probs, np.float64)
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None)))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _pairwise_sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0, None)


def _knn_radii(x: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Squared distance from each row of x to its k-th nearest other row."""
    radii = np.empty(len(x))
    for start in range(0, len(x), block):
        d = _pairwise_sq(x[start : start + block], x)
        radii[start : start + block] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def _coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, block: int = 1024) -> float:
    """Share of `points` within some centre's ball (squared radii)."""
    inside = 0
    for start in range(0, len(points), block):
        d = _pairwise_sq(points[start : start + block], centres)
        inside += int((d <= radii[None, :]).any(axis=1).sum())
    return inside / len(points)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, seed: int = 0) -> tuple[float, float]:
    """(precision, recall); the larger side is subsampled (seeded) to the smaller one's size, as k-NN radii
    depend on how densely a set is sampled."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    rng = np.random.default_rng(seed)
    m = min(len(real), len(fake))
    real = real[np.sort(rng.choice(len(real), m, replace=False))] if len(real) > m else real
    fake = fake[np.sort(rng.choice(len(fake), m, replace=False))] if len(fake) > m else fake
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples on each side")
    precision = _coverage(fake, real, _knn_radii(real, k))
    recall = _coverage(real, fake, _knn_radii(fake, k))
    return precision, recall
