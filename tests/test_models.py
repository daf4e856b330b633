"""The multi-scale generator and discriminator: parameter counts by hand, shapes on any frame
size, the image pyramid, the residual path across scales, and clear errors for bad input."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from tf1_tables import D_FC, D_KERNELS, D_MAPS, G_KERNELS, G_MAPS

from avgkit import config, models
from avgkit.errors import ConfigError, DataError

D_SIZES = [4, 8, 16, 32]  # 32x32 crops at 1/8, 1/4, 1/2, 1/1


def conv_params(kernel, c_in, c_out):
    return kernel * kernel * c_in * c_out + c_out


def hand_count_generator():
    return [
        sum(conv_params(k, maps[i], maps[i + 1]) for i, k in enumerate(kernels))
        for maps, kernels in zip(G_MAPS, G_KERNELS, strict=True)
    ]


def hand_count_discriminator(input_channels):
    counts = []
    for maps, kernels, fc, size in zip(D_MAPS, D_KERNELS, D_FC, D_SIZES, strict=True):
        count, c_in = 0, input_channels
        for c_out, k in zip(maps[1:], kernels, strict=True):  # maps[0]: TF1's 3 input channels
            count += conv_params(k, c_in, c_out)
            c_in, size = c_out, size - (k - 1)  # VALID
        size //= 2  # 2x2 max-pool
        n_in = size * size * maps[-1]
        for n_out in fc:
            count += n_in * n_out + n_out
            n_in = n_out
        counts.append(count)
    return counts


@pytest.fixture(scope="module")
def paper_models():
    paper = config.preset("paper")
    return models.build_generator(paper), models.build_discriminator(paper)


def test_paper_generator_parameters_equal_a_hand_count(paper_models):
    generator, _ = paper_models
    per_scale = hand_count_generator()
    assert [scale.count_params() for scale in generator.scales] == per_scale
    assert generator.count_params() == sum(per_scale)
    assert round(sum(per_scale) / 1e6, 1) == 12.6  # the TF1 generator's 12.6 M


def test_paper_discriminator_parameters_equal_a_hand_count(paper_models):
    _, discriminator = paper_models
    per_scale = hand_count_discriminator(input_channels=4 * 3 + 3)  # history + frame
    assert [scale.count_params() for scale in discriminator.scales] == per_scale
    assert discriminator.count_params() == sum(per_scale)


def test_tf1_discriminator_sees_only_the_frame():
    tf1 = dataclasses.replace(config.preset("paper"), d_sees_history=False)
    discriminator = models.build_discriminator(tf1)
    assert discriminator.count_params() == sum(hand_count_discriminator(input_channels=3))


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    cfg = config.preset("tiny")
    return cfg, models.build_generator(cfg), models.build_discriminator(cfg)


def random_frames(height, width, channels=12, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, height, width, channels)).astype(np.float32)


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (32, 32, [(4, 4), (8, 8), (16, 16), (32, 32)]),
        (210, 160, [(27, 20), (53, 40), (105, 80), (210, 160)]),
        (33, 47, [(5, 6), (9, 12), (17, 24), (33, 47)]),
        (8, 9, [(1, 2), (2, 3), (4, 5), (8, 9)]),
    ],
)
def test_generator_runs_on_any_frame_size(tiny, height, width, expected):
    cfg, generator, _ = tiny
    assert models.scale_sizes(height, width, cfg) == expected
    assert expected == [(math.ceil(height / f), math.ceil(width / f)) for f in (8, 4, 2, 1)]
    predictions = generator(random_frames(height, width))
    assert [tuple(p.shape) for p in predictions] == [(2, h, w, 3) for h, w in expected]
    for prediction in predictions:
        assert prediction.dtype == tf.float32
        assert np.all(np.abs(prediction.numpy()) < 1)


def test_generator_runs_in_a_tf_function_with_unknown_sizes(tiny):
    cfg, generator, _ = tiny
    run = tf.function(
        generator, input_signature=[tf.TensorSpec((None, None, None, 12), tf.float32)]
    )
    frames = random_frames(33, 47)
    for eager, traced in zip(generator(frames), run(frames), strict=True):
        np.testing.assert_allclose(traced.numpy(), eager.numpy(), atol=1e-6)


def test_pyramid_is_block_means_when_sizes_divide(tiny):
    cfg, _, _ = tiny
    images = random_frames(32, 16, channels=3)
    for level, factor in zip(models.pyramid(images, cfg), (8, 4, 2, 1), strict=True):
        blocks = images.reshape(2, 32 // factor, factor, 16 // factor, factor, 3)
        np.testing.assert_allclose(level.numpy(), blocks.mean(axis=(2, 4)), atol=1e-6)


def test_pyramid_pads_evenly_and_averages_only_real_pixels():
    """10 rows at factor 8 -> 2 cells: SAME pads 3 rows above and 3 below, so the cells are the
    means of rows 0-4 and 5-9; 11 rows -> pads 2 above and 3 below: rows 0-5 and 6-10."""
    images = np.arange(10 * 11, dtype=np.float32).reshape(1, 10, 11, 1)
    rows = models.downsample(images, 8).numpy()[0, :, :, 0]
    assert rows.shape == (2, 2)
    np.testing.assert_allclose(
        rows[:, 0], [images[0, 0:5, 0:6].mean(), images[0, 5:10, 0:6].mean()]
    )
    np.testing.assert_allclose(rows[0], [images[0, 0:5, 0:6].mean(), images[0, 0:5, 6:11].mean()])


def test_upsampling_repeats_pixels_on_exact_steps():
    images = random_frames(3, 5, channels=3)
    expected = images.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_array_equal(models.upsample_to(images, (6, 10)).numpy(), expected)
    # a size known only at run time goes through tf.image.resize: the same pixels
    resized = models.upsample_to(images, tf.constant([6, 10])).numpy()
    np.testing.assert_array_equal(resized, expected)
    assert tuple(models.upsample_to(images, (5, 9)).shape) == (2, 5, 9, 3)


def test_each_scale_adds_a_residual_to_the_upsampled_coarser_prediction():
    """With G'_k's weights all zero, Y_k = tanh(u(Y_{k-1})); Y_1 = tanh(0) = 0."""
    keras.utils.set_random_seed(1)
    cfg = config.preset("tiny")
    generator = models.build_generator(cfg)
    frames = random_frames(32, 32)
    before = [p.numpy() for p in generator(frames)]
    for variable in generator.scales[2].weights:
        variable.assign(tf.zeros_like(variable))
    after = [p.numpy() for p in generator(frames)]
    np.testing.assert_array_equal(after[1], before[1])  # coarser scales unchanged
    upsampled = before[1].repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(after[2], np.tanh(upsampled), atol=1e-6)
    assert not np.allclose(after[3], before[3])  # the finer scale builds on it
    for variable in generator.scales[0].weights:
        variable.assign(tf.zeros_like(variable))
    np.testing.assert_array_equal(generator(frames)[0].numpy(), 0.0)


def test_scale_inputs_have_the_expected_channels(tiny):
    cfg, generator, discriminator = tiny
    assert [g.input_shape[-1] for g in generator.scales] == [12, 15, 15, 15]
    assert [d.input_shape[1:] for d in discriminator.scales] == [
        (4, 4, 15),
        (8, 8, 15),
        (16, 16, 15),
        (32, 32, 15),
    ]


def test_discriminator_gives_one_logit_per_clip_and_scale(tiny):
    cfg, generator, discriminator = tiny
    history = random_frames(32, 32, batch=3)
    target = random_frames(32, 32, channels=3, batch=3, seed=1)
    for frames in (generator(history), models.pyramid(target, cfg)):
        logits = discriminator(history, frames)
        assert [tuple(logit.shape) for logit in logits] == [(3, 1)] * 4
        assert all(logit.dtype == tf.float32 for logit in logits)


def test_discriminator_judges_the_sequence_only_with_history(tiny):
    cfg, _, discriminator = tiny
    history, other = random_frames(32, 32), random_frames(32, 32, seed=2)
    frames = models.pyramid(random_frames(32, 32, channels=3, seed=1), cfg)
    with_history = [logit.numpy() for logit in discriminator(history, frames)]
    with_other = [logit.numpy() for logit in discriminator(other, frames)]
    assert all(not np.allclose(a, b) for a, b in zip(with_history, with_other, strict=True))

    tf1 = models.build_discriminator(dataclasses.replace(cfg, d_sees_history=False))
    assert [d.input_shape[-1] for d in tf1.scales] == [3] * 4
    assert all(
        np.array_equal(a.numpy(), b.numpy())
        for a, b in zip(tf1(history, frames), tf1(other, frames), strict=True)
    )


def test_outputs_stay_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        cfg = config.preset("tiny")
        generator, discriminator = models.build_generator(cfg), models.build_discriminator(cfg)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert generator.scales[3].layers[-1].compute_dtype == "bfloat16"
    history = random_frames(32, 32)
    predictions = generator(history)
    logits = discriminator(history, predictions)
    assert {t.dtype for t in predictions + logits} == {tf.float32}


def test_checkpoint_round_trip_restores_the_predictions(tiny, tmp_path):
    cfg, generator, discriminator = tiny
    frames = random_frames(32, 32)
    path = tf.train.Checkpoint(generator=generator, discriminator=discriminator).save(
        str(tmp_path / "ckpt")
    )
    keras.utils.set_random_seed(5)
    fresh_g, fresh_d = models.build_generator(cfg), models.build_discriminator(cfg)
    tf.train.Checkpoint(generator=fresh_g, discriminator=fresh_d).restore(path).assert_consumed()
    for a, b in zip(generator(frames), fresh_g(frames), strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 32, 32, 9), r"has 9 channels; expected 3 \* hist_len = 12"),
        ((2, 7, 40, 12), r"has height 7; expected at least 8 px"),
        ((2, 40, 5, 12), r"has width 5; expected at least 8 px"),
        ((32, 32, 12), r"has shape \(32, 32, 12\); expected \(batch, height, width, 12\)"),
    ],
)
def test_generator_rejects_bad_input_with_one_clear_error(tiny, shape, message):
    _, generator, _ = tiny
    with pytest.raises(DataError, match="generator input " + message):
        generator(np.zeros(shape, np.float32))


def test_discriminator_rejects_bad_input_with_one_clear_error(tiny):
    cfg, _, discriminator = tiny
    history = random_frames(32, 32)
    frames = models.pyramid(random_frames(32, 32, channels=3), cfg)
    with pytest.raises(DataError, match=r"history is 40x40 px; expected .* = 32x32"):
        discriminator(random_frames(40, 40), models.pyramid(random_frames(40, 40, 3), cfg))
    with pytest.raises(DataError, match=r"history has 6 channels; expected 3 \* hist_len = 12"):
        discriminator(random_frames(32, 32, channels=6), frames)
    with pytest.raises(DataError, match=r"got 3 frames; expected one per scale, 4"):
        discriminator(history, frames[1:])
    with pytest.raises(DataError, match=r"frame 1 has shape \(2, 8, 8, 1\); expected \(batch, 8"):
        discriminator(history, [frames[0], frames[1][..., :1], *frames[2:]])


def test_input_errors_are_not_wrapped_by_keras():
    """The message is avgkit's own one line, not Keras's 'Exception encountered when calling'."""
    tiny = config.preset("tiny")
    with pytest.raises(DataError) as error:
        models.build_generator(tiny)(np.zeros((1, 32, 32, 9), np.float32))
    assert str(error.value).startswith("generator input has 9 channels; expected")
    with pytest.raises(DataError) as error:
        frames = [np.zeros((1, s, s, 3), np.float32) for s in (4, 8, 16, 32)]
        models.build_discriminator(tiny)(np.zeros((1, 16, 16, 12), np.float32), frames)
    assert str(error.value).startswith("discriminator history is 16x16 px")


# The official Torch code's networks (train_iclr_model.lua), as listed in REFERENCE.md
OFFICIAL_G = [  # (input channels, hidden maps, kernels) per scale; 3 output channels
    (12, [16, 32, 16], [3, 3, 3, 3]),
    (15, [16, 32, 16], [5, 3, 3, 5]),
    (15, [16, 32, 64, 32, 16], [5, 3, 3, 3, 3, 5]),
    (15, [16, 32, 64, 32, 16], [7, 5, 5, 5, 5, 7]),
]
OFFICIAL_D = [  # (conv maps, kernels, max-pool) per scale; FC 256, 128, 1 everywhere
    ([32], [3], False),
    ([32, 32, 64], [3, 3, 3], False),
    ([32, 32, 64], [5, 5, 5], False),
    ([32, 32, 64, 128], [7, 7, 5, 5], True),
]


def test_official_networks_have_the_official_parameter_counts():
    official = config.preset("official")
    g_counts = []
    for c_in, maps, kernels in OFFICIAL_G:
        channels = [c_in, *maps, 3]
        g_counts.append(
            sum(conv_params(k, channels[i], channels[i + 1]) for i, k in enumerate(kernels))
        )
    d_counts = []
    for (maps, kernels, pool), size in zip(OFFICIAL_D, D_SIZES, strict=True):
        count, c_in = 0, 15  # 4 input frames + the frame judged
        for c_out, k in zip(maps, kernels, strict=True):
            count += conv_params(k, c_in, c_out)
            c_in, size = c_out, size - (k - 1)
        n_in = (size // 2 if pool else size) ** 2 * maps[-1]
        for n_out in (256, 128, 1):
            count += n_in * n_out + n_out
            n_in = n_out
        d_counts.append(count)
    generator, discriminator = (
        models.build_generator(official),
        models.build_discriminator(official),
    )
    assert [s.count_params() for s in generator.scales] == g_counts
    assert [s.count_params() for s in discriminator.scales] == d_counts
    assert (sum(g_counts), sum(d_counts)) == (223_644, 2_128_548)  # REFERENCE.md's totals
    pools = [any("pool" in layer.name for layer in s.layers) for s in discriminator.scales]
    assert pools == [False, False, False, True]


# --- action-conditioned G and D -----------------------------------------------------------------
MSPACMAN = ("NOOP", "UP", "RIGHT", "LEFT", "DOWN", "UPRIGHT", "UPLEFT", "DOWNRIGHT", "DOWNLEFT")


def test_action_planes_cost_a_hand_counted_first_layer_at_every_scale(paper_models):
    """9 actions: the first convolution of each scale sees 9 more input channels."""
    paper = dataclasses.replace(config.preset("paper"), actions=MSPACMAN)
    generator, discriminator = models.build_generator(paper), models.build_discriminator(paper)
    g_counts = [
        sum(conv_params(k, maps[i] + (9 if i == 0 else 0), maps[i + 1]) for i, k in enumerate(ks))
        for maps, ks in zip(G_MAPS, G_KERNELS, strict=True)
    ]
    assert [scale.count_params() for scale in generator.scales] == g_counts
    d_counts = hand_count_discriminator(input_channels=4 * 3 + 3 + 9)
    assert [scale.count_params() for scale in discriminator.scales] == d_counts
    # the planes' weights alone: n_actions * k * k * first-layer maps a scale
    plain_g, plain_d = paper_models
    added = [9 * ks[0] ** 2 * maps[1] for maps, ks in zip(G_MAPS, G_KERNELS, strict=True)]
    assert generator.count_params() - plain_g.count_params() == sum(added)
    added = [9 * ks[0] ** 2 * maps[1] for maps, ks in zip(D_MAPS, D_KERNELS, strict=True)]
    assert discriminator.count_params() - plain_d.count_params() == sum(added)


def test_action_gates_cost_a_hand_counted_weight_per_action_and_hidden_map(paper_models):
    """9 actions: a gate weight per action and hidden map; no planes in G, D keeps its planes."""
    paper = dataclasses.replace(config.preset("paper"), actions=MSPACMAN, action_gates=True)
    generator, discriminator = models.build_generator(paper), models.build_discriminator(paper)
    g_counts = [
        sum(conv_params(k, maps[i], maps[i + 1]) for i, k in enumerate(ks))
        + 9 * sum(maps[1:-1])  # maps[0] holds the input channels, maps[-1] the 3 outputs
        for maps, ks in zip(G_MAPS, G_KERNELS, strict=True)
    ]
    assert [scale.count_params() for scale in generator.scales] == g_counts
    d_counts = hand_count_discriminator(input_channels=4 * 3 + 3 + 9)
    assert [scale.count_params() for scale in discriminator.scales] == d_counts


def test_a_gate_multiplies_each_hidden_map_by_one_plus_its_actions_weight():
    """tiny's coarsest scale, one hidden layer: its output is the last convolution of
    relu(conv(x)) * (1 + w[action]), the gating computed here in numpy."""
    cfg = dataclasses.replace(config.preset("tiny"), actions=("A", "B", "C"), action_gates=True)
    scale = models.build_generator(cfg).scale0
    gate = scale.get_layer("g0_gate0")
    weights = np.random.default_rng(4).normal(size=gate.kernel.shape).astype(np.float32)
    gate.kernel.assign(weights)
    images = random_frames(8, 8, channels=3 * cfg.hist_len, batch=3)
    actions = np.array([2, 0, 1])
    one_hot = np.eye(3, dtype=np.float32)[actions]
    maps = scale.get_layer("g0_conv0")(images).numpy()  # ReLU included
    gated = maps * (1 + weights[actions])[:, None, None, :]
    expected = scale.get_layer("g0_residual")(gated).numpy()
    np.testing.assert_allclose(scale([images, one_hot]).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected, scale.get_layer("g0_residual")(maps).numpy())


def test_actions_enter_as_constant_one_hot_planes_after_the_other_inputs():
    images = random_frames(5, 7, channels=4, batch=3)
    cfg = dataclasses.replace(config.preset("tiny"), actions=("A", "B", "C"))
    got = models.with_actions(images, np.array([2, 0, 2], np.uint8), cfg).numpy()
    planes = np.zeros((3, 5, 7, 3), np.float32)
    planes[[0, 2], ..., 2] = planes[1, ..., 0] = 1
    np.testing.assert_array_equal(got, np.concatenate([images, planes], axis=-1))
    assert models.with_actions(images, None, cfg) is images


def copy_without_action_weights(source, target, actions: int):
    """Set `target`'s weights (a model without actions) to `source`'s, dropping the input
    channels of the action planes (the last `actions`) from each scale's first kernel."""
    for mine, theirs in zip(source.scales, target.scales, strict=True):
        weights = mine.get_weights()
        weights[0] = weights[0][:, :, :-actions]
        theirs.set_weights(weights)


def test_a_conditioned_model_is_the_plain_one_plus_the_planes_weights():
    """With the planes' weights zeroed, G and D ignore the action and are the plain models."""
    keras.utils.set_random_seed(3)
    cfg = config.preset("tiny")
    acting = dataclasses.replace(cfg, actions=("A", "B", "C"))
    g, d = models.build_generator(acting), models.build_discriminator(acting)
    plain_g, plain_d = models.build_generator(cfg), models.build_discriminator(cfg)
    history = random_frames(32, 32, batch=3)
    one, other = np.array([0, 1, 2]), np.array([2, 2, 1])
    predictions = [p.numpy() for p in g(history, one)]
    assert not np.allclose(predictions[-1], g(history, other)[-1].numpy())  # it listens
    for model in (g, d):
        for scale in model.scales:
            kernel = scale.weights[0]
            kernel.assign(tf.concat([kernel[:, :, :-3], tf.zeros_like(kernel[:, :, -3:])], 2))
    copy_without_action_weights(g, plain_g, 3)
    copy_without_action_weights(d, plain_d, 3)
    for a, b in zip(g(history, other), plain_g(history), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    frames = models.pyramid(random_frames(32, 32, channels=3, batch=3, seed=1), cfg)
    for a, b in zip(d(history, frames, one), plain_d(history, frames), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_action_inputs_are_checked_with_one_clear_error(tiny):
    cfg, generator, discriminator = tiny
    acting = models.build_generator(dataclasses.replace(cfg, actions=("A", "B")))
    history = random_frames(32, 32)
    with pytest.raises(DataError, match=r"^generator: this model is action-conditioned \(2 "):
        acting(history)
    with pytest.raises(DataError, match=r"^generator actions are float32 \(2, 1\); expected int"):
        acting(history, np.zeros((2, 1), np.float32))
    with pytest.raises(DataError, match=r"^generator got 3 actions for 2 clips"):
        acting(history, np.zeros(3, np.int32))
    with pytest.raises(DataError, match=r"^generator: got actions, but this model has none"):
        generator(history, np.zeros(2, np.int32))
    frames = models.pyramid(random_frames(32, 32, channels=3), cfg)
    with pytest.raises(DataError, match=r"^discriminator: got actions, but this model has none"):
        discriminator(history, frames, np.zeros(2, np.int32))


def test_a_config_without_actions_saves_the_json_it_saved_before(tmp_path):
    """Old config.json files (the shipped models' too) load, and a model without actions writes
    no `actions` field, so its config.json and cache keys are those of before."""
    tiny = config.preset("tiny")
    assert "actions" not in tiny.to_dict() and tiny.actions == ()
    acting = dataclasses.replace(tiny, actions=MSPACMAN)
    acting.save(tmp_path / "config.json")
    assert config.load(tmp_path / "config.json") == acting
    for bad in (("UP", "UP"), ("UP", ""), "UP", (1, 2)):
        with pytest.raises(ConfigError, match="actions must be a list of distinct action names"):
            dataclasses.replace(tiny, actions=bad)
    assert "action_gates" not in acting.to_dict()  # planes: the config.json of before gates
    gated = dataclasses.replace(acting, action_gates=True)
    gated.save(tmp_path / "gated.json")
    assert config.load(tmp_path / "gated.json") == gated
    for bad in ({"action_gates": True}, {"actions": MSPACMAN, "action_gates": 1}):
        with pytest.raises(ConfigError, match="^action_gates must be true or false, and true on"):
            dataclasses.replace(tiny, **bad)
