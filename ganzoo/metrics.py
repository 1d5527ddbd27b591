"""The maths of the evaluation metrics, as plain functions on features, probabilities or points.

Everything here is independent of networks and runs: the metric components in
`ganzoo_plugins.metrics` feed these with features from a feature network.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor


# --- Fréchet distance (FID) ---------------------------------------------------------------

def feature_statistics(features: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of (N, D) features, in float64."""
    x = features.detach().double().cpu().numpy()
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """‖μ1 - μ2‖² + Tr(Σ1 + Σ2 - 2(Σ1Σ2)^½), as in Heusel et al. 2017 and pytorch-fid."""
    import scipy.linalg  # here, not at the top: a third of a second that only FID needs

    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled just below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product: nudge both covariances (pytorch-fid does the same)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(fake_features: Tensor, real_features: Tensor) -> float:
    return frechet_distance(*feature_statistics(fake_features), *feature_statistics(real_features))


def save_statistics(path, mu: np.ndarray, sigma: np.ndarray) -> None:
    """(mu, sigma) as an .npz file in pytorch-fid's format (arrays `mu` and `sigma`)."""
    import io
    from pathlib import Path

    from .files import write_bytes
    buffer = io.BytesIO()
    np.savez(buffer, mu=mu, sigma=sigma)
    write_bytes(Path(path), buffer.getvalue(), "feature statistics")


def load_statistics(path) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of an .npz file in pytorch-fid's format (published statistics files among them)."""
    from .errors import GanzooError
    try:
        with np.load(path, allow_pickle=False) as f:
            mu, sigma = f["mu"][:], f["sigma"][:]
    except (OSError, ValueError, KeyError) as exc:
        raise GanzooError(f"{path}: not a statistics file with arrays mu and sigma "
                          f"({str(exc).splitlines()[0][:100]})") from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise GanzooError(f"{path}: mu {mu.shape} and sigma {sigma.shape} are not a mean and its covariance")
    return mu.astype(np.float64), sigma.astype(np.float64)


# --- Kernel Inception Distance (KID) --------------------------------------------------------

def mmd2_unbiased(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD² with the cubic polynomial kernel k(a, b) = (a·b / d + 1)³ (Bińkowski et al. 2018)."""
    d = x.shape[1]
    m = x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    off_diagonal = m * (m - 1)
    return ((kxx.sum() - kxx.diagonal().sum()) / off_diagonal + (kyy.sum() - kyy.diagonal().sum()) / off_diagonal
            - 2 * kxy.mean())


def kid(fake_features: Tensor, real_features: Tensor, subsets: int = 100, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Mean and standard deviation of the unbiased MMD² over random subsets."""
    x, y = fake_features.double().cpu(), real_features.double().cpu()
    m = min(subset_size, len(x), len(y))
    values = []
    for _ in range(subsets):
        i = torch.randperm(len(x), generator=generator)[:m]
        j = torch.randperm(len(y), generator=generator)[:m]
        values.append(mmd2_unbiased(x[i], y[j]))
    values = torch.stack(values)
    return float(values.mean()), float(values.std(unbiased=False))


# --- Inception Score ---------------------------------------------------------------------------

def inception_score(probs: Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) ‖ p(y))) per split; mean and standard deviation over the splits."""
    p = probs.double().cpu()
    scores = []
    for part in p.chunk(splits):
        marginal = part.mean(dim=0, keepdim=True)
        kl = (part * (torch.log(part.clamp_min(1e-12)) - torch.log(marginal.clamp_min(1e-12)))).sum(dim=1)
        scores.append(torch.exp(kl.mean()))
    scores = torch.stack(scores)
    return float(scores.mean()), float(scores.std(unbiased=False))


# --- Improved precision and recall (Kynkäänniemi et al. 2019) ----------------------------------

def _kth_neighbour_radii(features: Tensor, k: int, chunk: int = 2048) -> Tensor:
    return nearest_neighbour_distance(features, features, k + 1, chunk)  # +1: the point itself is at distance 0


def _inside_manifold(queries: Tensor, support: Tensor, radii: Tensor, chunk: int = 2048) -> Tensor:
    inside = []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start:start + chunk], support)
        inside.append((d <= radii.unsqueeze(0)).any(dim=1))
    return torch.cat(inside)


def precision_recall(fake_features: Tensor, real_features: Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: fakes inside the real k-NN manifold; recall: reals inside the fake manifold."""
    fake, real = fake_features.float(), real_features.float()
    precision = _inside_manifold(fake, real, _kth_neighbour_radii(real, k)).float().mean()
    recall = _inside_manifold(real, fake, _kth_neighbour_radii(fake, k)).float().mean()
    return float(precision), float(recall)


# --- Density and coverage (Naeem et al. 2020) --------------------------------------------------

def density_coverage(fake_features: Tensor, real_features: Tensor, k: int = 5,
                     chunk: int = 2048) -> tuple[float, float]:
    """Density: real k-NN balls containing each fake, counted with multiplicity, / k, averaged
    (about 1 when the two match, above 1 where fakes crowd the real modes); coverage: share of
    real balls holding at least one fake. Strict inequalities, as the authors' `prdc` code."""
    fake, real = fake_features.float(), real_features.float()
    radii = _kth_neighbour_radii(real, k, chunk)
    inside_count = torch.zeros(len(fake))
    covered = torch.zeros(len(real), dtype=torch.bool)
    for start in range(0, len(real), chunk):
        d = torch.cdist(real[start:start + chunk], fake)           # (chunk of reals, fakes)
        inside = d < radii[start:start + chunk].unsqueeze(1)
        inside_count += inside.sum(dim=0)
        covered[start:start + chunk] = inside.any(dim=1)
    return float(inside_count.mean() / k), float(covered.float().mean())


# --- Mode coverage -------------------------------------------------------------------------------

def kl_to_uniform(counts: Tensor, num_modes: int) -> float:
    """KL(p ‖ uniform) for the histogram `counts` over `num_modes` modes (0·log 0 = 0)."""
    total = counts.sum()
    if total == 0:
        return float("inf")
    p = counts.double() / total
    p = p[p > 0]
    return float((p * torch.log(p * num_modes)).sum())


def stacked_mnist_modes(digits: Tensor) -> tuple[int, float]:
    """(modes covered, KL to uniform over 1000) from the (N, 3) digits classified per channel."""
    modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(modes.long().cpu(), minlength=1000)
    return int((counts > 0).sum()), kl_to_uniform(counts, 1000)


def modes_2d(samples: Tensor, centers: Tensor, std: float) -> tuple[int, float, float]:
    """PacGAN protocol: (modes captured, fraction of high-quality samples, reverse KL).

    A sample is high quality if it lies within 3 standard deviations of its nearest mode;
    a mode is captured if at least one high-quality sample is nearest to it. The reverse KL
    is KL(p_gen ‖ uniform) over the modes of the high-quality samples.
    """
    d = torch.cdist(samples.double().cpu(), centers.double().cpu())
    nearest_distance, nearest = d.min(dim=1)
    high_quality = nearest_distance < 3 * std
    counts = torch.bincount(nearest[high_quality], minlength=len(centers))
    return int((counts > 0).sum()), float(high_quality.double().mean()), kl_to_uniform(counts, len(centers))


# --- anomaly detection --------------------------------------------------------------------------

def auroc(scores: Tensor, anomalous: Tensor) -> float:
    """Area under the ROC curve of `scores` (higher: more anomalous) against boolean labels:
    the probability that an anomaly outscores a normal example, ties counting one half
    (the Mann-Whitney U statistic; equal to sklearn's roc_auc_score)."""
    scores, anomalous = scores.double().flatten().cpu(), anomalous.bool().flatten().cpu()
    n_pos, n_neg = int(anomalous.sum()), int((~anomalous).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both anomalous and normal examples")
    ranks = _average_ranks(scores)
    return float((ranks[anomalous].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: Tensor) -> Tensor:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = values.argsort(stable=True)
    sorted_values = values[order]
    new_group = torch.ones_like(sorted_values, dtype=torch.bool)
    new_group[1:] = sorted_values[1:] != sorted_values[:-1]
    group = new_group.cumsum(0) - 1
    positions = torch.arange(1, len(values) + 1, dtype=torch.float64)
    sums = torch.zeros(int(group[-1]) + 1, dtype=torch.float64).scatter_add_(0, group, positions)
    mean_rank = sums / torch.bincount(group).double()
    ranks = torch.empty_like(positions)
    ranks[order] = mean_rank[group]
    return ranks


def average_precision(scores: Tensor, anomalous: Tensor) -> float:
    """Average precision with the anomalies as the positive class: Σ (R_n - R_{n-1}) P_n over
    the distinct score thresholds, highest first (sklearn's average_precision_score)."""
    scores, anomalous = scores.double().flatten().cpu(), anomalous.bool().flatten().cpu()
    n_pos = int(anomalous.sum())
    if n_pos == 0:
        raise ValueError("average precision needs anomalous examples")
    order = scores.argsort(descending=True, stable=True)
    s, hits = scores[order], anomalous[order].double()
    last_of_threshold = torch.ones_like(s, dtype=torch.bool)  # a threshold admits all its ties at once
    last_of_threshold[:-1] = s[1:] != s[:-1]
    true_pos = hits.cumsum(0)[last_of_threshold]
    admitted = torch.arange(1, len(s) + 1, dtype=torch.float64)[last_of_threshold]
    precision, recall = true_pos / admitted, true_pos / n_pos
    gained = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((gained * precision).sum())


def nearest_neighbour_distance(queries: Tensor, support: Tensor, k: int = 1, chunk: int = 1024) -> Tensor:
    """Euclidean distance of each query to its k-th nearest point of `support` (N, D)."""
    out = []
    for start in range(0, len(queries), chunk):
        d = torch.cdist(queries[start:start + chunk].float(), support.float())
        out.append(d.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(out)
