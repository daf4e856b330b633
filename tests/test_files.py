"""Files written whole: avgkit.files."""

import json

import pytest

from avgkit import files
from avgkit.errors import DataError


def test_replacing_writes_the_file_when_the_block_ends(tmp_path):
    path = tmp_path / "new" / "folder" / "a.txt"
    with files.replacing(path) as tmp:
        tmp.write_text("whole")
        assert not path.exists()  # nothing at the path while writing
    assert path.read_text() == "whole"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_an_error_while_writing_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    files.write_json(path, {"psnr": 30.5})
    with pytest.raises(KeyboardInterrupt):
        with files.replacing(path) as tmp:
            tmp.write_text('{"psn')
            raise KeyboardInterrupt
    assert json.loads(path.read_text()) == {"psnr": 30.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_write_new_json_keeps_a_file_already_there(tmp_path):
    path = tmp_path / "run.json"
    assert files.write_new_json(path, {"scores": 1})
    assert not files.write_new_json(path, {"recovered": True})
    assert json.loads(path.read_text()) == {"scores": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


@pytest.mark.parametrize("text", [b'{"psnr": 3', b"\xff\xfe not text"])
def test_read_json_names_a_file_that_does_not_parse(tmp_path, text):
    path = tmp_path / "run.json"
    path.write_bytes(text)
    with pytest.raises(DataError, match=rf"^{path}: not valid JSON \(.*\); delete it$"):
        files.read_json(path, "delete it")
