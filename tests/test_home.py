"""`avgkit.home`: two processes asking for the same cached folder take turns."""

from __future__ import annotations

import threading
import time

from avgkit import home
from avgkit.data import clips as clips_lib


def test_a_second_maker_waits_for_the_first_and_finds_the_clips_made(
    frame_root, tmp_path, monkeypatch
):
    monkeypatch.setenv("AVGKIT_HOME", str(tmp_path / "home"))
    real_process, calls = clips_lib.process, []

    def counted(*args, **kwargs):
        calls.append(args)
        return real_process(*args, **kwargs)

    monkeypatch.setattr(clips_lib, "process", counted)
    out = home.cache_dir(
        "clips", "40", {"train_dir": str(frame_root / "Train"), "num_clips": 40, "seed": 0}
    )
    found = []
    with home._one_maker(out):  # the first maker, here by hand
        second = threading.Thread(
            target=lambda: found.append(home.clips(frame_root / "Train", 40, progress=False))
        )
        second.start()
        time.sleep(0.5)  # without the lock the second maker would start processing now
        assert not calls and not found
        real_process(frame_root / "Train", out, 40, seed=0, progress=False)
    second.join(timeout=60)
    assert found == [out] and clips_lib.is_finished(out)
    assert not calls  # it found the folder made and cut nothing
