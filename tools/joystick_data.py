"""Three facts of the recorded data behind the action-conditioned study (docs/study.md, "The
player's actions"): how often a training crop holds Ms. Pac-Man, how closely her moves follow
the joystick, and how closely her turns do.

    python tools/joystick_data.py [--data data/mspacman-study] [--shards 20] [--episodes 6]

Crops: the share of clips (first `shards` shards) whose frame to predict shows at least 10 of her
pixels. Moves: over the first `episodes` test episodes, for each frame where she moves 0.5-6 px
along mostly one axis, whether that direction is the one held (UP, DOWN, LEFT or RIGHT) `lag`
frames earlier, for lags -2 to 7. Turns: at each of her turns (`avgkit.play.turns` over 3
frames of at least 3 px, t its middle frame), whether her new direction is part of the action
held `lag` frames before t (UPLEFT holds UP and LEFT), for lags -4 to 11.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avgkit import play
from avgkit.config import HIST_LEN
from avgkit.data import actions as actions_lib
from avgkit.data import clips, frames

SURE, LEAST = 14, 10  # as tools/player_crops.py: pixels surely hers, and how many must show
DIRECTIONS = ("UP", "DOWN", "LEFT", "RIGHT")


def crops_holding_her(clips_dir: Path, shards: int) -> tuple[int, int]:
    """(clips that show her in the frame to predict, clips looked at)."""
    manifest = clips.read_manifest(clips_dir)
    held = total = 0
    for index in range(min(shards, len(manifest["shards"]))):
        batch = clips.read_shard(clips_dir, manifest, index)  # uint8 (n, crop, crop, 3 * length)
        target = batch[..., 3 * HIST_LEN : 3 * HIST_LEN + 3]  # the frame after the history
        held += sum(play.player_position(c, SURE, LEAST) is not None for c in target)
        total += len(batch)
    return held, total


def move(before, after) -> str | None:
    """Her move between two positions as a direction, None if she stood or jumped."""
    if before is None or after is None:
        return None
    dy, dx = after - before
    if not 0.5 <= max(abs(dy), abs(dx)) <= 6:
        return None
    return ("DOWN" if dy > 0 else "UP") if abs(dy) > abs(dx) else ("RIGHT" if dx > 0 else "LEFT")


def turn_agreement(held: list[str], turns: list, lags) -> dict[int, tuple[int, int]]:
    """Per lag: (turns whose new direction is part of the action held `lag` frames before the
    turn, turns with an action recorded then). held: the action names per frame; turns:
    (t, before, after) as `avgkit.play.turns` gives them."""
    found = {}
    for lag in lags:
        pairs = [(after, held[t - lag]) for t, _, after in turns if 0 <= t - lag < len(held)]
        found[lag] = (sum(after in action for after, action in pairs), len(pairs))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/mspacman-study"))
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--episodes", type=int, default=6)
    args = parser.parse_args(argv)
    held, total = crops_holding_her(args.data / "clips", args.shards)
    print(f"crops holding her: {held:,} of {total:,} ({held / total:.1%})")
    names = actions_lib.action_set(args.data / "Train")
    agree = {lag: [0, 0] for lag in range(-2, 8)}
    at_turns = {lag: [0, 0] for lag in range(-4, 12)}
    looked_at = turn_frames = turns_seen = 0
    for video in frames.list_videos(args.data / "Test")[0][: args.episodes]:
        held_actions = [names[a] for a in actions_lib.read(video, names)]
        video_frames = frames.read_video(video)
        where = [play.player_position(f, SURE, LEAST) for f in video_frames]
        turns = play.turns(video_frames, span=3, least=3.0)
        starts = [t for i, (t, _, _) in enumerate(turns) if i == 0 or t > turns[i - 1][0] + 1]
        looked_at += len(video_frames)
        turn_frames += len(turns)
        turns_seen += len(starts)  # a turn spans consecutive frames
        for lag, (same, n) in turn_agreement(held_actions, turns, at_turns).items():
            at_turns[lag][0] += same
            at_turns[lag][1] += n
        for t in range(1, len(where)):
            direction = move(where[t - 1], where[t])
            for lag, counts in agree.items():
                if direction and 0 <= t - lag < len(held_actions):
                    if held_actions[t - lag] in DIRECTIONS:
                        counts[0] += held_actions[t - lag] == direction
                        counts[1] += 1
    for lag, (same, n) in ((lag, counts) for lag, counts in agree.items() if counts[1]):
        print(f"her move into t matches the direction held at t{-lag:+d}: {same / n:.1%} of {n}")
    print(f"turns: {turn_frames} frames of {turns_seen} turns in {looked_at} frames")
    for lag, (same, n) in ((lag, counts) for lag, counts in at_turns.items() if counts[1]):
        print(
            f"her new direction at a turn at t is in the action held at t{-lag:+d}: "
            f"{same / n:.1%} of {n}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
