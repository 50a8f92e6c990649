import numpy as np
import pytest

from generation.encoding import encode_mp4, frames_to_uint8, probe_mp4


def test_frames_round_trip_through_h264():
    rng = np.random.default_rng(0)
    frames = frames_to_uint8(rng.random((17, 64, 96, 3), dtype=np.float32))

    video = encode_mp4(frames, fps=24, crf=18)

    assert video[4:8] == b"ftyp"
    assert b"moov" in video[:200], "the index comes first so browsers can play while loading"
    assert probe_mp4(video) == {"codec": "h264", "width": 96, "height": 64, "frames": 17, "fps": 24.0}


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (np.zeros((3, 63, 64, 3), np.uint8), "even sizes"),
        (np.zeros((0, 64, 64, 3), np.uint8), "no frames"),
        (np.zeros((3, 64, 64), np.uint8), "Expected"),
        (np.zeros((3, 64, 64, 3), np.float32), "Expected"),
    ],
)
def test_bad_frames_are_refused(frames, message):
    with pytest.raises(ValueError, match=message):
        encode_mp4(frames, fps=24)


def test_float_frames_are_clipped_to_8_bit():
    frames = np.array([[[[-0.5, 0.5, 1.5]]]], dtype=np.float32)
    assert frames_to_uint8(frames).tolist() == [[[[0, 128, 255]]]]
