"""Pool the study's finished runs (`avgkit.study`) into tables, intervals and figures.

`summarize(out, test_dir)` reads `<out>/runs/*.json` and the baselines' scores and writes:
- `<out>/summary.json`: per run its per-horizon means; the paired differences adv_gdl - l1_gdl
  and adv - l2 (the study's recipe) with 95% Student t intervals over test episodes x seeds (a run
  minus its twin of the same seed, episode by episode); each run minus each baseline over
  episodes; the checks the issue asks of the best non-adversarial model; D's diagnostics at the
  end of each adversarial run;
- `<out>/summary.md`: the same as tables to read;
- `<out>/diagnostics.png`: D's diagnostics over training, per scale.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from avgkit import files
from avgkit.study import PAIRS, Settings, baseline_scores

METRICS = ("psnr", "ssim", "sharp_diff", "crispness")
REGIONS = ("whole", "moving")
CHECK_HORIZONS = 8  # the best non-adversarial model must beat both baselines at 1..8 (moving)
DIAGNOSTICS = ("d_real", "d_fake", "d_heldout", "adv_share")


def summarize(out: str | Path, test_dir: str | Path, settings: Settings = Settings()) -> Path:
    """Write summary.json, summary.md and diagnostics.png under `out`; returns summary.json."""
    from avgkit.evaluate import mean_ci

    out = Path(out)
    runs = {
        path.stem: json.loads(path.read_text()) for path in sorted((out / "runs").glob("*.json"))
    }
    baselines = baseline_scores(out, test_dir, settings)
    scores = {name: run["scores"] for name, run in runs.items()} | baselines
    summary = {
        "runs": {name: _about(run) for name, run in runs.items()},
        "means": {name: _means(table) for name, table in scores.items()},
        "paired": {},
        "against_baselines": {},
        "diagnostics_at_end": {
            name: _end_of(run["curves"]) for name, run in runs.items() if _has_d(run)
        },
    }
    for first, second in PAIRS:
        seeds = _seeds(runs, first) & _seeds(runs, second)
        if seeds:
            differences = [
                _difference(scores[f"main-{first}-s{s}"], scores[f"main-{second}-s{s}"])
                for s in sorted(seeds)
            ]
            summary["paired"][f"{first} - {second}"] = {
                "seeds": sorted(seeds),
                **_intervals(differences, mean_ci),
            }
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
    return out / "summary.json"


def _has_d(run: dict) -> bool:
    """Whether the run logged D's diagnostics (adversarial runs do)."""
    return any(v is not None for v in run["curves"].get("d_real_0", []))


def _about(run: dict) -> dict:
    keys = ("loss", "seed", "variant", "steps", "train_seconds_this_session", "machine", "date")
    return {key: run[key] for key in keys}


def _seeds(runs: dict, loss: str) -> set[int]:
    return {
        run["seed"] for run in runs.values() if run["loss"] == loss and run["variant"] == "main"
    }


def _array(values) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in values], np.float64)


def _means(table: dict) -> dict:
    """{metric: {region: per-horizon mean over episodes}}."""
    with np.errstate(all="ignore"):
        return {
            m: {r: _listed(np.nanmean(_array(table[m][r]), axis=0)) for r in REGIONS}
            for m in METRICS
        }


def _difference(first: dict, second: dict) -> dict:
    """first - second, episode by episode: {(metric, region): float (episodes, R)}."""
    if first["episodes"] != second["episodes"]:
        raise ValueError("scores of different test episodes")
    return {(m, r): _array(first[m][r]) - _array(second[m][r]) for m in METRICS for r in REGIONS}


def _intervals(differences: list[dict], mean_ci) -> dict:
    """Pool the (episodes, R) differences of several seeds: units are seed x episode pairs.
    {metric: {region: {mean, ci_low, ci_high, n}}}, each per horizon."""
    found = {}
    for m in METRICS:
        for r in REGIONS:
            units = np.concatenate([d[m, r] for d in differences])  # (units, R)
            mean, low, high, n = mean_ci(units.T)
            found.setdefault(m, {})[r] = {
                "mean": _listed(mean),
                "ci_low": _listed(low),
                "ci_high": _listed(high),
                "n": n.tolist(),
            }
    return found


def _checks(summary: dict, runs: dict) -> dict:
    """The best non-adversarial run (highest moving-area PSNR over horizons 1..8): does it beat
    copy_last and flow there at every horizon, and copy_last on the whole frame at t+1, with the
    intervals above 0?"""
    candidates = [name for name, run in runs.items() if run["loss"] in ("l2", "l1_gdl")]
    if not candidates:
        return {}

    def moving_psnr(name):
        return float(np.mean(summary["means"][name]["psnr"]["moving"][:CHECK_HORIZONS]))

    best = max(candidates, key=moving_psnr)
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
        lines += [f"## {pair}, the study's recipe, seeds {table['seeds']}", ""]
        lines += _table(table, horizons)
    lines += ["## Means over test episodes", ""]
    lines += ["| predictor | region | " + " | ".join(f"PSNR t+{h}" for h in horizons) + " |"]
    lines += ["| --- | --- |" + " --- |" * len(horizons)]
    for name, means in summary["means"].items():
        for region in REGIONS:
            values = means["psnr"][region]
            cells = [f"{values[h - 1]:.2f}" for h in horizons if h <= len(values)]
            lines.append(f"| {name} | {region} | " + " | ".join(cells) + " |")
    lines += ["", "## Checks", "", "```", json.dumps(summary["checks"], indent=1), "```", ""]
    return "\n".join(lines) + "\n"


def _table(table: dict, horizons) -> list[str]:
    lines = ["| metric | region | " + " | ".join(f"t+{h}" for h in horizons) + " |"]
    lines.append("| --- | --- |" + " --- |" * len(horizons))
    for m in METRICS:
        digits = 3 if m in ("ssim", "crispness") else 2
        for r in REGIONS:
            cell = table[m][r]
            cells = [
                f"{cell['mean'][h - 1]:+.{digits}f} [{cell['ci_low'][h - 1]:+.{digits}f}, "
                f"{cell['ci_high'][h - 1]:+.{digits}f}]"
                for h in horizons
                if h <= len(cell["mean"])
            ]
            lines.append(f"| {m} | {r} | " + " | ".join(cells) + " |")
    n = table["psnr"]["moving"]["n"][0]
    return [*lines, "", f"n = {n} (test episodes x seeds) at t+1, moving areas", ""]


def _plot_diagnostics(curves: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        len(curves), 4, figsize=(16, 2.8 * len(curves)), squeeze=False, sharex=True
    )
    for row, (name, curve) in zip(axes, curves.items()):
        steps = np.array(curve["step"], np.float64)
        for k, axis in enumerate(row):
            for key, style in (("d_real", "-"), ("d_fake", "-"), ("d_heldout", "o")):
                values = np.array([np.nan if v is None else v for v in curve[f"{key}_{k}"]])
                present = ~np.isnan(values)
                axis.plot(steps[present], values[present], style, ms=3, label=f"σ(D) {key[2:]}")
            share = np.array([np.nan if v is None else v for v in curve[f"adv_share_{k}"]])
            axis.plot(steps, share, ":", color="k", label="adversarial share of G's gradient")
            axis.set_ylim(0, 1)
            axis.set_title(f"{name}, scale {k}", fontsize=9)
    axes[-1][0].set_xlabel("step")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    figure.tight_layout()
    with files.replacing(path) as tmp:
        figure.savefig(tmp, format="png", dpi=80)
    plt.close(figure)


def _listed(array) -> list:
    array = np.round(np.asarray(array, np.float64), 4)
    return np.where(np.isnan(array), None, array.astype(object)).tolist()
