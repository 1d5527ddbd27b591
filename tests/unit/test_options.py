"""Option schemas: strict types, ranges, choices and unknown keys."""
from dataclasses import FrozenInstanceError, dataclass
from typing import Literal

import pytest

from ganzoo import GanzooError, option
from ganzoo.options import validate


@dataclass(frozen=True)
class Opts:
    width: int = option(64, "channels", min=1)
    lr: float = option(2e-4, "learning rate", min=0, min_exclusive=True)
    betas: tuple[float, float] = option((0.5, 0.999), "", min=0, max=1)
    mode: Literal["a", "b"] = option("a")
    flag: bool = option(False)
    classes: tuple[int, ...] | None = option(None)


def test_defaults_and_coercion():
    o = validate(Opts, {"lr": "2e-4", "betas": [0, 0.9], "classes": [3, 5]}, "x")
    assert o == Opts(64, 2e-4, (0.0, 0.9), "a", False, (3, 5))
    assert isinstance(o.betas[0], float)
    with pytest.raises(FrozenInstanceError):
        o.width = 3


@pytest.mark.parametrize("values, message", [
    ({"widht": 3}, "x.widht: unknown key; allowed: betas, classes, flag, lr, mode, width (did you mean 'width'?)"),
    ({"width": 0}, "x.width: expected an integer >= 1, got 0"),
    ({"width": "wide"}, "x.width: expected an integer >= 1, got 'wide'"),
    ({"width": True}, "x.width: expected an integer >= 1, got True"),
    ({"lr": 0}, "x.lr: expected a number > 0, got 0"),
    ({"betas": [0.5]}, "x.betas: expected a list of 2 numbers, got [0.5]"),
    ({"betas": [0.5, 2]}, "x.betas[1]: expected a number in [0, 1], got 2"),
    ({"mode": "c"}, "x.mode: expected one of 'a', 'b', got 'c'"),
    ({"flag": "yes"}, "x.flag: expected true or false, got 'yes'"),
    ({"classes": 3}, "x.classes: expected a list of integers or null, got 3"),
])
def test_rejections_name_key_value_and_what_is_allowed(values, message):
    with pytest.raises(GanzooError) as err:
        validate(Opts, values, "x")
    assert str(err.value) == message
