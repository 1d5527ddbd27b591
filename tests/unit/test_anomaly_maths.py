"""Anomaly detection without data: AUROC and average precision, the protocols' digit choice,
f-AnoGAN's izi_f score, and phases that run in one stage of a run."""
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from ganzoo import GanzooError, Phase, auroc, average_precision
from ganzoo_plugins.anomaly import AnomalyDataOptions, FAnoGANObjective, normal_classes


def test_auroc_and_average_precision_match_hand_values_and_sklearn():
    scores, anomalous = torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([False, False, True, True])
    # pairs (anomaly, normal): (0.35 > 0.1), (0.35 < 0.4), (0.8 > both): 3 of 4
    assert auroc(scores, anomalous) == pytest.approx(0.75)
    # thresholds 0.8 (P 1, R 1/2), 0.4 (P 1/2, R 1/2), 0.35 (P 2/3, R 1): 1/2·1 + 1/2·2/3
    assert average_precision(scores, anomalous) == pytest.approx(5 / 6)
    assert auroc(torch.ones(4), anomalous) == 0.5  # all tied: no ranking at all
    g = torch.Generator().manual_seed(0)
    for trial in range(50):
        n = int(torch.randint(5, 200, (), generator=g))
        labels = torch.rand(n, generator=g) < 0.3
        labels[0], labels[1] = True, False
        values = torch.randint(0, 6, (n,), generator=g).float() if trial % 2 else torch.randn(n, generator=g)
        assert auroc(values, labels) == pytest.approx(roc_auc_score(labels.numpy(), values.numpy()), abs=1e-12)
        assert average_precision(values, labels) == pytest.approx(
            average_precision_score(labels.numpy(), values.numpy()), abs=1e-12)
    with pytest.raises(ValueError):
        auroc(scores, torch.zeros(4, dtype=torch.bool))


def test_protocols_name_the_digits_trained_on_and_refuse_half_given_ones():
    assert normal_classes(AnomalyDataOptions(protocol="one_class", normal=3)) == [3]
    assert normal_classes(AnomalyDataOptions(protocol="leave_one_out", anomaly=3)) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    for wrong in (dict(protocol="one_class"), dict(protocol="one_class", normal=1, anomaly=2),
                  dict(protocol="leave_one_out"), dict(protocol="leave_one_out", normal=1)):
        with pytest.raises(GanzooError, match=r"^data\.(normal|anomaly): protocol"):
            normal_classes(AnomalyDataOptions(**wrong))


def test_a_phase_runs_only_in_its_stage_and_on_its_steps():
    encoder = Phase("E", trains=("E",), during=(0.5, 1.0))
    lazy = Phase("R", trains=("D",), every=4, during=(0.0, 0.5))
    assert [s for s in range(10) if encoder.runs_at(s, 10)] == [5, 6, 7, 8, 9]
    assert [s for s in range(16) if lazy.runs_at(s, 16)] == [0, 4]


class _Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        return self.out(self.features(x))


def test_izi_f_score_is_the_image_and_feature_residual_per_image():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 4), nn.Unflatten(1, (1, 2, 2)))
    G.latent_dim = 2
    E = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    D = _Critic()
    nets = {"G": G, "D": D, "E": E}
    objective = FAnoGANObjective.__new__(FAnoGANObjective)
    objective.kappa = 0.5
    x = torch.randn(3, 1, 2, 2)
    x_hat = G(E(x))
    want = ((x - x_hat) ** 2).flatten(1).sum(1) / 4 + 0.5 * ((D.features(x) - D.features(x_hat)) ** 2).sum(1) / 3
    assert torch.allclose(objective.anomaly_scores(nets, x), want.detach())
