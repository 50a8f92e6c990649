"""bench/fleet.py runs the real claim, progress and settling code with the GPU and post-processing stood in for.
No test runs the fleet (it needs PostgreSQL and minutes), so each stand-in is checked against the function it
replaces when a node starts."""

import sys
from pathlib import Path

import pytest

from generation import render, runner

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def fleet(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import fleet

    yield fleet
    sys.modules.pop("fleet", None)


def test_a_stand_in_that_fell_behind_its_function_stops_the_bench(fleet):
    def finish_before_25d3f02(*, job, frames, device_seconds):
        return True

    with pytest.raises(TypeError, match=r"generation\.render\.job_finish lacks \['source_frames'\]"):
        fleet.stand_in(render.job_finish, finish_before_25d3f02)


def test_a_stand_in_that_takes_every_argument_is_used(fleet):
    def finish(*, job, frames, device_seconds, source_frames=None):
        return True

    def fake_render(spec, params, *, on_step):
        return None

    def timed_claim(**kwargs):
        return None

    assert fleet.stand_in(render.job_finish, finish) is finish
    assert fleet.stand_in(runner.render, fake_render) is fake_render
    assert fleet.stand_in(render.job_claim_next, timed_claim) is timed_claim
