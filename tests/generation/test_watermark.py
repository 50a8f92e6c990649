"""The marks themselves, on real MP4s: what survives a leaker's re-encode, downscale or crop, and what
never reads as a mark. Clips are moving gradients and shapes, and the smoke model's own noise output."""

import numpy as np
import pytest

from generation import watermark
from generation.encoding import encode_mp4
from tests.generation.clips import crop, decode, half_size, moving_scene, reencode

CODE = 0x9E3779B9


@pytest.fixture(params=["scene", "smoke"])
def frames(request):
    return moving_scene() if request.param == "scene" else request.getfixturevalue("smoke_frames")


def read(data: bytes) -> int | None:
    return watermark.read_invisible(decode(data, "gray"))


def test_a_marked_clip_reads_back_its_code(frames):
    clip = encode_mp4(watermark.mark_invisible(frames, CODE), fps=24)
    assert read(clip) == CODE


def test_the_code_survives_a_reencode_at_a_much_lower_bitrate(frames, request):
    clip = encode_mp4(watermark.mark_invisible(frames, CODE), fps=24)
    # CRF 35 turns a 25-frame clip of pure noise into a near-flat 6 kB file, mark and all (the content is
    # gone too); CRF 32 already cuts it 25-fold.
    crf = {"scene": 35, "smoke": 32}[request.node.callspec.params["frames"]]
    smaller = reencode(clip, crf=crf)
    assert len(smaller) * 3 < len(clip)
    assert read(smaller) == CODE


def test_the_code_survives_scaling_to_half_size(frames):
    clip = encode_mp4(watermark.mark_invisible(frames, CODE), fps=24)
    small = half_size(clip)
    assert decode(small).shape[1:3] == (128, 128)
    assert watermark.read_mean_luma(decode(small, "gray").mean(axis=0)).scale == pytest.approx(0.5, abs=0.02)
    assert read(small) == CODE


def test_the_code_survives_a_ten_percent_crop_at_an_odd_offset(frames):
    clip = encode_mp4(watermark.mark_invisible(frames, CODE), fps=24)
    cropped = crop(clip, fraction=0.1, top=13, left=7)
    assert decode(cropped).shape[1:3] == (230, 230)
    assert read(cropped) == CODE


def test_an_unmarked_clip_has_no_mark(frames):
    clip = encode_mp4(frames, fps=24)
    assert read(clip) is None
    assert read(half_size(clip)) is None and read(crop(clip)) is None


def test_two_jobs_clips_read_as_their_own_codes():
    scene = moving_scene(seed=3)
    first = encode_mp4(watermark.mark_invisible(scene, 1), fps=24)
    second = encode_mp4(watermark.mark_invisible(scene, 2**32 - 1), fps=24)
    assert (read(first), read(second)) == (1, 2**32 - 1)


def test_random_noise_clips_never_give_a_false_hit():
    rng = np.random.default_rng(2024)
    for height, width in [(256, 256), (240, 320), (512, 768)]:
        noise = rng.integers(0, 256, (9, height, width, 3), dtype=np.uint8)
        assert read(encode_mp4(noise, fps=24, crf=28)) is None
    # Many more pictures read directly: white noise, smooth noise, blocky noise, at odd sizes.
    for trial in range(60):
        height, width = [(256, 256), (230, 230), (360, 640), (512, 768)][trial % 4]
        picture = rng.normal(128, 40, (height, width))
        if trial % 3 == 1:
            picture = np.cumsum(np.cumsum(picture - 128, axis=0), axis=1)
        elif trial % 3 == 2:
            picture = rng.normal(128, 40, (height // 8 + 1, width // 8 + 1)).repeat(8, 0).repeat(8, 1)[:height, :width]
        # Each version reads once; a code is only ever given at or over its confirmation threshold.
        for version in watermark.VERSIONS.values():
            reading = version.read(picture)
            assert reading.code is None and reading.confirm_score < version.CONFIRM_THRESHOLD, (trial, version)


def test_the_invisible_mark_grows_only_in_texture_and_motion(frames, request):
    # The smoke model's untrained output is pure noise, which hides (and gets) a stronger mark: it changes
    # wholly from one frame to the next, and the mark reaches its ceiling (STRENGTH_MAX, 5 levels RMS: 34.2
    # dB); the scene's shapes cross a 256-pixel frame in a second, motion that gets a stronger one too (the
    # bench holds smooth 720p and 480p footage to 42 dB).
    floor = {"scene": 37.5, "smoke": 34.0}[request.node.callspec.params["frames"]]
    assert watermark.psnr(frames, watermark.mark_invisible(frames, CODE, version=2)) > floor


def test_the_visible_mark_is_drawn_in_the_bottom_right_corner_only():
    scene = moving_scene(count=5)
    stamped = watermark.mark_visible(scene, "Alpha · 3ZK9QWA", opacity=0.35)
    changed = np.argwhere((stamped != scene).any(axis=(0, 3)))
    top, left = changed.min(axis=0)
    bottom, right = changed.max(axis=0)
    assert top > 256 * 0.8 and left > 256 * 0.4 and bottom < 256 and right < 256
    assert np.array_equal(stamped[:, : top - 1], scene[:, : top - 1])
    assert np.array_equal(watermark.mark_visible(scene, "Alpha", opacity=0.0), scene)
    stronger = watermark.mark_visible(scene, "Alpha · 3ZK9QWA", opacity=0.9)
    assert np.abs(stronger.astype(int) - scene).sum() > 2 * np.abs(stamped.astype(int) - scene).sum()


def test_the_visible_mark_does_not_destroy_the_invisible_one():
    scene = moving_scene()
    both = watermark.mark_invisible(watermark.mark_visible(scene, "A long programme name · 3ZK9QWA", opacity=1.0), CODE)
    assert read(reencode(encode_mp4(both, fps=24), crf=30)) == CODE


@pytest.mark.parametrize(
    "frames",
    [np.zeros((2, 64, 64), np.uint8), np.zeros((2, 64, 64, 3), np.float32), np.zeros((64, 64, 3), np.uint8)],
)
def test_bad_frames_are_refused(frames):
    with pytest.raises(ValueError, match="Expected"):
        watermark.mark_invisible(frames, CODE)
    with pytest.raises(ValueError, match="Expected"):
        watermark.mark_visible(frames, "x", opacity=0.5)


def test_bad_codes_and_opacities_are_refused():
    with pytest.raises(ValueError, match="32-bit"):
        watermark.mark_invisible(moving_scene(count=1), 2**32)
    with pytest.raises(ValueError, match="Opacity"):
        watermark.mark_visible(moving_scene(count=1), "x", opacity=1.5)
