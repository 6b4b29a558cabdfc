"""Point lights of a frame: movers' lights (pool scale, occluder dimming), lamps, culling."""
from __future__ import annotations

import numpy as np
import pytest

from mlkd_tracker.sim.compose import sprite_affine
from mlkd_tracker.sim.lights import cull_reach, in_view, lamp_lights, random_lamps, sprite_lights
from mlkd_tracker.sim.lowlight import LowLightConfig
from mlkd_tracker.sim.optics import Light
from mlkd_tracker.sim.sprites import Sprite, SpriteLight

SHIFT = np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 7.0], [0.0, 0.0, 1.0]])  # ground -> image


def _car(x: float, y: float) -> tuple[Sprite, np.ndarray]:
    sprite = Sprite(np.zeros((4, 10, 3), np.float32), np.ones((4, 10), np.float32), "p",
                    "vehicle", [SpriteLight(9.0, 1.0, 2.0, (255.0, 255.0, 255.0), 3.0),
                                SpriteLight(0.0, 1.0, 0.5, (0.0, 0.0, 255.0), 0.0, False)])
    return sprite, sprite_affine(sprite, x, y, 0.0)


def test_sprite_lights_follow_the_sprite_scale_their_pools_and_dim_under_cover():
    occ = np.zeros((100, 100), np.uint8)
    mover = _car(50.0, 40.0)
    head, tail = sprite_lights([mover], SHIFT, occ, ground_scale=2.0)
    # sprite centre (4.5, 1.5) at ground (50, 40): the headlight at sprite (9, 1) is 4.5 ahead
    assert (head.x, head.y) == pytest.approx((50 + 4.5 + 5, 40 - 0.5 + 7))
    assert head.intensity == 2.0 and head.pool_px == 6.0 and head.glare
    assert tail.pool_px == 0.0 and not tail.glare
    assert sprite_lights([mover], SHIFT, occ)[0].pool_px == 3.0  # ground px = image px
    occ[39, 54] = 191  # three quarters of a canopy over the headlight
    dimmed = sprite_lights([mover], SHIFT, occ)[0]
    assert dimmed.intensity == pytest.approx(2.0 * (1 - 191 / 255))
    unlit = Sprite(mover[0].bgr, mover[0].alpha, "p", "ellipse")
    assert sprite_lights([(unlit, mover[1])], SHIFT, occ) == []


def test_lamp_lights_keep_the_lamps_near_the_frame_with_their_pool():
    lamps = [(0.0, 0.0, 1.0, (1.0, 2.0, 3.0)), (500.0, 0.0, 2.0, (1.0, 1.0, 1.0)),
             (10.0, 20.0, 3.0, (0.0, 0.0, 1.0))]
    reach = cull_reach(20.0)
    assert reach == 150.0 and cull_reach(80.0) == 240.0
    lights = lamp_lights(lamps, SHIFT, 12.0, 64, 48, reach)
    assert [(lt.x, lt.y, lt.intensity, lt.pool_px) for lt in lights] == [
        (5.0, 7.0, 1.0, 12.0), (15.0, 27.0, 3.0, 12.0)]  # the far one is culled
    xy = np.array([lp[:2] for lp in lamps])
    assert lamp_lights(lamps, SHIFT, None, 64, 48, reach, xy)[0].pool_px is None
    assert lamp_lights([], SHIFT, 12.0, 64, 48, reach) == []


def test_in_view_culls_in_order_and_random_lamps_are_seeded():
    lights = [Light(-151.0, 0.0, 1.0), Light(10.0, 10.0, 1.0), Light(0.0, 198.0, 1.0),
              Light(213.0, 197.0, 1.0)]  # bottom edge + reach = 198: strictly inside only
    assert in_view(lights, 64, 48, 150.0) == [lights[1], lights[3]]
    cfg = LowLightConfig(glare=5)
    a = random_lamps(np.random.default_rng(3), cfg, (100.0, 200.0), 30.0)
    assert a == random_lamps(np.random.default_rng(3), cfg, (100.0, 200.0), 30.0)
    assert len(a) == 5 and all(70 <= x <= 130 and 170 <= y <= 230 for x, y, *_ in a)
