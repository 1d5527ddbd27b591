"""Hostile and damaged input: recipes nested past the limit, decompression bombs, truncated
images. Each is one line naming the file or key, never a traceback."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ganzoo import GanzooError, check_image, load_image
from ganzoo.recipe import apply_overrides, read_yaml


def _png_header_claiming(path, width, height):
    """A PNG whose header claims width x height pixels, with almost no data behind it."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0"))
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bombs_and_truncated_images_are_one_line_errors(tmp_path):
    bomb = _png_header_claiming(tmp_path / "bomb.png", 20000, 20000)  # 400 megapixels claimed
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")).save(tmp_path / "ok.png")
    whole = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    for read in (check_image, lambda path: load_image(path, 3)):
        with pytest.raises(GanzooError, match=r"bomb.png: image too large to decode safely"):
            read(bomb)
        with pytest.raises(GanzooError, match=r"cut.png: unreadable image file"):
            read(tmp_path / "cut.png")
    check_image(tmp_path / "ok.png")


def test_recipes_nested_past_the_limit_are_refused_before_the_parser_recurses(tmp_path):
    flow = tmp_path / "flow.yaml"
    flow.write_text("data: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(GanzooError, match="flow.yaml: nested 5000 levels deep; a recipe nests at most 16"):
        read_yaml(flow)
    block = tmp_path / "block.yaml"
    block.write_text("data:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 30)) + "  " * 30 + "x: 1\n")
    with pytest.raises(GanzooError, match="block.yaml: nested more than 16 levels deep"):
        read_yaml(block)
    with pytest.raises(GanzooError, match="the value: nested 3000 levels deep"):
        apply_overrides({}, ["train.steps=" + "[" * 3000])
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(GanzooError, match="huge.yaml: .* bytes is too large for a recipe"):
        read_yaml(huge)


def test_full_disk_at_a_writer_is_one_line_and_leaves_earlier_files_whole(tmp_path, monkeypatch):
    import errno
    import io
    from pathlib import Path

    from ganzoo import files

    target = tmp_path / "scores.json"
    target.write_text("old")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Path, "write_text", full)
        with pytest.raises(GanzooError, match=r"scores.json: could not write the scores \(the disk is full\)"):
            files.write_text(target, "new", "the scores")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["scores.json"]

    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n')

    class HalfWritten(io.StringIO):  # the disk fills in the middle of the line
        def write(self, text):
            with open(log, "a") as real:
                real.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "open", lambda *a, **k: HalfWritten(), raising=False)
    with pytest.raises(GanzooError, match=r"metrics.jsonl: could not write the log line \(the disk is full\)"):
        files.append_line(log, '{"step": 2}', "the log line")
    assert log.read_text() == '{"step": 1}\n'  # cut back to whole lines
