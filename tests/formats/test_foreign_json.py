"""The nesting of a foreign JSON document measured before it is parsed (issue 90 item 2): linear in the text.

Oracle: a character-by-character walk of the text as JSON's grammar reads strings (a quote opens, a backslash
takes the next character, a quote closes; a string never closed holds the rest), the brackets outside strings
counted. Before, a regex tried every quote of a string never closed again to the end: 300 KB of escaped quotes
took minutes.
"""

from __future__ import annotations

import random

import pytest

from cryodedup.errors import InputFileError
from cryodedup.formats.files import _json_depth, read_foreign_json
from helpers import within


def _walked_depth(text: bytes) -> int:
    deepest = level = 0
    inside = escaped = False
    for byte in text:
        char = chr(byte)
        if inside:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
        elif char == '"':
            inside = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


@pytest.mark.parametrize("seed", range(400))
def test_the_nesting_is_the_walks(seed):
    rng = random.Random(seed)
    text = "".join(rng.choices('[]{}"\\a\n', weights=[4, 2, 3, 2, 3, 3, 2, 1], k=rng.randrange(0, 60))).encode()
    assert _json_depth(text) == _walked_depth(text), text
    assert _json_depth(text, chunk=7) == _walked_depth(text)


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": "' + b'\\"' * 150_000,  # 300 KB of escaped quotes, the string never closed
        b'\\"' * 150_000,
        b'"' + b"\\" * 300_001,
        b'[{"a": "' + b'\\"[' * 100_000,
    ],
)
def test_a_string_never_closed_is_measured_in_one_pass(tmp_path, text):
    with within(5):  # (before: 54 s at 20,000 quotes, growing with their square)
        assert _json_depth(text) == _walked_depth(text[:20]) and _json_depth(text) <= 2
        path = tmp_path / "job.json"
        path.write_bytes(text)
        with pytest.raises(InputFileError, match=r"job\.json: not valid JSON \(line 1, column \d+: .*\), expected"):
            read_foreign_json(path, "a CryoSPARC job.json")
