"""Every hyperparameter in one place: the paper's numbers and the TF1 implementation's sizes.

`preset(name)` returns a frozen `Config`; `with_loss(config, name)` sets its loss to a row of the
paper's ablation (`LOSSES`); `Config.save(path)` / `load(path)` write and read the JSON that sits
beside every checkpoint and clips folder. Paper = Mathieu, Couprie & LeCun,
"Deep Multi-Scale Video Prediction Beyond Mean Square Error", ICLR 2016 (arXiv 1511.05440).
"""

from __future__ import annotations

import dataclasses
import json
from math import inf
from pathlib import Path

from avgkit import files
from avgkit.errors import ConfigError

# --- Data (paper experiments; TF1 constants.py) -----------------------------------------------
HIST_LEN = 4  # input frames per clip (paper: 4 past frames)
CROP_SIZE = 32  # training crops are 32x32 (paper and TF1)
MOVEMENT_THRESHOLD = 100.0  # TF1: sum over the 4 frame pairs of squared differences, [-1, 1] units
MOVEMENT_MAX_TRIES = 100  # TF1: crops tried before the last one is kept
TAKE_FIRST_PROB = 0.05  # TF1: share of clips kept without the movement filter
OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class Config:
    """A model and training configuration. Sizes are per scale, coarse (1/8) to fine (1/1).

    `g_feature_maps[k]` lists the hidden feature maps of generator scale k (the TF1 lists without
    their first entry, the input channels, and last entry, the 3 output channels);
    `g_kernel_sizes[k]` has one more entry than `g_feature_maps[k]`. Discriminator scale k has
    VALID convolutions `d_feature_maps[k]` with kernels `d_kernel_sizes[k]`, a 2x2 max-pool
    where `d_max_pool[k]`, then fully connected layers `d_fc_sizes[k]` and a single logit.
    Fields added later take defaults that give what earlier config.json files described.
    """

    name: str
    hist_len: int = HIST_LEN
    crop_size: int = CROP_SIZE
    batch_size: int = 8  # paper and TF1
    scale_factors: tuple[int, ...] = (8, 4, 2, 1)  # paper: scales at 1/8, 1/4, 1/2, 1/1
    # Network sizes per scale: the TF1 implementation's, the full-size model users know
    g_feature_maps: tuple[tuple[int, ...], ...] = (
        (128, 256, 128),
        (128, 256, 128),
        (128, 256, 512, 256, 128),
        (128, 256, 512, 256, 128),
    )
    g_kernel_sizes: tuple[tuple[int, ...], ...] = (
        (3, 3, 3, 3),
        (5, 3, 3, 5),
        (5, 3, 3, 3, 3, 5),
        (7, 5, 5, 5, 5, 7),
    )
    d_feature_maps: tuple[tuple[int, ...], ...] = (
        (64,),
        (64, 128, 128),
        (128, 256, 256),
        (128, 256, 512, 128),
    )
    d_kernel_sizes: tuple[tuple[int, ...], ...] = ((3,), (3, 3, 3), (5, 5, 5), (7, 7, 5, 5))
    d_fc_sizes: tuple[tuple[int, ...], ...] = ((512, 256), (1024, 512), (1024, 512), (1024, 512))
    d_max_pool: tuple[bool, ...] = (True, True, True, True)  # TF1: a 2x2 max-pool every scale
    d_sees_history: bool = True  # paper section 2.2; False reproduces the TF1 discriminator
    # The official Torch code's advExt = 'full': each D update also sees a second real batch
    # (labelled real) and real targets paired with another batch's history (labelled fake)
    d_extra_examples: bool = False
    # Loss (paper, combining losses): L_G = lam_adv L_adv + lam_lp L_p + lam_gdl L_gdl
    lam_adv: float = 0.05
    lam_lp: float = 1.0
    lam_gdl: float = 1.0
    l_num: int = 1  # p of the Lp loss; the paper's best model uses p = 1 with GDL
    alpha_num: int = 1  # alpha of the gradient difference loss
    # Optimizers. The paper: SGD, rho_G from 0.04 down to 0.005, rho_D = 0.02; the TF1 code: Adam
    # 4e-5 for G, SGD 0.02 for D. avgkit: Adam 1e-4 for both (why: avgkit.train.trainer).
    g_optimizer: str = "adam"  # "adam" or "sgd"
    d_optimizer: str = "adam"
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 1e-4
    g_decay_steps: int = 0  # G's rate falls linearly over this many steps; 0: constant
    g_decay_to: float = 1.0  # ... to g_learning_rate * g_decay_to (paper: 0.005 / 0.04 = 0.125)
    # The row of the paper's ablation (LOSSES) that set l_num, lam_gdl and lam_adv, or None
    loss: str | None = None
    # Training on G's own rollouts (`avgkit train --rollout_steps`, `--curriculum`): stages
    # (K, steps), in order; in a stage G predicts K frames in a row, each from the frames
    # before it (its own predictions included), and every one is scored. Oh et al. (NeurIPS
    # 2015) train 1, then 3, then 5 steps. Empty: one step ahead throughout, as the paper.
    curriculum: tuple[tuple[int, int], ...] = ()
    # Action-conditioned prediction (`avgkit train --actions`): the game's action set, the names
    # of its actions in the order of their indices (the clips manifest's "actions"). G gets the
    # action taken towards each frame it predicts, D the action towards the frame it judges, as
    # one-hot planes at every scale (avgkit.models.generator). Empty: no actions, the paper's G.
    actions: tuple[str, ...] = ()
    # How G takes the action (`avgkit train --action_gates`): false, as the one-hot planes above;
    # true, as gates, every hidden map of every scale multiplied by 1 + a learned weight of the
    # action and the map (a per-map form of Oh et al.'s multiplicative interaction; see
    # avgkit.models.generator). D takes the planes either way.
    action_gates: bool = False
    # A D held back (`avgkit train --adv_gradient_cap C`): at each scale, the adversarial term's
    # gradient on G's prediction is at most C times the norm of the Lp + GDL terms' gradient
    # there (the term's weight lowered for the step where it is larger), so its share of G's
    # gradient, as `Trainer.diagnostics` measures it, stays at or below C / (1 + C). 0: no cap,
    # the paper. A form of VQGAN's adaptive weight (Esser et al., CVPR 2021, eq. 7), per scale.
    adv_gradient_cap: float = 0.0

    def rollout_steps(self, step: int) -> int:
        """K, the frames G predicts in a row at training step `step` (0-based; 1 past the end)."""
        for rollout_steps, steps in self.curriculum:
            if step < steps:
                return rollout_steps
            step -= steps
        return 1

    @property
    def clip_frames(self) -> int:
        """Frames a training clip needs: the history and the longest rollout of the curriculum."""
        return self.hist_len + max([1] + [k for k, _ in self.curriculum])

    def __post_init__(self):
        # Lists (from JSON or a caller) become tuples, so a Config stays hashable and comparable.
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, _as_tuples(getattr(self, field.name)))
        _validate(self)

    def to_dict(self) -> dict:
        """The fields by name; `actions`, `action_gates`, `curriculum` and `adv_gradient_cap`
        only when set, so that a model without them has the config.json (and the cache keys,
        avgkit.home) it had before."""
        values = dataclasses.asdict(self)
        for field in ("actions", "action_gates", "curriculum", "adv_gradient_cap"):
            if not values[field]:
                del values[field]
        return values

    def save(self, path: str | Path) -> None:
        """Write this config as JSON (via a temporary file, so a crash leaves no half file)."""
        files.write_json(path, self.to_dict(), indent=2)


def extended(curriculum: tuple, steps: int) -> tuple:
    """`curriculum` with its last stage lengthened (or shortened) so that it adds up to `steps`,
    as a resumed run's curriculum when --steps moves its end; unchanged if that would leave the
    last stage without a step."""
    if not curriculum:
        return curriculum
    before = sum(n for _, n in curriculum[:-1])
    last = curriculum[-1][0]
    return curriculum[:-1] + ((last, steps - before),) if steps > before else curriculum


def same_curriculum(found: tuple, wanted: tuple) -> bool:
    """Whether a run trained with curriculum `found` may go on with `wanted`: the same stages,
    but for the length of the last one."""
    if not found or not wanted:
        return found == wanted
    return found[:-1] == wanted[:-1] and found[-1][0] == wanted[-1][0]


def from_dict(values: dict) -> Config:
    """Build a Config from a dict such as `Config.to_dict()` gives; lists become tuples."""
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ConfigError(f"unknown config field(s) {unknown}; expected some of {sorted(fields)}")
    return Config(**values)


def load(path: str | Path) -> Config:
    """Read a config JSON written by `Config.save`."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config file there") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    return from_dict(values)


def _as_tuples(value):
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(item) for item in value)
    return value


@dataclasses.dataclass(frozen=True)
class Loss:
    """A loss of the paper's ablation (its Table 1): the p of Lp, the weight of GDL, and whether
    the adversarial term is on (lam_lp = 1 throughout). Its weight lam_adv is the preset's
    (0.05 in `paper`, 0.01 in `official`); without it G trains alone, without D."""

    l_num: int
    lam_gdl: float
    adversarial: bool


# The multi-scale rows of the paper's Table 1, as `avgkit train --loss NAME` applies them.
# "Adv" is the adversarial term on top of the plain l2 model: the official code's README names
# its released models "adversarial+l2norm" and "adversarial+l1norm+gdl". adv_gdl is the paper
# presets' own setting. The single-scale l2 row is not here.
LOSSES = {
    "l2": Loss(l_num=2, lam_gdl=0.0, adversarial=False),
    "l1": Loss(l_num=1, lam_gdl=0.0, adversarial=False),
    "l1_gdl": Loss(l_num=1, lam_gdl=1.0, adversarial=False),
    "adv": Loss(l_num=2, lam_gdl=0.0, adversarial=True),
    "adv_gdl": Loss(l_num=1, lam_gdl=1.0, adversarial=True),
}


def with_loss(config: Config, name: str) -> Config:
    """`config` with the fields of the ablation's loss `name` (a key of LOSSES), recorded in
    `config.loss` so that the run's config.json says which row it trains. An adversarial row
    keeps `config.lam_adv` (the preset's weight); the others set it to 0."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; expected one of {list(LOSSES)}")
    row = LOSSES[name]
    if row.adversarial and not config.lam_adv > 0:
        raise ConfigError(f"loss {name!r} is adversarial, but lam_adv is {config.lam_adv}")
    lam_adv = config.lam_adv if row.adversarial else 0.0
    return dataclasses.replace(
        config, loss=name, l_num=row.l_num, lam_gdl=row.lam_gdl, lam_adv=lam_adv
    )


def preset(name: str) -> Config:
    """The named preset: 'paper' (TF1 sizes), 'official' (the official Torch code's networks
    and recipe), 'small' (CPU training) or 'tiny' (tests)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}") from None


def lesson(name: str, g_learning_rate: float = 1e-3) -> Config:
    """Notebooks 05 and 06's recipe on preset `name`: l1 + GDL (adv + GDL when trained with D),
    G by Adam at `g_learning_rate` (the study's 1e-3: a short run learns), D by Adam at 1e-4
    as the study's `d_adam` (a D that sees G's frames) but without the extra examples."""
    return dataclasses.replace(
        preset(name),
        l_num=1,
        lam_gdl=1.0,
        g_optimizer="adam",
        g_learning_rate=g_learning_rate,
        d_optimizer="adam",
        d_learning_rate=1e-4,
        d_extra_examples=False,
    )


def _scaled(name: str, g_width: float, d_width: float) -> Config:
    """The paper's shape with G's feature maps times `g_width`, D's maps and FC sizes times
    `d_width`."""
    base = Config(name=name)

    def scale(table, width):
        return tuple(tuple(max(1, round(n * width)) for n in row) for row in table)

    return dataclasses.replace(
        base,
        g_feature_maps=scale(base.g_feature_maps, g_width),
        d_feature_maps=scale(base.d_feature_maps, d_width),
        d_fc_sizes=scale(base.d_fc_sizes, d_width),
    )


# Step times: one D + one G Adam update, batch 8, 32x32, 2 AMD EPYC cores, TensorFlow's default
# kernels (median of 10 rounds on an idle machine, 2026-11-25; `avgkit bench --only train` times
# the Trainer's own step).
# TF_ENABLE_ONEDNN_OPTS=1 nearly halves them there, but makes full-frame convolutions far slower
# (avgkit/__init__.py).
PRESETS = {
    # The TF1 sizes: G 12.6 M parameters, D 17.0 M (with the history); seconds a step.
    "paper": lambda: Config(name="paper"),
    # The paper's shape at 1/16 of its width: 0.12 s a step (G at 1/8: 0.21 s; even G at 1/12
    # still 0.19 s, as the 5x5 and 7x7 kernels' cost per layer dominates at this size).
    "small": lambda: _scaled("small", g_width=1 / 16, d_width=1 / 16),
    # The official Torch code (coupriec/VideoPredictionICLR2016, train_iclr_model.lua defaults):
    # its networks (G 223,644 parameters; D 2,128,548 with the history, a max-pool only at full
    # size), its loss (means, lam_lp 1, lam_adv 0.01; the script trains l2, the study adds GDL),
    # SGD at 0.02 for G and for D without decay, and its extra D examples (advExt = 'full').
    "official": lambda: Config(
        name="official",
        g_feature_maps=((16, 32, 16), (16, 32, 16), (16, 32, 64, 32, 16), (16, 32, 64, 32, 16)),
        g_kernel_sizes=((3, 3, 3, 3), (5, 3, 3, 5), (5, 3, 3, 3, 3, 5), (7, 5, 5, 5, 5, 7)),
        d_feature_maps=((32,), (32, 32, 64), (32, 32, 64), (32, 32, 64, 128)),
        d_kernel_sizes=((3,), (3, 3, 3), (5, 5, 5), (7, 7, 5, 5)),
        d_fc_sizes=((256, 128),) * 4,
        d_max_pool=(False, False, False, True),
        d_extra_examples=True,
        lam_adv=0.01,
        l_num=2,
        lam_gdl=0.0,
        g_optimizer="sgd",
        d_optimizer="sgd",
        g_learning_rate=0.02,
        d_learning_rate=0.02,
    ),
    # For tests: four scales as the paper, but 3x3 kernels and one or two narrow layers a scale
    # (5x5 and 7x7 kernels at 32x32 cost about 0.1 s a step even at 1/16 width): 0.03 s.
    "tiny": lambda: Config(
        name="tiny",
        g_feature_maps=((8,), (8,), (8, 8), (8, 8)),
        g_kernel_sizes=((3, 3), (3, 3), (3, 3, 3), (3, 3, 3)),
        d_feature_maps=((4,), (4,), (8,), (8, 8)),
        d_kernel_sizes=((3,), (3,), (3,), (3, 3)),
        d_fc_sizes=((16,), (16,), (16,), (16,)),
    ),
}


# --- Validation: one ConfigError naming the field and the expected value ----------------------
def _validate(config: Config) -> None:
    if not isinstance(config.name, str) or not config.name:
        raise ConfigError(f"name must be a non-empty string; got {config.name!r}")
    for field in ("hist_len", "crop_size", "batch_size"):
        _check_positive_int(field, getattr(config, field))
    _check_scale_factors(config.scale_factors)
    for table in (
        "d_max_pool",
        "g_feature_maps",
        "g_kernel_sizes",
        "d_feature_maps",
        "d_kernel_sizes",
        "d_fc_sizes",
    ):
        _check_table(config, table)
    _check_layer_counts(config)
    _check_crop(config)
    for field in ("lam_adv", "lam_lp", "lam_gdl", "adv_gradient_cap"):
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < inf:
            raise ConfigError(f"{field} must be a finite number >= 0; got {value!r}")
    for field in ("l_num", "alpha_num"):
        value = getattr(config, field)
        if isinstance(value, bool) or value not in (1, 2):
            raise ConfigError(f"{field} must be 1 or 2 (paper section 3); got {value!r}")
    for field in ("d_sees_history", "d_extra_examples"):
        if not isinstance(getattr(config, field), bool):
            raise ConfigError(f"{field} must be true or false; got {getattr(config, field)!r}")
    _check_optimizers(config)
    _check_loss(config)
    _check_curriculum(config.curriculum)
    _check_actions(config.actions)
    if not isinstance(config.action_gates, bool) or (config.action_gates and not config.actions):
        raise ConfigError(
            f"action_gates must be true or false, and true only with actions; got "
            f"{config.action_gates!r} with {len(config.actions)} actions"
        )


def _check_actions(actions) -> None:
    """Distinct non-empty names, at most 255 (stored as uint8 indices)."""
    valid = (
        isinstance(actions, tuple)
        and all(isinstance(name, str) and name for name in actions)
        and len(set(actions)) == len(actions) <= 255
    )
    if not valid:
        raise ConfigError(
            "actions must be a list of distinct action names (at most 255), such as "
            f'["NOOP", "UP", "RIGHT"], or empty for no actions; got {actions!r}'
        )


def _check_curriculum(curriculum) -> None:
    for i, stage in enumerate(curriculum):
        if not isinstance(stage, tuple) or len(stage) != 2:
            raise ConfigError(
                f"curriculum[{i}] must be [rollout steps, training steps]; got {stage!r}"
            )
        _check_positive_int(f"curriculum[{i}][0] (rollout steps)", stage[0])
        _check_positive_int(f"curriculum[{i}][1] (training steps)", stage[1])


def _check_loss(config: Config) -> None:
    """A named loss must be one of LOSSES, with that row's l_num, lam_gdl and lam_adv."""
    if config.loss is None:
        return
    if config.loss not in LOSSES:
        raise ConfigError(f"loss must be null or one of {list(LOSSES)}; got {config.loss!r}")
    row = LOSSES[config.loss]
    for field, value in (("l_num", row.l_num), ("lam_gdl", row.lam_gdl)):
        if getattr(config, field) != value:
            raise ConfigError(
                f"loss {config.loss!r} sets {field} = {value}; got {getattr(config, field)!r} "
                "(set loss to null for a loss of your own)"
            )
    if (config.lam_adv > 0) != row.adversarial:
        expected = "> 0 (the adversarial weight)" if row.adversarial else "0 (no adversarial term)"
        raise ConfigError(
            f"loss {config.loss!r} needs lam_adv {expected}; got {config.lam_adv!r} "
            "(set loss to null for a loss of your own)"
        )


def _check_optimizers(config: Config) -> None:
    for field in ("g_optimizer", "d_optimizer"):
        if getattr(config, field) not in OPTIMIZERS:
            raise ConfigError(
                f"{field} must be one of {list(OPTIMIZERS)}; got {getattr(config, field)!r}"
            )
    for field in ("g_learning_rate", "d_learning_rate", "g_decay_to"):
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ConfigError(f"{field} must be a number > 0; got {value!r}")
    steps = config.g_decay_steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"g_decay_steps must be an integer >= 0; got {steps!r}")


def _check_positive_int(field: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{field} must be a positive integer; got {value!r}")


def _check_scale_factors(factors) -> None:
    if not isinstance(factors, tuple) or not factors:
        raise ConfigError(
            f"scale_factors must be a non-empty list such as [8, 4, 2, 1]; got {factors!r}"
        )
    for i, factor in enumerate(factors):
        _check_positive_int(f"scale_factors[{i}]", factor)
    if list(factors) != sorted(set(factors), reverse=True) or factors[-1] != 1:
        raise ConfigError(
            "scale_factors must decrease strictly, coarse to fine, and end with 1 (full size), "
            f"such as [8, 4, 2, 1]; got {list(factors)}"
        )


def _check_table(config: Config, table: str) -> None:
    rows = getattr(config, table)
    scales = len(config.scale_factors)
    if not isinstance(rows, tuple) or len(rows) != scales:
        count = len(rows) if isinstance(rows, tuple) else repr(rows)
        raise ConfigError(
            f"{table} has {count} scales; expected {scales}, one list per entry of "
            f"scale_factors {list(config.scale_factors)}"
        )
    if table == "d_max_pool":
        for k, value in enumerate(rows):
            if not isinstance(value, bool):
                raise ConfigError(f"d_max_pool[{k}] must be true or false; got {value!r}")
        return
    for k, row in enumerate(rows):
        if not isinstance(row, tuple):
            raise ConfigError(f"{table}[{k}] must be a list of positive integers; got {row!r}")
        for i, value in enumerate(row):
            _check_positive_int(f"{table}[{k}][{i}]", value)


def _check_layer_counts(config: Config) -> None:
    """G scale k: one kernel per hidden map plus the output layer; D scale k: one per conv."""
    for k, (g_maps, d_maps) in enumerate(
        zip(config.g_feature_maps, config.d_feature_maps, strict=True)
    ):
        for table, maps, count in (
            ("g_kernel_sizes", "g_feature_maps", len(g_maps) + 1),
            ("d_kernel_sizes", "d_feature_maps", len(d_maps)),
        ):
            got = len(getattr(config, table)[k])
            if got != count:
                raise ConfigError(
                    f"{table}[{k}] has {got} entries; expected {count} to match {maps}[{k}]"
                )


def _check_crop(config: Config) -> None:
    """The crop must divide into every scale, and each D's VALID convolutions must leave at
    least 2x2 pixels for a 2x2 max-pool, 1 pixel without one (its fully connected layers fix
    D to this size)."""
    for k, factor in enumerate(config.scale_factors):
        if config.crop_size % factor:
            raise ConfigError(
                f"crop_size must be a multiple of every scale factor, here {factor}; "
                f"got {config.crop_size}"
            )
        size = config.crop_size // factor
        kernels = config.d_kernel_sizes[k]
        left = size - sum(kernel - 1 for kernel in kernels)
        needed = 2 if config.d_max_pool[k] else 1
        if left < needed:
            raise ConfigError(
                f"d_kernel_sizes[{k}] = {list(kernels)} shrink the {size}x{size} crop of scale {k} "
                f"to {left} px with VALID convolutions; expected a sum of (kernel - 1) <= "
                f"{size - needed}, so that {needed}x{needed} px remain"
                + (" for the max-pool" if config.d_max_pool[k] else "")
            )
