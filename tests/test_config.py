"""Config: the presets, the JSON round trip, and one clear ConfigError per bad value."""

from __future__ import annotations

import dataclasses
import json

import pytest
from tf1_tables import D_FC, D_KERNELS, D_MAPS, G_KERNELS, G_MAPS

from avgkit import config
from avgkit.errors import ConfigError


def test_paper_preset_has_the_tf1_sizes_and_the_paper_weights():
    paper = config.preset("paper")
    assert [list(maps) for maps in paper.g_feature_maps] == [m[1:-1] for m in G_MAPS]
    assert [list(k) for k in paper.g_kernel_sizes] == G_KERNELS
    assert [list(maps) for maps in paper.d_feature_maps] == [m[1:] for m in D_MAPS]
    assert [list(k) for k in paper.d_kernel_sizes] == D_KERNELS
    assert [list(fc) for fc in paper.d_fc_sizes] == [fc[:-1] for fc in D_FC]
    assert (paper.lam_adv, paper.lam_lp, paper.lam_gdl) == (0.05, 1.0, 1.0)
    assert (paper.batch_size, paper.hist_len, paper.crop_size) == (8, 4, 32)
    assert paper.scale_factors == (8, 4, 2, 1)
    assert paper.d_sees_history


@pytest.mark.parametrize("name", ["paper", "small", "tiny"])
def test_presets_round_trip_through_json(tmp_path, name):
    preset = config.preset(name)
    assert preset.name == name
    path = tmp_path / "config.json"
    preset.save(path)
    assert config.load(path) == preset
    assert not list(tmp_path.glob("*.tmp"))


def test_small_keeps_the_paper_shape_at_reduced_width():
    paper, small = config.preset("paper"), config.preset("small")
    assert small.g_kernel_sizes == paper.g_kernel_sizes
    assert small.d_kernel_sizes == paper.d_kernel_sizes
    for table in ("g_feature_maps", "d_feature_maps", "d_fc_sizes"):
        for row_small, row_paper in zip(getattr(small, table), getattr(paper, table), strict=True):
            assert len(row_small) == len(row_paper)
            assert all(s < p for s, p in zip(row_small, row_paper, strict=True))


def test_lists_become_tuples():
    values = config.preset("tiny").to_dict()
    assert isinstance(values["g_feature_maps"], tuple)
    from_json = config.from_dict(json.loads(json.dumps(values)))
    assert from_json == config.preset("tiny")
    assert isinstance(from_json.g_feature_maps[0], tuple)
    hash(from_json)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match=r"'huge'.*\['official', 'paper', 'small', 'tiny'\]"):
        config.preset("huge")


def test_unknown_field_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown config field.*'widht'"):
        config.from_dict({"name": "x", "widht": 3})
    with pytest.raises(ConfigError, match="no config file"):
        config.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        config.load(tmp_path / "bad.json")


PAPER = config.Config(name="paper")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": ""}, "name must be a non-empty string"),
        ({"hist_len": 0}, r"hist_len must be a positive integer; got 0"),
        ({"crop_size": -32}, r"crop_size must be a positive integer; got -32"),
        ({"batch_size": 2.5}, r"batch_size must be a positive integer; got 2.5"),
        ({"hist_len": True}, r"hist_len must be a positive integer; got True"),
        ({"scale_factors": (8, 4, 2)}, r"end with 1 .*got \[8, 4, 2\]"),
        ({"scale_factors": (2, 4, 8, 1)}, r"decrease strictly"),
        ({"scale_factors": (8, 4, 0, 1)}, r"scale_factors\[2\] must be a positive integer"),
        (
            {"g_feature_maps": PAPER.g_feature_maps[:3]},
            r"g_feature_maps has 3 scales; expected 4, one list per entry of scale_factors",
        ),
        (
            {"d_fc_sizes": PAPER.d_fc_sizes + ((8,),)},
            r"d_fc_sizes has 5 scales; expected 4",
        ),
        (
            {"g_kernel_sizes": ((3, 3, 3), *PAPER.g_kernel_sizes[1:])},
            r"g_kernel_sizes\[0\] has 3 entries; expected 4 to match g_feature_maps\[0\]",
        ),
        (
            {"d_kernel_sizes": (*PAPER.d_kernel_sizes[:3], (7, 7, 5))},
            r"d_kernel_sizes\[3\] has 3 entries; expected 4 to match d_feature_maps\[3\]",
        ),
        (
            {"g_feature_maps": ((128, 0, 128), *PAPER.g_feature_maps[1:])},
            r"g_feature_maps\[0\]\[1\] must be a positive integer; got 0",
        ),
        ({"d_fc_sizes": ((512, -1), *PAPER.d_fc_sizes[1:])}, r"d_fc_sizes\[0\]\[1\]"),
        (
            {"d_kernel_sizes": ((3,), (3, 3, 3), (5, 5, 5), 7)},
            r"d_kernel_sizes\[3\] must be a list",
        ),
        ({"crop_size": 36}, r"crop_size must be a multiple of every scale factor, here 8; got 36"),
        (
            {"d_kernel_sizes": ((5,), *PAPER.d_kernel_sizes[1:])},
            r"d_kernel_sizes\[0\] = \[5\] shrink the 4x4 crop .* <= 2",
        ),
        ({"lam_adv": -0.1}, r"lam_adv must be a finite number >= 0; got -0.1"),
        ({"lam_gdl": "1"}, r"lam_gdl must be a finite number >= 0"),
        ({"l_num": 3}, r"l_num must be 1 or 2 .*got 3"),
        ({"alpha_num": 0}, r"alpha_num must be 1 or 2"),
        ({"d_sees_history": "yes"}, r"d_sees_history must be true or false"),
    ],
)
def test_bad_values_raise_one_clear_error(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(PAPER, **change)


def test_bad_values_in_a_json_file_are_caught_on_load(tmp_path):
    values = config.preset("tiny").to_dict()
    values["g_kernel_sizes"] = values["g_kernel_sizes"][:2]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match="g_kernel_sizes has 2 scales; expected 4"):
        config.load(path)


def test_official_preset_is_the_official_recipe():
    official = config.preset("official")
    assert (official.lam_adv, official.lam_lp, official.l_num) == (0.01, 1.0, 2)
    assert (official.g_optimizer, official.d_optimizer) == ("sgd", "sgd")
    assert (official.g_learning_rate, official.d_learning_rate) == (0.02, 0.02)
    assert official.d_extra_examples and official.d_max_pool == (False, False, False, True)
    for name in ("paper", "small", "tiny"):  # the others as before
        other = config.preset(name)
        assert not other.d_extra_examples and other.d_max_pool == (True,) * 4
    adv = config.with_loss(official, "adv_gdl")  # the preset's weight, not the paper's 0.05
    assert (adv.lam_adv, adv.l_num, adv.lam_gdl) == (0.01, 1, 1.0)
    assert config.with_loss(official, "l1_gdl").lam_adv == 0.0


def test_a_config_json_from_before_the_new_fields_loads_with_the_old_behaviour(tmp_path):
    old = config.preset("small").to_dict()
    for field in ("d_max_pool", "d_extra_examples"):
        del old[field]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    loaded = config.load(path)
    assert loaded == config.preset("small")
    old_adv = {**config.with_loss(config.preset("tiny"), "adv").to_dict(), "lam_adv": 0.05}
    assert config.from_dict(old_adv).lam_adv == 0.05  # an older adv run (the paper's weight)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"d_max_pool": (True, True, True)}, r"d_max_pool has 3 scales; expected 4"),
        ({"d_max_pool": (True, 1, True, True)}, r"d_max_pool\[1\] must be true or false"),
        ({"d_extra_examples": "yes"}, r"d_extra_examples must be true or false"),
        (
            {"d_kernel_sizes": ((4,), (3, 3, 3), (5, 5, 5), (7, 7, 5, 5))},
            r"to 1 px .* 2x2 px remain",
        ),
    ],
)
def test_new_fields_are_checked(change, message):
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(config.preset("paper"), **change)
