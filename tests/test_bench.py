"""`avgkit bench`: the train and rollout sections' JSON, its arithmetic, and the bench flags.

No timing assertions: the machine is shared, so only structure and consistency are checked.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from avgkit import bench, cli, config
from avgkit import train as train_lib
from avgkit.bench import train as bench_train
from avgkit.data import atari
from avgkit.data import clips as clips_lib
from avgkit.train.batches import BLOCK_STEPS

# XLA is left out: compiling even the tiny D update took 5-25 s here
TINY_SIZES = bench_train.Sizes(
    warmup=1,
    rounds=1,
    round_seconds=0.01,
    peak_runs=1,
    loss_steps=3,
    loss_window=2,
    executions=("eager", "function"),
)
SMALL_RECORDING = atari.Recording(train_episodes=1, test_episodes=1, frames=12, seed=7)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A train and rollout run of the tiny preset, over a bench.json that holds a process run."""
    out = tmp_path_factory.mktemp("bench")
    (out / "bench.json").write_text(json.dumps({"process": {"kept": True}}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench_train, "TRAIN_CLIPS", 512)
        # two steps a call, K = 1 and 2: the arithmetic, without tracing 4 or 5 unrolled steps
        patch.setattr(bench_train, "STEPS_PER_CALL", 2)
        patch.setattr(bench_train, "ROLLOUT_STEPS", (1, 2))
        bench.run(
            out,
            sections=("train", "rollout"),
            presets=("tiny",),
            sizes=TINY_SIZES,
            loss_preset="tiny",
            recording=SMALL_RECORDING,
        )
    return json.loads((out / "bench.json").read_text())


def assert_timing(timing, flops, peak):
    for key in ("seconds_per_step", "min_seconds_per_step", "gflops_per_second"):
        assert math.isfinite(timing[key]) and timing[key] > 0, key
    assert 1 <= len(timing["rounds"]) <= TINY_SIZES.rounds <= timing["timed_steps"]
    assert 1 <= timing["warmup_steps"] <= TINY_SIZES.warmup
    assert timing["min_seconds_per_step"] <= timing["seconds_per_step"]
    assert timing["steps_per_second"] == pytest.approx(1 / timing["seconds_per_step"])
    assert timing["gflops_per_second"] == pytest.approx(flops / timing["seconds_per_step"] / 1e9)
    assert timing["peak_share"] == pytest.approx(timing["gflops_per_second"] / peak)


def test_train_section(results):
    assert results["process"] == {"kept": True}  # sections not run are kept
    assert set(results["dates"]) == {"train", "rollout"}
    assert "cpus" in results["machine"]
    train = results["train"]
    peak = train["conv_peak"]
    assert peak["flops"] == 2 * 8 * 32 * 32 * 256 * 512 * 5 * 5
    assert peak["gflops_per_second"] == pytest.approx(peak["flops"] / peak["seconds"] / 1e9)
    tiny = train["presets"]["tiny"]
    assert tiny["generator_params"] > 0 and tiny["discriminator_params"] > 0
    for mode in ("adversarial", "g_only"):
        entry = tiny[mode]
        # the profiler also counts element-wise ops and gradients Grappler prunes
        assert entry["profiler_flops_per_step"] >= entry["flops_per_step"] > 0
        for execution in ("eager", "function"):
            assert_timing(entry[execution], entry["flops_per_step"], peak["gflops_per_second"])
        assert entry["xla"]["timed"] is False
    assert tiny["adversarial"]["flops_per_step"] > tiny["g_only"]["flops_per_step"]
    several = tiny["adversarial"]["steps_per_call"]
    assert several["steps"] == 2  # STEPS_PER_CALL in this run
    assert several["timed_steps"] % several["steps"] == 0
    assert several["gflops_per_second"] == pytest.approx(
        tiny["adversarial"]["flops_per_step"] / several["seconds_per_step"] / 1e9
    )
    tf1 = tiny["tf1"]  # the TF1 approach, timed in the same run on the same networks
    for profile in (tiny["profile"], tf1["profile"]):  # where the D+G step's time goes
        assert profile["kernels"] > 50 and 0 < profile["conv_share"] < 1
        assert sum(profile["by_op"].values()) == pytest.approx(profile["op_seconds"])
        assert any("Conv2D" in op for op in profile["by_op"])
    assert tf1["parameters"] == {
        "generator": tiny["generator_params"],
        "discriminator": tiny["discriminator_params"],
    }
    for mode in ("adversarial", "g_only"):
        assert_timing(tf1[mode], tiny[mode]["flops_per_step"], peak["gflops_per_second"])
        fastest = min(
            tiny[mode][execution]["seconds_per_step"]
            for execution in ("function", "xla")
            if "seconds_per_step" in tiny[mode][execution]
        )
        assert tiny[mode]["speedup_over_tf1"] == pytest.approx(
            tf1[mode]["seconds_per_step"] / fastest
        )
    assert tf1["seconds_per_step"] == tf1["adversarial"]["seconds_per_step"]
    assert tiny["speedup_over_tf1"] == tiny["adversarial"]["speedup_over_tf1"]
    batches = tiny["input"]  # preparing the batches: one block of 512 clips (one shard) timed
    assert batches["block_steps"] == BLOCK_STEPS and batches["shards_drawn"] == 1
    assert batches["seconds_per_step"] == pytest.approx(batches["block_seconds"] / BLOCK_STEPS)
    assert batches["share_of_step"] == pytest.approx(
        batches["seconds_per_step"] / tiny["adversarial"]["function"]["seconds_per_step"]
    )
    mixed = train["mixed"]["tiny"]
    assert mixed["policy"] == "mixed_bfloat16"
    assert mixed["float32_seconds_per_step"] == tiny["adversarial"]["function"]["seconds_per_step"]
    assert mixed["speedup_over_float32"] == pytest.approx(
        mixed["float32_seconds_per_step"] / mixed["mixed"]["seconds_per_step"]
    )
    assert mixed["speedup_over_tf1"] == pytest.approx(
        tf1["seconds_per_step"] / mixed["mixed"]["seconds_per_step"]
    )
    tracking = train["loss_tracking"]
    assert tracking["preset"] == "tiny" and tracking["window"] == 2
    for curve in tracking["g_loss"].values():
        assert len(curve) == 3 and all(math.isfinite(v) and v > 0 for v in curve)
    assert 0 <= tracking["final_relative_difference"] <= tracking["max_relative_difference"]
    loss_goal = train["goals"]["loss_tracking"]
    assert loss_goal["met"] == (loss_goal["value"] <= loss_goal["target"])
    rolled = train["rollout_training"]["tiny"]  # the D+G step on K-frame rollouts, K = 1, 2
    assert set(rolled) == {"k1", "k2"}
    for k in (1, 2):
        timing = rolled[f"k{k}"]
        assert timing["ratio_to_k_times_one_step"] == pytest.approx(
            timing["seconds_per_step"] / (k * rolled["k1"]["seconds_per_step"])
        )
    cost = train["goals"]["tiny_rollout_step_cost"]
    assert cost["value"] == rolled["k2"]["ratio_to_k_times_one_step"]
    assert set(train["goals"]) == {"loss_tracking", "tiny_rollout_step_cost"}  # presets that ran


def test_the_rollout_step_goal_is_the_costliest_k():
    """The goal's value is the largest ratio over K > 1, so one costly K fails it."""
    ratios = {1: 1.0, 3: 0.8, 5: 1.2, 2: 0.9}
    timings = {f"k{k}": {"ratio_to_k_times_one_step": r} for k, r in ratios.items()}
    results = {
        "presets": {},
        "mixed": {},
        "rollout_training": {"official": timings},
        "loss_tracking": {"max_relative_difference": 0.0},
    }
    cost = bench_train._goals(results)["official_rollout_step_cost"]
    assert cost["value"] == 1.2 and cost["met"] is False


def test_rollout_section(results):
    rollout = results["rollout"]
    assert rollout["frame_size"] == [210, 160] and rollout["batch_size"] == 8
    tiny = rollout["presets"]["tiny"]
    for precision, policy in (("float32", "float32"), ("mixed", "mixed_bfloat16")):
        timing = tiny[precision]
        count = timing["histories"]
        assert timing["policy"] == policy and 1 <= count <= 8
        assert 1 <= len(timing["rounds"]) <= TINY_SIZES.rounds
        assert timing["seconds_per_frame"] == pytest.approx(float(np.median(timing["rounds"])))
        assert timing["gflops_per_second"] == pytest.approx(
            timing["gflops_per_frame"] / timing["seconds_per_frame"]
        )
    assert tiny["mixed_speedup_over_float32"] == pytest.approx(
        tiny["float32"]["seconds_per_frame"] / tiny["mixed"]["seconds_per_frame"]
    )
    assert "goals" not in rollout  # the goals are the paper preset's


def test_analytic_flops():
    """The paper's G: about 150 GFLOP forward for a 32x32 batch of 8, so about 450 a G step, as
    REFERENCE.md estimates, and about 0.6 TFLOP for a 210x160 frame."""
    paper = config.preset("paper")
    forward = bench_train.generator_flops(paper, 32, 32, 8)
    assert 140e9 < forward < 160e9
    first = 2 * 8 * 4 * 4 * 12 * 128 * 3 * 3  # the coarsest first layer: no input gradient
    assert bench_train.analytic_flops(paper, adversarial=False) == 3 * forward - first
    assert 0.55e12 < bench_train.generator_flops(paper, 210, 160, 1) < 0.65e12
    # the tiny D by hand, per scale: 4x4, 8x8, 16x16 and 32x32 crops of 15 channels, 3x3 VALID
    # convolutions, a 2x2 max-pool, a dense layer of 16 and the logit
    d = [
        [2 * 2 * 15 * 4 * 9, 1 * 4 * 16, 16],
        [6 * 6 * 15 * 4 * 9, 9 * 4 * 16, 16],
        [14 * 14 * 15 * 8 * 9, 49 * 8 * 16, 16],
        [30 * 30 * 15 * 8 * 9, 28 * 28 * 8 * 8 * 9, 14 * 14 * 8 * 16, 16],
    ]
    assert bench_train.discriminator_macs(config.preset("tiny")) == d


def test_bench_flags(monkeypatch):
    calls = []
    monkeypatch.setattr(bench, "run", lambda out, **kwargs: calls.append(kwargs))
    cli.main(["bench", "--only", "train", "rollout", "--presets", "tiny", "small", "--quick"])
    cli.main(["bench", "--loss-steps", "7", "--clips", "5"])
    quick, full = calls
    assert quick["sections"] == ("train", "rollout") and quick["presets"] == ("tiny", "small")
    assert quick["sizes"] == bench_train.QUICK
    assert (quick["clips"], quick["tf1_clips"]) == (10_000, 300)
    assert full["sections"] == bench.SECTIONS and full["presets"] == bench.PRESETS
    assert full["sizes"].loss_steps == 7 and full["sizes"].rounds == bench_train.FULL.rounds
    assert full["sizes"].executions == ("function", "xla")  # eager only when asked
    assert (full["clips"], full["tf1_clips"]) == (5, 3_000)
    assert full["loss_preset"] == "official"  # the study's preset


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--only", "training"], "argument --only: invalid choice: 'training'"),
        (["--presets", "huge"], "argument --presets: invalid choice: 'huge'"),
        (["--loss_steps", "0"], "--loss-steps: '0': expected a positive whole number"),
    ],
)
def test_bad_bench_flags_give_one_line(args, fragment, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["bench", *args])
    assert stop.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("avgkit")]
    assert len(errors) == 1 and fragment in errors[0]


def test_kernel_seconds_by_hand():
    """An XSpace written by hand: two kernels on compute threads are counted, the executor's
    own event and a Python-thread event are not."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from avgkit.bench import profile

    space = xplane_pb2.XSpace()
    plane = space.planes.add(name="/host:CPU")
    names = {1: "g/conv:Conv2D", 2: "g/relu:Relu", 3: "ExecutorState::Process", 4: "x:Conv2D"}
    for key, name in names.items():
        plane.event_metadata[key].name = name
    for thread, events in (
        ("tf_Compute/1", [(1, 3e9), (2, 1e9), (3, 9e9)]),
        ("tf_numa_-1_Eigen/2", [(1, 2e9)]),
        ("python", [(4, 5e9)]),
    ):
        line = plane.lines.add(name=thread)
        for key, picoseconds in events:
            line.events.add(metadata_id=key, duration_ps=int(picoseconds))
    seconds, kernels = profile.kernel_seconds(space.SerializeToString())
    assert kernels == 3
    assert seconds == pytest.approx({"Conv2D": 5e-3, "Relu": 1e-3})


def test_several_steps_a_call_give_the_single_steps_losses(tmp_path):
    """The lever of STEPS_PER_CALL: the same updates as one step a call, from the same seed."""
    frames = atari.record(tmp_path / "frames", SMALL_RECORDING)
    clips_lib.process(frames / "Train", tmp_path / "clips", 128, progress=False)
    tiny = config.preset("tiny")
    batches = bench_train._batches(tmp_path / "clips", tiny, count=2)
    single = train_lib.Trainer(tiny)
    want = [single.train_step(*batch) for batch in batches][-1]
    several = bench_train.SeveralSteps(train_lib.Trainer(tiny), 2)
    (grouped,) = several.group(batches)
    got = several.train_step(*grouped)
    for name in ("g_loss", "d_loss", "g_lp", "g_adv"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, err_msg=name)
    assert int(several.trainer.step.numpy()) == 2
