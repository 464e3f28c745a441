"""The seeded world (tests/inference/recommend/world.py), built once per test module."""

from __future__ import annotations

import pytest

from tests.inference.recommend.world import World, make_world


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()
