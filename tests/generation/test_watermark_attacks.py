"""The invisible mark (current version) against each family of what leakers do and a realistic chain
of them, on several kinds of natural-looking footage with random codes: every clip is marked, encoded
as Backlot delivers it, attacked with real encoders and scalers, decoded back with PyAV and read. And
what must never read: unmarked footage under the same attacks. Clips are short (12 frames of 720p, the
size leaks start from) so each test takes a second or two; bench/watermark.py runs the full table."""

import functools
import zlib

import numpy as np
import pytest

from generation import watermark
from generation.marks import v2
from tests.generation import attacks as a
from tests.generation.footage import CONTENTS

WIDTH, HEIGHT, FRAMES, FPS = 1280, 720, 12, 24


def delivered(content: str, code: int | None, *, seed: int = 0, frames: int = FRAMES, size=(WIDTH, HEIGHT)) -> a.Clip:
    """``content`` marked with ``code`` (None: not marked), H.264 at CRF 18 as stored, decoded back."""
    if code is None:
        return _delivered_unmarked(content, seed, frames, size)
    return a.h264(18)((watermark.mark_invisible(_footage(content, seed, frames, size), code), FPS))


# Making 720p footage takes longer than marking, encoding and reading it: each kind is made once per process
# and shared, read-only, by the tests that mark it with codes of their own.
@functools.lru_cache(maxsize=8)
def _footage(content: str, seed: int, frames: int, size: tuple[int, int]) -> np.ndarray:
    footage = CONTENTS[content](frames, size[1], size[0], seed=seed)
    footage.setflags(write=False)
    return footage


@functools.lru_cache(maxsize=4)
def _delivered_unmarked(content: str, seed: int, frames: int, size: tuple[int, int]) -> a.Clip:
    clip = a.h264(18)((_footage(content, seed, frames, size), FPS))
    clip[0].setflags(write=False)
    return clip


def read(clip: a.Clip) -> watermark.Reading:
    return watermark.read_mean_luma(watermark.mean_luma(clip[0]))


def random_code(request) -> int:
    # A code of its own for each test, the same in every run (str's hash() changes from one process to the next).
    return int(np.random.default_rng(zlib.crc32(request.node.name.encode())).integers(0, 2**32))


FAMILIES = {
    "scale to a quarter": a.chain("", a.scale(0.25), a.h264(23)),
    "720p to 360p": a.chain("", a.resize_to(640, 360), a.h264(28)),
    "aspect change to 4:3 at 480p": a.chain("", a.resize_to(640, 480), a.h264(26)),
    "crop 20 % at odd offsets": a.chain("", a.crop(0.2, top=0.13, left=0.71), a.h264(26)),
    "letterbox into 9:16": a.chain("", a.boxed(9, 16, 640), a.h264(26)),
    "pillarbox into 1:1": a.chain("", a.boxed(1, 1, 432), a.h264(26)),
    "H.264 CRF 40": a.h264(40),
    "300 kbit/s": a.h264_bitrate(300),
    "VP9 CRF 40": a.vp9(40),
    "colour shifts of 20 %": a.chain("", a.brightness(0.8), a.contrast(1.2), a.gamma(0.8), a.saturation(0.8)),
    "blur and noise (screen recording)": a.chain("", a.blur, a.noise(3.0), a.h264(28)),
    "horizontal flip": a.chain("", a.flip, a.h264(26)),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("content", ["gradient", "texture", "dark"])
def test_the_mark_survives_each_attack_family(family, content, request):
    code = random_code(request)
    assert read(FAMILIES[family](delivered(content, code))).code == code


@pytest.mark.parametrize("content", ["bright", "skin", "smoke", "fast"])
def test_the_mark_survives_frame_rate_changes_and_a_two_second_trim(content, request):
    code = random_code(request)
    clip = delivered(content, code, frames=60, size=(960, 540))  # 2.5 s
    for chain in [a.chain("", a.frame_rate(30), a.trim(2.0, 0.9)), a.chain("", a.frame_rate(30), a.frame_rate(24))]:
        attacked = a.h264(30)(chain(clip))
        assert read(attacked).code == code


@pytest.mark.parametrize("content", list(CONTENTS))
def test_the_mark_survives_a_realistic_leak(content, request):
    """The issue's example: trimmed to 2 s, cropped, scaled to 480p, gamma changed, re-encoded at
    CRF 32; and mirrored on the way."""
    code = random_code(request)
    leak = a.chain("", a.trim(2.0, 0.5), a.crop(0.15), a.flip, a.resize_to(852, 480), a.gamma(1.2), a.h264(32))
    reading = read(leak(delivered(content, code, frames=60)))
    assert reading.code == code and reading.flipped


# What the first version-2 reader missed (bench, 2026-12-06): fast pans (62 % traced), a squeeze that
# changes the aspect ratio of a picture whose rows show the period less than twice, and scales outside
# the reader's list measured a percent or two off on few repetitions.
HARD = {
    "720p to 360p at CRF 35": a.chain("", a.resize_to(640, 360), a.h264(35)),
    "quarter size at CRF 28": a.chain("", a.scale(0.25), a.h264(28)),
    "letterboxed into 9:16 at CRF 28": a.chain("", a.boxed(9, 16, 640), a.h264(28)),
    "squeezed to 4:3 at 480p, CRF 30": a.chain("", a.resize_to(640, 480), a.h264(30)),
    "cropped, pillarboxed into 1:1 at CRF 30": a.chain("", a.crop(0.1), a.boxed(1, 1, 480), a.h264(30)),
}


# Two seconds, the shortest leak the issue names: since a clean, still picture gets the faintest mark, a one-second
# gradient read at a quarter of its size after CRF 28 traced 5 of 8 random codes, and letterboxed into 9:16, 8 of 10;
# two seconds traced every one of them (the bench's clips are 2.5 s).
HARD_FRAMES = 48


@pytest.mark.parametrize("chain", HARD)
@pytest.mark.parametrize("content", ["fast", "smoke", "gradient"])
def test_the_mark_survives_fast_motion_aspect_squeezes_and_odd_scales(chain, content, request):
    code = random_code(request)
    reading = read(HARD[chain](delivered(content, code, frames=HARD_FRAMES, seed=random_code(request) % 100)))
    assert reading.code == code, reading


def test_the_reader_measures_a_period_outside_its_list_of_scales():
    """A 9:16 letterbox of a 1280x720 clip is a scale of 0.28125, in no list: measured, then corrected."""
    code = 0x0BADCAFE
    reading = read(HARD["letterboxed into 9:16 at CRF 28"](delivered("gradient", code, frames=HARD_FRAMES)))
    assert reading.code == code and reading.scale == pytest.approx(0.28125, rel=0.01)


def test_the_reader_cuts_off_a_letterbox_with_the_ringing_along_its_edges():
    """The encoder leaves a few rows along each bar's edge that vary by some levels: left in, they cost
    the gradient letterboxed into 9:16 its CRC now and then (issue 13)."""
    clip = a.chain("", a.boxed(9, 16, 640), a.h264(28))(delivered("gradient", None, seed=42, frames=6))
    image = watermark.mean_luma(clip[0])
    assert v2._unboxed(image).shape == (202, 360)  # 720 x 1280 scaled by 0.28125, as boxed() fits it
    assert v2._unboxed(image[219:421]).shape == (202, 360)  # no bars: nothing cut


def test_a_clip_marked_at_the_first_version_2_strengths_still_traces(monkeypatch):
    """Strength is the marker's choice alone: clips marked before motion raised it, flat areas lowered it
    and clean, still ones fell to a floor read with the same reader."""
    code = 0x2BAD5EED
    monkeypatch.setattr(v2.MARK, "STRENGTH_FLAT", 1.75)
    monkeypatch.setattr(v2.MARK, "STRENGTH_CLEAN", 1.75)
    monkeypatch.setattr(v2.MARK, "BOOST_MAX", 1.0)
    monkeypatch.setattr(v2.MARK, "STRENGTH_MAX", 5.0)
    monkeypatch.setattr(v2.MARK, "MOTION_GAIN", 0.0)
    monkeypatch.setattr(v2.MARK, "SPEED_GAIN", 0.0)
    clip = a.chain("", a.resize_to(640, 360), a.h264(30))(delivered("gradient", code))
    monkeypatch.undo()
    assert read(clip).code == code


def test_a_clip_marked_with_version_1_still_traces():
    code = 0x1234ABCD
    footage = CONTENTS["gradient"](FRAMES, 256, 256, seed=4)
    clip = a.h264(30)((watermark.mark_invisible(footage, code, version=1), FPS))
    reading = read(clip)
    assert (reading.code, reading.version) == (code, 1)
    marked = watermark.mark_invisible(footage, code, version=2)
    assert read(a.h264(30)((marked, FPS))).version == watermark.CURRENT_VERSION


# Small frames (version 3): what the smoke model renders (256 x 256) and a small landscape clip, leaked as
# leakers do at that size. A still, strongly textured shot is left out: at 256 pixels and 12 frames nothing
# averages its texture away (bench/watermark.py --small gives the whole table).
SMALL = {
    "half size at CRF 26": a.chain("", a.scale(0.5), a.h264(26)),
    "squeezed by 0.75 x 0.6": a.chain("", a.scale(0.75, 0.6), a.h264(28)),
    "crop 20 % at odd offsets": a.chain("", a.crop(0.2, top=0.13, left=0.71), a.h264(26)),
    "letterbox into 9:16": a.chain("", a.boxed(9, 16, 480), a.h264(26)),
    "VP9 CRF 40": a.vp9(40),
    "blur and noise (screen recording)": a.chain("", a.blur, a.noise(3.0), a.h264(28)),
}
SMALL_LEAK = a.chain("", a.trim(0.8, 0.1), a.crop(0.15), a.flip, a.scale(0.75), a.gamma(1.2), a.h264(30))


@pytest.mark.parametrize("size", [(256, 256), (320, 192)])
@pytest.mark.parametrize("content", ["gradient", "fast", "smoke"])
def test_small_frames_carry_version_3_through_the_attack_families(content, size, request):
    """Five random codes, each family of attacks on each: at this size some margins are thin (half of 320x192 is
    96 pixels high, under one 128-pixel tile: a gradient there traced 38 of 40 random codes), and x264 does not
    encode the same clip the same way twice in one process, so one code would pass or fail by chance. Every
    family traces at least 3 of the 5 codes, all of them together at least 27 of 30, and none reads wrong."""
    codes = np.random.default_rng(random_code(request)).integers(0, 2**32, 5).tolist()
    traced = dict.fromkeys(SMALL, 0)
    for code in codes:
        clip = delivered(content, code, frames=24, size=size)
        for family, attack in SMALL.items():
            reading = read(attack(clip))
            assert reading.code in (code, None), f"{family}: a wrong code"
            traced[family] += (reading.code, reading.version) == (code, 3)
    assert min(traced.values()) >= 3 and sum(traced.values()) >= 27, traced


@pytest.mark.parametrize("content", ["gradient", "smoke"])
def test_a_small_clip_traces_after_a_realistic_leak(content, request):
    """Trimmed to 0.8 s, cropped 15 %, mirrored, scaled by 0.75, gamma changed, CRF 30: the margins are thin at
    this size (3 encodes each of 6 random codes: gradient 18 of 18 traced, smoke renders 15 of 18; the bench's
    --small table shows the rest), and x264 does not encode a clip the same way twice in one process, so eight
    random codes: at least half are traced, each one read mirrored, and none reads wrong."""
    traced = 0
    for code in np.random.default_rng(random_code(request)).integers(0, 2**32, 8).tolist():
        reading = read(SMALL_LEAK(delivered(content, code, frames=24, size=(256, 256))))
        assert reading.code in (code, None), "a wrong code"
        if reading.code == code:
            assert (reading.version, reading.flipped) == (3, True)
            traced += 1
    assert traced >= 4, f"{traced} of 8 traced"


# CogVideoX and Wan render 480p frames (720x480, 832x480), under two of version 2's 256-pixel tiles high. Version 3
# marked them until version 2 was measured on them: through the small-frame chains, 165 of 168 traced against 154 of
# 168, and these two chains 28 of 28 against 12 (bench/watermark.py --small --sizes 720x480,832x480 --version N).
# With three more codes each they traced 43 of 48 (fast pans at 720x480 and still texture at 832x480 missed: the
# mark's sync was found, its code not), bright and dark footage every time.
LOW_480P = {
    "half size at CRF 35": a.chain("", a.scale(0.5), a.h264(35)),
    "CRF 40": FAMILIES["H.264 CRF 40"],
}


@pytest.mark.parametrize("size", [(720, 480), (832, 480)])
@pytest.mark.parametrize("content", ["bright", "dark"])
def test_480p_frames_carry_version_2_through_half_size_at_crf_35_and_crf_40(content, size, request):
    code = random_code(request)
    clip = delivered(content, code, frames=49, size=size)
    for family, attack in LOW_480P.items():
        reading = read(attack(clip))
        assert (reading.code, reading.version) == (code, 2), f"{family}: {reading}"


@pytest.mark.parametrize("content", ["gradient", "smoke"])
def test_unmarked_small_frames_read_as_no_mark(content):
    clip = delivered(content, None, seed=7, frames=12, size=(256, 256))
    for family, attack in [*SMALL.items(), ("leak", SMALL_LEAK)]:
        assert read(attack(clip)).code is None, family


@pytest.mark.parametrize("content", list(CONTENTS))
def test_unmarked_footage_reads_as_no_mark_under_every_attack(content):
    clip = delivered(content, None, seed=7)
    for family, attack in FAMILIES.items():
        assert read(attack(clip)).code is None, family


def test_a_still_flat_gradient_gets_the_faintest_mark_and_motion_a_stronger_one():
    """Nothing masks a mark on a clean, still picture, so it falls to the floor there: dithered offsets of a
    level or two, a sparse grain with no blotches to see (bench/watermark.py --quality-only saves the crop);
    a pan over the same kind of picture gets a stronger one."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    flat = np.repeat((90 + 80 * x / WIDTH + 20 * y / HEIGHT)[None, ..., None], 3, axis=-1).round().astype(np.uint8)
    marked = watermark.mark_invisible(np.repeat(flat, 2, axis=0), 99)
    assert watermark.psnr(flat, marked[:1]) >= 50.0
    offset = marked[0, ..., 1].astype(np.int16) - flat[0, ..., 1]
    assert np.abs(offset).max() <= 2 and len(np.unique(offset)) >= 3 and np.abs(np.mean(offset)) < 0.05

    still = watermark.luma(CONTENTS["texture"](4, 256, 512, seed=1))
    panned = watermark.luma(CONTENTS["fast"](4, 256, 512, seed=1))
    assert v2.strength_map(panned).mean() > 1.3 * v2.strength_map(still).mean()
    assert v2.strength_map(np.repeat(still[:1], 4, axis=0)).mean() == pytest.approx(v2.strength_map(still[:1]).mean())
    # Speed is measured from each look to the frame after it: a slow drift is marked as a slow drift, however
    # far it has gone by the next look.
    drift = [np.roll(still[0], shift, axis=1) for shift in (0, 1, 40, 41)]
    assert (
        v2.strength_map(np.stack(drift[::2]), np.stack(drift[1::2])).mean()
        < v2.strength_map(np.stack(drift[::2])).mean()
    )


def test_the_clean_picture_floor_weakens_only_a_clean_still_picture_and_its_clips_still_trace():
    """STRENGTH_CLEAN lowers the mark where nothing masks it: no grain and no motion, however steep the
    picture's slope of luminance. Grain or motion lift it back to STRENGTH_FLAT, and what the floor takes
    from one part of a picture goes to the parts that hide it."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    clean = (90 + 80 * x / WIDTH + 20 * y / HEIGHT).round()
    steep = (90 + 100 * np.sin(x / WIDTH * 3) + 60 * y / HEIGHT).round()
    grained = clean + np.random.default_rng(1).normal(0, 1.5, clean.shape).round()
    moving = np.stack([clean, np.roll(clean, 40, axis=1)])  # a pan of 40 pixels: 2.5 levels of change
    assert v2.strength_map(clean[None]).mean() < 0.5 and v2.strength_map(steep[None]).mean() < 0.5
    assert v2.strength_map(grained[None]).mean() > 1.4 and v2.strength_map(moving).mean() > 1.3
    half = v2.strength_map(np.where(x < WIDTH / 2, clean, grained)[None])
    assert (
        half[:, : WIDTH // 2 - 50].mean() < 0.5
        and half[:, WIDTH // 2 + 50 :].mean() > v2.strength_map(grained[None]).mean()
    )
    code = 0x5EED0F1A
    clip = a.chain("", a.resize_to(640, 360), a.h264(28))(delivered("skin", code))
    assert read(clip).code == code


def test_the_mark_is_stronger_in_texture_and_keeps_42_db_on_smooth_footage():
    for content in ["gradient", "skin", "bright"]:
        footage = CONTENTS[content](8, HEIGHT, WIDTH)
        assert watermark.psnr(footage, watermark.mark_invisible(footage, 99)) >= 42.0, content
    textured = CONTENTS["texture"](8, HEIGHT, WIDTH)
    smooth = CONTENTS["gradient"](8, HEIGHT, WIDTH)
    assert watermark.psnr(textured, watermark.mark_invisible(textured, 99)) < watermark.psnr(
        smooth, watermark.mark_invisible(smooth, 99)
    )


def test_an_unknown_mark_version_is_refused():
    with pytest.raises(ValueError, match="Unknown mark version 9"):
        watermark.mark_invisible(CONTENTS["gradient"](1, 64, 64), 1, version=9)
