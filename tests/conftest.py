"""Shared fixtures. `kernels` runs a test over the compiled kernels and the
pure-Python references alike, by pointing each native front module at one."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

from native import energy, g711, jitter, playout, resample, tone

pytest_plugins = ["tests.store_fixtures"]

# `kernels` only points modules at an implementation: sharing it between the
# examples of one hypothesis test is safe.
settings.register_profile(
    "mediaserver", suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
settings.load_profile("mediaserver")

FRONTS: dict[ModuleType, tuple[str, str]] = {
    g711: ("native._g711", "native._g711_ref"),
    resample: ("native._resample", "native._resample_ref"),
    jitter: ("native._jitter", "native._jitter_ref"),
    playout: ("native._playout", "native._playout_ref"),
    energy: ("native._energy_numba", "native._energy_ref"),
    tone: ("native._tone", "native._tone_ref"),
}


@pytest.fixture(params=["compiled", "reference"])
def kernels(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for front, (compiled, reference) in FRONTS.items():
        name = compiled if request.param == "compiled" else reference
        monkeypatch.setattr(front, "_kernel", importlib.import_module(name))
    return str(request.param)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder kept after the run (test-artifacts/<test name>): screenshots and such."""
    folder = Path(__file__).resolve().parent.parent / "test-artifacts" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
