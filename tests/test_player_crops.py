"""tools/player_crops.py's event clips (she turns or reverses in the frames to predict), on
hand-made frames with a 4x4 block of Ms. Pac-Man's colour."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from avgkit.data import clips
from avgkit.study import PLAYER_COLOUR

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
from player_crops import crop_on_player, is_event, main, movement_rule, shares  # noqa: E402


def frames_along(columns, rows=None) -> np.ndarray:
    """uint8 (T, 210, 160, 3): black frames, her block's top-left at (rows[t], columns[t])."""
    rows = [50] * len(columns) if rows is None else rows
    frames = np.zeros((len(columns), 210, 160, 3), np.uint8)
    for t, (row, column) in enumerate(zip(rows, columns)):
        frames[t, row : row + 4, column : column + 4] = PLAYER_COLOUR
    return frames


SPEC = clips.ClipSpec(clip_length=7)  # 4 history frames, 3 to predict


def test_a_reversal_in_the_frames_to_predict_is_an_event():
    # frames 2..6 are looked at (from the one before the last history frame)
    assert is_event(frames_along([10, 12, 14, 16, 18, 20, 17]), 0, SPEC)
    assert not is_event(frames_along([10, 12, 14, 16, 18, 20, 22]), 0, SPEC)


def test_a_turn_is_an_event_and_a_reversal_early_in_the_history_is_not():
    turn = frames_along([10, 12, 14, 16, 18, 18, 18], [50, 50, 50, 50, 50, 53, 56])
    assert is_event(turn, 0, SPEC)
    # right then left between frames 0 and 2, before the frames looked at (2..6)
    assert not is_event(frames_along([10, 13, 11, 9, 7, 5, 3]), 0, SPEC)
    # with 2 history frames the frames looked at start at 0 and hold it
    assert is_event(
        frames_along([10, 13, 11, 9, 7, 5, 3]), 0, clips.ClipSpec(clip_length=7, hist_len=2)
    )


def test_she_missing_is_not_an_event():
    frames = frames_along([10, 12, 14, 16, 18, 20, 17])
    frames[5] = 0
    assert not is_event(frames, 0, SPEC)


def test_shares_count_events_and_her_in_a_shard(tmp_path):
    # 3 clips of 32x32 crops: one reverses, one runs straight, one never shows her
    def clip(columns):
        frames = frames_along(columns)[:, 40:72, 0:32] if columns else np.zeros((7, 32, 32, 3))
        return frames.transpose(1, 2, 0, 3).reshape(32, 32, 21)

    made = np.stack(
        [clip([2, 4, 6, 8, 10, 12, 9]), clip([2, 4, 6, 8, 10, 12, 14]), clip(None)]
    ).astype(np.uint8)
    np.savez(tmp_path / "clips-00000-0000.npz", clips=made)
    assert shares(tmp_path, SPEC, 1) == (1 / 3, 2 / 3, 3)


def test_a_rerun_with_another_events_share_stops_in_one_line(tmp_path, capsys):
    study = tmp_path / "study"
    for part in ("Train", "Test"):
        (study / part).mkdir(parents=True)
    (study / "recording.json").write_text("{}")
    out = tmp_path / "events"
    (out / "clips-7").mkdir(parents=True)
    (out / "clips-7" / "events.json").write_text('{"events": 0.5}')
    args = [str(out), "--study_data", str(study), "--clip_length", "7", "--events", "0.3"]
    assert main(args) == 2
    assert capsys.readouterr().out == (
        f"{out / 'clips-7'}: cut with --events 0.5 --on_her 0.5; rerun with them, or delete it\n"
    )
    assert not list((out / "clips-7").glob("clips-*"))  # nothing cut


def test_on_her_share_places_every_crop_on_her_or_none():
    # she runs right along row 50 from column 100; crops are 32x32, so on her means the crop
    # holds her block in its last history frame (frame 3, columns 106-109)
    frames = frames_along(range(100, 114, 2))
    starts = np.array([0, 0, 0, 0])

    def holds_her(cut):
        clip = cut.reshape(len(cut), 32, 32, 7, 3)[:, :, :, 3]
        return [bool((clip[i] == PLAYER_COLOUR).all(-1).sum() >= 10) for i in range(len(cut))]

    placed, _, _ = crop_on_player(frames, starts, np.random.default_rng(0), SPEC, share=1.0)
    assert holds_her(placed) == [True] * 4
    rule, _, _ = crop_on_player(frames, starts, np.random.default_rng(0), SPEC, share=0.0)
    cut_by_rule, _, _ = movement_rule(frames, starts, np.random.default_rng(0), SPEC)
    np.testing.assert_array_equal(rule, cut_by_rule)
