"""Pool the study's finished runs (`avgkit.study`) into tables, intervals and figures.

`summarize(out, test_dir)` reads `<out>/runs/*.json` and the baselines' scores and writes:
- `<out>/summary.json`: per run its per-horizon means; the paired differences adv_gdl - l1_gdl
  and adv - l2 (the study's recipe) with 95% Student t intervals over test episodes x seeds (a run
  minus its twin of the same seed, episode by episode), and each variant's run minus the main
  recipe's twin of its seed; each run minus each baseline over episodes; the checks the issue
  asks of the best non-adversarial model; D's diagnostics at the end of each adversarial run;
  runs that diverged are listed apart, with the step and the loss that did;
- `<out>/summary.md`: the same as tables to read;
- `<out>/diagnostics.png`: D's diagnostics over training, per scale;
- `<out>/rollout.png`: one test window, the truth beside the best l1_gdl and adv_gdl runs and
  the baselines at horizons 1, 4, 8 and 16.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avgkit import files
from avgkit.study import PAIRS, SHIPPABLE, VARIANTS, Settings, baseline_scores, read_result

METRICS = ("psnr", "ssim", "sharp_diff", "crispness", "sprite_mass", "sprite_placed")
REGIONS = ("whole", "moving")
SPRITE_GROUPS = ("objects", "player", "ghosts")  # avgkit.study.sprite_groups
CHECK_HORIZONS = 8  # the best non-adversarial model must beat both baselines at 1..8 (moving)
DIAGNOSTICS = ("d_real", "d_fake", "d_heldout", "adv_share")
# Recipes compared loss by loss, seed by seed: rollouts against the long run they continue,
# the long run against the study's 10,000 steps, bfloat16 against float32, the player's actions
# against none (both fine-tuned from the long run on one budget), 3-frame rollout training
# against one-step
VARIANT_PAIRS = (
    ("rollout", "long"),
    ("long", "main"),
    ("bf16", "main"),
    ("actions", "no_actions"),
    ("actions_fast", "no_actions_fast"),
    ("actions_rollout", "no_actions_rollout"),
    ("gates_rollout", "no_actions_rollout"),
    ("actions_mix", "no_actions_mix"),
    ("actions_events_study", "no_actions_events_study"),
    ("no_actions_rollout", "no_actions_fast"),
    ("no_actions_rollout", "long"),  # the fine-tune against the run it starts from
)
ROLLOUT_WINDOW = 0  # the test window rollout.png shows: the first of the first test episode
ROLLOUT_HORIZONS = (1, 4, 8, 16)


def summarize(out: str | Path, test_dir: str | Path, settings: Settings = Settings()) -> Path:
    """Write summary.json, summary.md and diagnostics.png under `out`; returns summary.json."""
    from avgkit.evaluate import mean_ci

    out = Path(out)
    found = {path.stem: read_result(path) for path in sorted((out / "runs").glob("*.json"))}
    runs = {name: run for name, run in found.items() if "diverged" not in run}
    baselines = baseline_scores(out, test_dir, settings)
    scores = {name: run["scores"] for name, run in runs.items()} | baselines
    summary = {
        "runs": {name: _about(run) for name, run in runs.items()},
        "diverged": {
            name: {**_about(run), "diverged": run["diverged"]}
            for name, run in found.items()
            if "diverged" in run
        },
        "means": {name: _means(table) for name, table in scores.items()},
        "paired": {},
        "against_baselines": {},
        "diagnostics_at_end": {
            name: _end_of(run["curves"]) or run["diagnostics_at_end"]
            for name, run in runs.items()
            if _has_d(run) or run.get("diagnostics_at_end")
        },
        "discriminator_at_end": {
            name: run["discriminator_at_end"]
            for name, run in runs.items()
            if run.get("discriminator_at_end")
        },
    }
    for first, second in PAIRS:  # the main recipe, then each variant, against its twin:
        # the variant's own run of `second` where the variant trains both, else its "twin"
        # variant's, else main's
        variants = sorted({run["variant"] for run in runs.values() if run["loss"] == first})
        for variant in sorted(variants, key=lambda v: v != "main"):
            recipe = VARIANTS.get(variant, {})
            twin = variant if second in recipe.get("losses", ()) else recipe.get("twin", "main")
            key = f"{first} - {second}" if variant == "main" else f"{variant} {first} - {second}"
            _pair(summary, key, runs, scores, (variant, first), (twin, second), mean_ci)
    for first, second in VARIANT_PAIRS:  # one loss, two recipes: what the recipe changes
        for loss in SHIPPABLE:
            key = f"{first} {loss} - {second} {loss}"
            _pair(summary, key, runs, scores, (first, loss), (second, loss), mean_ci)
    for name in runs:
        summary["against_baselines"][name] = {
            baseline: _intervals([_difference(scores[name], scores[baseline])], mean_ci)
            for baseline in baselines
        }
    summary["checks"] = _checks(summary, runs)
    files.write_json(out / "summary.json", summary, indent=1)
    with files.replacing(out / "summary.md") as tmp:
        tmp.write_text(markdown(summary), encoding="utf-8")
    curves = {name: run["curves"] for name, run in runs.items() if _has_d(run)}
    if curves:
        _plot_diagnostics(curves, out / "diagnostics.png")
    best = {loss: best_run(summary, runs, loss) for loss in SHIPPABLE}
    shown = {loss: name for loss, name in best.items() if name}
    if shown:
        _plot_rollout(out, test_dir, settings, shown, runs)
    return out / "summary.json"


def _pair(summary, key, runs, scores, run, twin, mean_ci) -> None:
    """summary["paired"][key]: the runs (variant, loss) `run` minus `twin`, seed by seed and
    episode by episode, over the seeds both have (nothing if none)."""
    seeds = sorted(_seeds(runs, run[1], run[0]) & _seeds(runs, twin[1], twin[0]))
    if not seeds:
        return
    differences = [
        _difference(scores[f"{run[0]}-{run[1]}-s{s}"], scores[f"{twin[0]}-{twin[1]}-s{s}"])
        for s in seeds
    ]
    summary["paired"][key] = {
        "variant": run[0],
        "seeds": seeds,
        **_intervals(differences, mean_ci),
        "per_seed": [_seed_means(difference) for difference in differences],
    }


def best_run(summary: dict, runs: dict, loss: str, variants=("main",), by=None) -> str | None:
    """The run of `loss` (or any loss: "*") and one of `variants` with the highest `by(summary,
    name)` (default `psnr_1_to_8`), or None."""
    names = [
        n
        for n, run in runs.items()
        if loss in ("*", run["loss"]) and run["variant"] in variants and n in summary["means"]
    ]
    if not names:
        return None
    return max(names, key=lambda name: (by or psnr_1_to_8)(summary, name))


def psnr_1_to_8(summary: dict, name: str) -> float:
    """PSNR over horizons 1..8, whole frame and moving areas averaged. (Seeds differ most on the
    static maze: one l1_gdl seed led on the moving areas but fell below copy_last on the whole
    frame, so neither region alone ranks them.)"""
    psnr = summary["means"][name]["psnr"]
    return float(np.mean([psnr[region][:CHECK_HORIZONS] for region in REGIONS]))


def player_placed_1_to_8(summary: dict, name: str) -> float:
    """Ms. Pac-Man's crisp pixels placed (within 3 px of the truth's), over horizons 1..8."""
    return float(np.mean(summary["means"][name]["sprite_placed"]["player"][:CHECK_HORIZONS]))


def _plot_rollout(out: Path, test_dir, settings: Settings, shown: dict, runs: dict) -> None:
    """Window ROLLOUT_WINDOW of the test set: truth, `shown` runs ({loss: run}) and baselines."""
    import matplotlib.pyplot as plt

    from avgkit import config, evaluate, models, pretrained, viz
    from avgkit.study import evaluation_windows

    sequences, names, inputs, _ = evaluation_windows(str(test_dir), settings)
    window = inputs[ROLLOUT_WINDOW : ROLLOUT_WINDOW + 1]
    horizons = [h for h in ROLLOUT_HORIZONS if h <= settings.recursions]
    depth = max(horizons)
    rows, labels = (
        [sequences[ROLLOUT_WINDOW, [config.HIST_LEN + h - 1 for h in horizons]]],
        ["truth"],
    )
    for loss, name in shown.items():
        generator = models.build_generator(config.from_dict(runs[name]["config"]))
        pretrained.load_weights(generator, out / "weights" / f"{name}.npz")
        rows.append(evaluate.rollout(generator, window, depth)[0, [h - 1 for h in horizons]])
        labels.append(loss)
    for baseline, predict in evaluate.BASELINES.items():
        rows.append(predict(window, depth)[0, [h - 1 for h in horizons]])
        labels.append(baseline)
    figure = viz.frame_grid(
        rows, labels, [f"t+{h}" for h in horizons], height=2.4,
        suptitle=f"{names[ROLLOUT_WINDOW]}, recursive predictions",
    )  # fmt: skip
    with files.replacing(out / "rollout.png") as tmp:
        figure.savefig(tmp, format="png", dpi=70)
    plt.close(figure)


def _has_d(run: dict) -> bool:
    """Whether the run logged D's diagnostics (adversarial runs do)."""
    return any(v is not None for v in run["curves"].get("d_real_0", []))


def _about(run: dict) -> dict:
    keys = ("loss", "seed", "variant", "steps", "train_seconds_this_session", "machine", "date")
    return (
        {key: run[key] for key in keys}
        | {"precision": run.get("precision", "float32")}
        | ({"recovered": run["recovered"]} if "recovered" in run else {})
    )


def _seeds(runs: dict, loss: str, variant: str = "main") -> set[int]:
    return {
        run["seed"] for run in runs.values() if run["loss"] == loss and run["variant"] == variant
    }


def regions(metric: str) -> tuple[str, ...]:
    """The regions a metric is reported on: whole frame and moving areas, or sprite groups."""
    return SPRITE_GROUPS if metric.startswith("sprite_") else REGIONS


def _keys(*tables: dict) -> list[tuple[str, str]]:
    """(metric, region) scored in every one of `tables` (runs trained before the sprite
    measure, whose weights were not kept, have none of its metrics)."""
    return [(m, r) for m in METRICS if all(m in t for t in tables) for r in regions(m)]


def _array(values) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], np.float64)


def _means(table: dict) -> dict:
    """{metric: {region: per-horizon mean over episodes}}."""
    found = {}
    with np.errstate(all="ignore"):
        for m, r in _keys(table):
            found.setdefault(m, {})[r] = _listed(np.nanmean(_array(table[m][r]), axis=0))
    return found


def _difference(first: dict, second: dict) -> dict:
    """first - second, episode by episode: {(metric, region): float (episodes, R)}."""
    if first["episodes"] != second["episodes"]:
        raise ValueError("scores of different test episodes")
    return {(m, r): _array(first[m][r]) - _array(second[m][r]) for m, r in _keys(first, second)}


def _intervals(differences: list[dict], mean_ci) -> dict:
    """Pool the (episodes, R) differences of several seeds: units are seed x episode pairs.
    {metric: {region: {mean, ci_low, ci_high, n}}}, each per horizon."""
    found = {}
    for m, r in (key for key in differences[0] if all(key in d for d in differences)):
        units = np.concatenate([d[m, r] for d in differences])  # (units, R)
        mean, low, high, n = mean_ci(units.T)
        found.setdefault(m, {})[r] = {
            "mean": _listed(mean),
            "ci_low": _listed(low),
            "ci_high": _listed(high),
            "n": n.tolist(),
        }
    return found


def _seed_means(difference: dict) -> dict:
    """One seed's paired difference, averaged over test episodes: {metric: {region: per-horizon
    mean}}. Seeds show whether an interval over episodes x seeds rests on one seed."""
    found = {}
    with np.errstate(all="ignore"):
        for m, r in difference:
            found.setdefault(m, {})[r] = _listed(np.nanmean(difference[m, r], axis=0))
    return found


def _checks(summary: dict, runs: dict) -> dict:
    """The best non-adversarial run (`best_run`): does it beat copy_last and flow on the moving
    areas at every horizon 1..8, and copy_last on the whole frame at t+1, with the intervals
    above 0?"""
    found = [best_run(summary, runs, loss) for loss in ("l2", "l1_gdl")]
    candidates = [name for name in found if name]
    if not candidates:
        return {}
    best = max(candidates, key=lambda name: psnr_1_to_8(summary, name))
    against = summary["against_baselines"][best]
    h = CHECK_HORIZONS
    return {
        "best_non_adversarial": best,
        "beats_copy_last_moving_psnr_1_to_8": all(
            low > 0 for low in against["copy_last"]["psnr"]["moving"]["ci_low"][:h]
        ),
        "beats_flow_moving_psnr_1_to_8": all(
            low > 0 for low in against["flow"]["psnr"]["moving"]["ci_low"][:h]
        ),
        "beats_copy_last_whole_psnr_t1": against["copy_last"]["psnr"]["whole"]["ci_low"][0] > 0,
    }


def _end_of(curves: dict) -> dict:
    """D's diagnostics averaged over the last tenth of the logged rows, per scale."""
    found = {}
    for key, values in curves.items():
        if key.rsplit("_", 1)[0] in DIAGNOSTICS:
            array = np.array([np.nan if v is None else v for v in values], np.float64)
            present = array[~np.isnan(array)]
            if len(present):
                found[key] = round(float(np.mean(present[-max(1, len(present) // 10) :])), 4)
    return found


def markdown(summary: dict, horizons=(1, 2, 4, 8, 16)) -> str:
    """The paired tables and the runs against the baselines, as Markdown."""
    lines = ["# Study summary", ""]
    for pair, table in summary["paired"].items():
        recipe = "the study's recipe" if table["variant"] == "main" else "a variant"
        lines += [f"## {pair}, {recipe}, seeds {table['seeds']}", ""]
        lines += _table(table, horizons)
    lines += ["## Means over test episodes", ""]
    lines += ["| predictor | region | " + " | ".join(f"PSNR t+{h}" for h in horizons) + " |"]
    lines += ["| --- | --- |" + " --- |" * len(horizons)]
    for name, means in summary["means"].items():
        for region in REGIONS:
            values = means["psnr"][region]
            cells = [f"{values[h - 1]:.2f}" for h in horizons if h <= len(values)]
            lines.append(f"| {name} | {region} | " + " | ".join(cells) + " |")
    sprites = {name: means for name, means in summary["means"].items() if "sprite_mass" in means}
    if sprites:
        lines += ["", "## Sprites kept: mass / placed, means over test episodes", ""]
        lines += ["| predictor | sprites | " + " | ".join(f"t+{h}" for h in horizons) + " |"]
        lines += ["| --- | --- |" + " --- |" * len(horizons)]
        for name, means in sprites.items():
            for group in SPRITE_GROUPS:
                mass, placed = means["sprite_mass"][group], means["sprite_placed"][group]
                cells = [
                    f"{mass[h - 1]:.2f} / {placed[h - 1]:.2f}" for h in horizons if h <= len(mass)
                ]
                lines.append(f"| {name} | {group} | " + " | ".join(cells) + " |")
    if summary["discriminator_at_end"]:
        lines += ["", "## D at the end, on held-out crops", ""]
        lines += ["mean sigmoid(D), scales coarse to fine: real / generated / mismatched", ""]
        scales = len(next(iter(summary["discriminator_at_end"].values()))["real"])
        lines += ["| run | " + " | ".join(f"scale {k}" for k in range(scales)) + " |"]
        lines += ["| --- |" + " --- |" * scales]
        for name, scores in summary["discriminator_at_end"].items():
            cells = [
                " / ".join(f"{scores[kind][k]:.2f}" for kind in ("real", "generated", "mismatched"))
                for k in range(len(scores["real"]))
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if summary["diverged"]:
        lines += ["", "## Diverged runs (no scores)", ""]
        lines += [f"- {name}: {run['diverged']}" for name, run in summary["diverged"].items()]
    lines += ["", "## Checks", "", "```", json.dumps(summary["checks"], indent=1), "```", ""]
    return "\n".join(lines) + "\n"


def paired_text(table: dict, horizons=(1, 2, 4, 8, 16), metrics=METRICS) -> str:
    """One paired table of `summary["paired"]` as text: a row per metric and region, the mean
    difference and its 95% interval at each horizon."""
    from avgkit import viz

    rows = [
        [m, r, *(interval(table[m][r], h - 1, _digits(m)) for h in horizons)]
        for m in metrics
        if m in table
        for r in regions(m)
    ]
    return viz.text_table(["metric", "region", *(f"t+{h}" for h in horizons)], rows)


def interval(cell: dict, index: int, digits: int = 2) -> str:
    """A paired difference at horizon index + 1, signed: "mean [ci_low, ci_high]"."""
    mean, low, high = (cell[key][index] for key in ("mean", "ci_low", "ci_high"))
    return f"{mean:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def _digits(metric: str) -> int:
    return 2 if metric in ("psnr", "sharp_diff") else 3


def _table(table: dict, horizons) -> list[str]:
    lines = ["| metric | region | " + " | ".join(f"t+{h}" for h in horizons) + " |"]
    lines.append("| --- | --- |" + " --- |" * len(horizons))
    for m in (m for m in METRICS if m in table):
        for r in regions(m):
            cell = table[m][r]
            cells = [interval(cell, h - 1, _digits(m)) for h in horizons if h <= len(cell["mean"])]
            lines.append(f"| {m} | {r} | " + " | ".join(cells) + " |")
    n = table["psnr"]["moving"]["n"][0]
    lines += ["", f"n = {n} (test episodes x seeds) at t+1, moving areas", ""]
    if len(table.get("per_seed", [])) > 1:
        columns = [(m, r) for m in METRICS[:4] for r in REGIONS]
        lines += ["Per seed, mean over test episodes at t+1:", ""]
        lines += ["| seed | " + " | ".join(f"{m} {r}" for m, r in columns) + " |"]
        lines += ["| --- |" + " --- |" * len(columns)]
        for seed, means in zip(table["seeds"], table["per_seed"]):
            cells = [f"{means[m][r][0]:+.3f}" for m, r in columns]
            lines.append(f"| {seed} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _plot_diagnostics(curves: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    from avgkit import viz

    figure = viz.discriminator_curves(curves)
    with files.replacing(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)


def _listed(array) -> list:
    array = np.round(np.asarray(array, np.float64), 4)
    return np.where(np.isnan(array), None, array.astype(object)).tolist()
