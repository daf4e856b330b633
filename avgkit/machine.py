"""The CPU this process runs on: its model and the vector and bfloat16 instructions, which set
what float32 and mixed precision reach (README, Performance). Read from /proc/cpuinfo (Linux);
elsewhere the model is `platform.processor()` and no flags are known."""

from __future__ import annotations

import platform
from pathlib import Path

CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # without them bfloat16 is emulated, 2-14x slower


def cpu() -> dict:
    """{"processor": model name, "cpu_flags": those of CPU_FLAGS it has, "cpus": count}."""
    fields = _cpuinfo()
    flags = fields.get("flags", "").split()
    return {
        "processor": fields.get("model name") or platform.processor() or platform.machine(),
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
    }


def has_bfloat16(flags: list[str] | None = None) -> bool:
    """Whether the CPU (or these `cpu()["cpu_flags"]`) computes bfloat16 natively."""
    flags = cpu()["cpu_flags"] if flags is None else flags
    return any(flag in flags for flag in BFLOAT16_FLAGS)


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN kernels in this process: TF_ENABLE_ONEDNN_OPTS=0 or 1
    when set, else TensorFlow's default (on Linux x86: on with AVX512-VNNI, AVX-VNNI, AVX512-BF16
    or AMX, off on plain AVX2 as on this project's AVX2 machine). Fixed once TensorFlow is
    imported; bfloat16 is fast only with them (README, Performance)."""
    from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own switch, read back

    return bool(_pywrap_util_port.IsMklEnabled())


def _cpuinfo() -> dict:
    """The first processor's fields in /proc/cpuinfo; empty where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
    except OSError:
        return {}
    return dict((part.strip() for part in line.split(":", 1)) for line in lines if ":" in line)
