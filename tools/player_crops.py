"""An experiment on the action-conditioned models: clips in which half the crops hold Ms. Pac-Man.

A constant action plane can only matter where the player is, and the study's clips (the TF1
movement rule) hold her in about a quarter of their crops. This cuts a clips folder where, for
half the clips, the 32x32 crop is placed so that her yellow in the last history frame lies
6-26 px into it; the other half are cut by the usual rule. Then train on it as the study does
(its fine-tunes start from the long run's weights, so copy them beside the results):

    python tools/player_crops.py data/mspacman-player      # links Train, Test; cuts clips
    mkdir -p runs/player_study/weights
    cp docs/study/weights/long-l1_gdl-s0.npz docs/study/baselines.json runs/player_study/
    mv runs/player_study/long-l1_gdl-s0.npz runs/player_study/weights/
    avgkit study --data data/mspacman-player --out runs/player_study \\
        --seeds 0 --variants actions_fast no_actions_fast

For the rollout-trained pair (3 frames in a row), cut 7-frame clips first:
`python tools/player_crops.py data/mspacman-player --clip_length 7`, then
`--variants actions_rollout no_actions_rollout`.

`--events SHARE` moves that share of each shard's clips to start where she turns or reverses
(`tools/player_events.py`: two ways among her moves from the last history frame to the clip's
end), and places their crops on her: the moments where the joystick sets where she goes, rare
among the clips otherwise. The share is kept in the clips folder's events.json; a rerun with
another share stops. `--on_her SHARE` sets the share of the other clips placed on her (0.5;
0 leaves them to the movement rule). For 3-frame rollouts: `--clip_length 7 --events 0.5`.
`--report SHARDS` cuts nothing: it counts the event clips and the clips that show her in the
first SHARDS finished shards.

It replaces `clips.crop_clips` (and with --events `clips._plan`) in this process only (one
worker), so avgkit itself is unchanged.
Results: docs/study/player_crops/ (crops on her), docs/study/player_events/ (`--events 0.5`,
the rollout pair), docs/study/player_mix/ (`--clip_length 9 --events 0.25 --on_her 0`: a
quarter event clips among the movement rule's, for 3- then 5-frame rollouts) and docs/study.md
("The player's actions").
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from avgkit import play
from avgkit.data import clips, frames

sys.path.insert(0, str(Path(__file__).parent))
from player_events import kind  # noqa: E402

SHARE = 0.5  # the share of clips whose crop is placed on her
MARGIN = 6  # her centre lies at least this far inside the crop
SURE = 14  # RGB distance: pixels this near her colour are hers (her lives' colour is 28 away)
LEAST = 10  # pixels of her that must show for a crop to be placed on her
movement_rule = clips.crop_clips
random_plan = clips._plan


def crop_on_player(frames, starts, rng, spec=clips.ClipSpec(), events=False, share=SHARE):
    """`clips.crop_clips`, with a `share` of the crops (and with `events` every event clip,
    `is_event`) moved onto Ms. Pac-Man where she shows (at least LEAST pixels within SURE of her
    colour); their movement scores are recomputed."""
    cut, scores, unfiltered = movement_rule(frames, starts, rng, spec)
    size, height, width = spec.crop_size, frames.shape[1], frames.shape[2]
    chosen, ys, xs = [], [], []
    on_her = rng.random(len(starts)) < share
    if events:
        on_her |= [is_event(frames, start, spec) for start in starts]
    for i in np.flatnonzero(on_her):
        where = play.player_position(frames[starts[i] + spec.hist_len - 1], SURE, LEAST)
        if where is None:
            continue
        dy, dx = rng.integers(MARGIN, size - MARGIN, 2)
        chosen.append(i)
        ys.append(int(np.clip(round(where[0]) - dy, 0, height - size)))
        xs.append(int(np.clip(round(where[1]) - dx, 0, width - size)))
    if chosen:
        chosen = np.array(chosen)
        ys, xs = np.array(ys), np.array(xs)
        cut[chosen] = clips._cut(frames, starts[chosen], ys, xs, size, spec.clip_frames)
        one_step = 3 * (spec.hist_len + 1)  # the frames the movement rule looks at
        scores[chosen] = [
            clips.movement_score(c[..., :one_step], spec.hist_len) for c in cut[chosen]
        ]
    return cut, scores, unfiltered


def is_event(frames, start: int, spec=clips.ClipSpec()) -> bool:
    """Whether she turns or reverses between the last history frame's predecessor and the clip's
    end, in uint8 `frames` (time, H, W, 3) of a clip starting at `start`."""
    span = frames[start + spec.hist_len - 2 : start + spec.clip_frames]
    return kind([play.player_position(f, SURE, LEAST) for f in span]) == "event"


def event_starts(video, spec: clips.ClipSpec) -> np.ndarray:
    """The clip starts of one video (`avgkit.data.frames.Video`) whose clip is an event."""
    where = [play.player_position(f, SURE, LEAST) for f in frames.read_video(video)]
    first, last = spec.hist_len - 2, spec.clip_frames
    return np.array(
        [s for s in range(len(where) - last + 1) if kind(where[s + first : s + last]) == "event"],
        int,
    )


def plan_with_events(share: float):
    """`clips._plan`, with `share` of each shard's starts moved to event starts (`event_starts`)
    among the shard's frames."""

    def plan(videos, num_clips, seed, shard_size, spec):
        shards = random_plan(videos, num_clips, seed, shard_size, spec)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
        events = {}
        for shard in shards:
            if shard["video"] not in events:
                events[shard["video"]] = event_starts(videos[shard["video"]], spec)
            starts, found = shard["starts"], events[shard["video"]]
            near = found[(found >= starts[0]) & (found < starts[0] + clips.SHARD_SPAN)]
            moved = np.flatnonzero(rng.random(len(starts)) < share)
            if len(near) and len(moved):
                starts = starts.copy()
                starts[moved] = rng.choice(near, len(moved))
                shard["starts"] = np.sort(starts)
        return shards

    return plan


def shares(clips_dir: Path, spec: clips.ClipSpec, shards: int) -> tuple[float, float, int]:
    """(share of event clips, share showing her in the first frame to predict, clips looked at)
    over the first `shards` finished shards of `clips_dir` (it may still be unfinished)."""
    events = shown = total = 0
    for path in sorted(clips_dir.glob("clips-*.npz"))[:shards]:
        for clip in clips.load_shard(path):
            size = clip.shape[0]
            frames = clip.reshape(size, size, spec.clip_frames, 3).transpose(2, 0, 1, 3)
            events += is_event(frames, 0, spec)
            shown += play.player_position(frames[spec.hist_len], SURE, LEAST) is not None
            total += 1
    return events / max(total, 1), shown / max(total, 1), total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the data folder to make")
    parser.add_argument("--study_data", type=Path, default=Path("data/mspacman-study"))
    parser.add_argument("-n", "--num_clips", type=int, default=200_000)
    parser.add_argument(
        "--clip_length",
        type=int,
        default=5,
        help="frames a clip holds: 5 for one-step "
        "training (into clips/), 4 + K for K-step rollouts (into clips-<length>/, as the study's)",
    )
    parser.add_argument(
        "--events", type=float, default=0.0, help="share of clips moved to her turns and reversals"
    )
    parser.add_argument(
        "--on_her",
        type=float,
        default=SHARE,
        help="share of the other clips whose crop is placed on her (the rest: the movement rule)",
    )
    parser.add_argument(
        "--report", type=int, metavar="SHARDS", help="only count events and her in SHARDS shards"
    )
    args = parser.parse_args(argv)
    spec = clips.ClipSpec(clip_length=args.clip_length)
    name = "clips" if args.clip_length == spec.hist_len + 1 else f"clips-{args.clip_length}"
    if args.report:
        events, shown, total = shares(args.out / name, spec, args.report)
        print(f"{total} clips: {events:.1%} hold an event, {shown:.1%} show her")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for part in ("Train", "Test"):
        if not (args.out / part).exists():
            (args.out / part).symlink_to((args.study_data / part).resolve())
    shutil.copyfile(args.study_data / "recording.json", args.out / "recording.json")
    made_with = args.out / name / "events.json"  # the share cut into a folder, checked on resume
    wanted = {"events": args.events, "on_her": args.on_her}
    found = json.loads(made_with.read_text()) if made_with.exists() else wanted
    found.setdefault("on_her", SHARE)  # folders cut before --on_her
    if found != wanted:
        flags = " ".join(f"--{key} {value}" for key, value in found.items())
        print(f"{made_with.parent}: cut with {flags}; rerun with them, or delete it")
        return 2
    made_with.parent.mkdir(parents=True, exist_ok=True)
    made_with.write_text(json.dumps(found) + "\n")
    clips.crop_clips = functools.partial(
        crop_on_player, events=bool(args.events), share=args.on_her
    )
    if args.events:
        clips._plan = plan_with_events(args.events)
    summary = clips.process(
        args.out / "Train", args.out / name, args.num_clips, workers=1, spec=spec
    )
    print(summary.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
