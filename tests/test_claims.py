"""benchmarks/claims: every claim's arms run (4 steps, one seed), and the row writer on fixed rows."""
import json
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks" / "claims"))
import run as claims_run  # noqa: E402
from claims import CLAIMS  # noqa: E402


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_claim_runs_its_arms(name, data_root):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "claims" / "run.py"), name, "--smoke",
                           "--jobs", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)
    assert row["claim"] == name and row["verdict"] in ("holds", "partly", "does not hold")
    for arm in ("baseline", "treatment"):
        assert len(row[arm]["seeds"]) == 1
    assert len(row["commands"]) == 2 and all(c.startswith("ganzoo bench recipes/") for c in row["commands"])


def test_verdicts_and_the_table_from_fixed_rows():
    low, high = {"mean": 10.0, "std": 1.0}, {"mean": 20.0, "std": 2.0}
    assert claims_run.verdict("min", high, low) == "holds"          # better by 10, more than 2
    assert claims_run.verdict("min", {"mean": 11.0, "std": 2.0}, low) == "partly"
    assert claims_run.verdict("min", low, high) == "does not hold"
    assert claims_run.verdict("max", low, high) == "holds"
    inf = claims_run.summary([float("inf"), 1.0])
    assert inf["mean"] == float("inf") and claims_run.verdict("min", inf, inf) == "does not hold"

    row = {"claim": "ema", "statement": "EMA helps.", "paper": "Yazıcı et al. 2019, Table 2", "setting": "tiny",
           "key": "fid", "goal": "min", "verdict": "holds", "wall_minutes": 12.5, "jobs": 2,
           "baseline": {"arm": "r --set a=1", "seeds": [20.0, 22.0], "mean": 21.0, "std": 1.0},
           "treatment": {"arm": "r", "seeds": [10.0, 12.0], "mean": 11.0, "std": 1.0},
           "commands": ["ganzoo bench recipes/r.yaml --steps 5", "ganzoo bench recipes/r.yaml --steps 5"]}
    text = claims_run.table([row])
    assert ("| **ema**: EMA helps. | Yazıcı et al. 2019, Table 2 | tiny | fid (lower is better) | "
            "`r --set a=1`: 21 ± 1 (2 seeds) | `r`: 11 ± 1 (2 seeds) | **holds** | 12.5 min (2 jobs) |") in text
    assert "```bash\nganzoo bench recipes/r.yaml --steps 5\n" in text
