"""The barrage's microscope metadata cases (issue 38): EPU XML and SerialEM .mdoc through ``--metadata``.

Registered into ``barrage.CASES`` by barrage.py. Each case writes a small session (four
images, or a crowded one), empty movie placeholders named as the metadata names them, and
runs ``cryodedup micrographs 'Movies/*.tiff' --metadata ... --no-images`` (nothing is read
but the metadata). Beyond barrage.py's columns, each case says what is right (``expect``):
a refusal naming the file and the value, or a run whose duplicates.csv holds the pairs the
positions make (checked against the case's own arithmetic, not against cryodedup's output).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: A problem with a run's result (None: right), from its output folder, status, stderr and stdout.
Expect = Callable[[Path, int, str, str], "str | None"]


@dataclass
class MetadataCase:
    """barrage.Case's fields, and what the result must be."""

    kind: str
    name: str
    build: Callable[[Path], list[str]]
    expect: Expect | None = None


CASES: list[MetadataCase] = []

EPU_XML = (
    '<MicroscopeImage xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects" '
    'xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><name>Empty</name>'
    "<SpatialScale><pixelSize><x><numericValue>{psize}</numericValue></x>"
    "<y><numericValue>{psize}</numericValue></y></pixelSize></SpatialScale>"
    "<microscopeData><acquisition><acquisitionDateTime>{when}</acquisitionDateTime>"
    '<camera><ReadoutArea xmlns:a="http://schemas.datacontract.org/2004/07/System.Drawing">'
    "<a:height>{ny}</a:height><a:width>{nx}</a:width><a:x>0</a:x><a:y>0</a:y></ReadoutArea></camera>"
    "</acquisition><optics><BeamDiameter>{beam}</BeamDiameter>"
    '<BeamShift xmlns:a="http://schemas.datacontract.org/2004/07/Fei.Types"><a:_x>{bx}</a:_x><a:_y>{by}</a:_y>'
    '</BeamShift><ImageShift xmlns:a="http://schemas.datacontract.org/2004/07/Fei.Types"><a:_x>{ix}</a:_x>'
    "<a:_y>0</a:_y></ImageShift></optics><stage><Holder>Unspecified</Holder><Position><A>0</A><B>0</B>"
    "<X>{x}</X><Y>{y}</Y><Z>-2.7E-05</Z></Position></stage></microscopeData></MicroscopeImage>"
)
#: Four images: 1 is 0.05 µm from 0 (a re-exposure: one duplicate pair with the 0.65 µm beam), 2 and 3 far.
STAGE_M = [(1e-5, 2e-5), (1.005e-5, 2e-5), (3e-5, 2e-5), (5e-5, 6e-5)]
GOOD = {"psize": "8.3E-11", "nx": "5760", "ny": "4092", "beam": "6.5E-07", "bx": "0", "by": "0", "ix": "0"}
GOOD |= {"when": "2022-11-04T06:13:35.2500000+00:00"}


def epu_name(k: int) -> str:
    return f"FoilHole_{100 + k}_Data_{200 + k}_{300 + k}_20221104_06133{k}"


def _placeholders(d: Path, names: list[str]) -> None:
    (d / "in" / "Movies").mkdir(exist_ok=True)
    for name in names:
        (d / "in" / "Movies" / f"{name}_fractions.tiff").touch()


def _run(d: Path, metadata: str, *extra: str) -> list[str]:
    return ["micrographs", str(d / "in" / "Movies" / "*.tiff"), "--metadata", metadata, "--no-images", *extra]


# --- what is right ---------------------------------------------------------------------------


def refused(*parts: str) -> Expect:
    """Exit 1, one ``Error:`` line holding every part (the file's name, the field, the value)."""

    def check(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        lines = stderr.strip().splitlines()
        if code != 1 or len(lines) != 1 or not all(p in lines[0] for p in parts):
            return f"expected a refusal naming {parts}, got exit {code}: {stderr.strip()[-300:]}"
        return None

    return check


def duplicates(count: int, *said: str) -> Expect:
    """Exit 0, nothing on stderr, ``count`` rows in duplicates.csv; every text of ``said`` in the ``--json`` summary."""

    def check(out: Path, code: int, stderr: str, stdout: str) -> str | None:
        if code != 0 or stderr.strip():  # -q: nothing on stderr, no numpy RuntimeWarning either
            return f"expected a quiet run, got exit {code}: {stderr.strip()[-300:]}"
        with open(out / "duplicates.csv", newline="") as f:
            found = len(list(csv.reader(f))) - 1
        missing = [s for s in said if s not in stdout]
        if found != count or missing:
            return f"expected {count} duplicates, found {found}; not said: {missing}"
        return None

    return check


# --- EPU --------------------------------------------------------------------------------------


def epu_case(
    name: str, expect: Expect, edit: Callable[[int, str], str | bytes] | None = None, *extra: str, **values: str
) -> None:
    """Four EPU data XMLs; ``values`` replace image 1's, ``edit(k, text)`` rewrites image k's text."""

    def build(d: Path) -> list[str]:
        folder = d / "in" / "EPU" / "Images-Disc1" / "GridSquare_1000" / "Data"
        folder.mkdir(parents=True)
        for k, (x, y) in enumerate(STAGE_M):
            fields = GOOD | {"x": repr(x), "y": repr(y)} | (values if k == 1 else {})
            text: str | bytes = EPU_XML.format(**fields)
            text = edit(k, str(text)) if edit else text
            (folder / f"{epu_name(k)}.xml").write_bytes(text if isinstance(text, bytes) else text.encode())
        _placeholders(d, [epu_name(k) for k in range(4)])
        return _run(d, str(d / "in" / "EPU"), "--json", *extra)

    CASES.append(MetadataCase("metadata", f"EPU: {name}", build, expect))


IMAGE_1 = epu_name(1)
epu_case("a valid session (control)", duplicates(1))
for when in ("2022-13-45T99:99:99", "2022-02-30T10:00:00Z", "2023-02-29T00:00:00Z", "2022-11-04T24:00:00Z"):
    epu_case(f"acquisitionDateTime {when}", refused(IMAGE_1, "acquisitionDateTime", when), when=when)
for when in ("2022-11-04T06:13:35+25:00", "yesterday", "２０２２-11-04T06:13:35Z", "2022-11-04t06:13:35Z"):
    epu_case(f"acquisitionDateTime {when}", refused(IMAGE_1, "acquisitionDateTime", when), when=when)
epu_case("acquisitionDateTime empty (no time)", duplicates(1), when="")
epu_case("acquisitionDateTime without a zone (UTC)", duplicates(1), when="2022-11-04T06:13:35")
epu_case("acquisitionDateTime with 7 decimals", duplicates(1), when="2018-08-27T18:15:57.2721016+02:00")
epu_case("acquisitionDateTime with 13 decimals", duplicates(1), when="2022-11-04T06:13:35.1234567891234Z")
for key, element in (("x", "<X>"), ("y", "<Y>"), ("bx", "<BeamShift> _x"), ("ix", "<ImageShift> _x")):
    for value in ("NaN", "inf", "-Infinity", "1e400"):
        epu_case(f"{element} {value}", refused(IMAGE_1, element, value), **{key: value})
epu_case("pixel size NaN", refused(IMAGE_1, "pixel size", "NaN"), psize="NaN")
epu_case("pixel size -8.3E-11", refused(IMAGE_1, "pixel size", "-8.3E-11"), psize="-8.3E-11")
epu_case("pixel size 0 (not recorded)", duplicates(1), psize="0")
epu_case("BeamDiameter -6.5E-07", refused(IMAGE_1, "<BeamDiameter>", "-6.5E-07"), beam="-6.5E-07")
epu_case("BeamDiameter inf", refused(IMAGE_1, "<BeamDiameter>", "inf"), beam="inf")
epu_case(
    "BeamDiameter 0 in every file (falls back, says so)",
    duplicates(1, "BeamDiameter 0 (not recorded) in 4 of 4"),
    lambda k, t: t.replace("6.5E-07</BeamDiameter>", "0</BeamDiameter>"),
)
epu_case("ReadoutArea width NaN", refused(IMAGE_1, "ReadoutArea", "NaN"), nx="NaN")
epu_case("ReadoutArea width 1e30", refused(IMAGE_1, "ReadoutArea", "1e30"), nx="1e30")
epu_case("ReadoutArea width 5760.5", refused(IMAGE_1, "ReadoutArea", "whole numbers"), nx="5760.5")
epu_case("stage X 2 m", refused(IMAGE_1, "<X>", "'2'"), x="2")
epu_case("BeamShift 1e7 units", refused(IMAGE_1, "<BeamShift>", "1e7"), bx="1e7")
epu_case(
    "--shift-calibration 1e300 (positions overflow)",
    refused("shift calibration 1e+300", "beyond any stage"),
    None,
    "--shift-calibration",
    "1e300",
    bx="1",
)
epu_case("stage X as text", refused(IMAGE_1, "<X>", "abc"), x="abc")
epu_case("stage X empty", refused(IMAGE_1, "<X>", "''"), x="")
epu_case("one XML cut in half", refused(IMAGE_1, "not an XML file"), lambda k, t: t[: len(t) // 2] if k == 1 else t)
epu_case("one XML empty", refused(IMAGE_1, "not an XML file"), lambda k, t: "" if k == 1 else t)
epu_case(
    "one XML in UTF-16 with its declaration",
    duplicates(1),
    lambda k, t: ('<?xml version="1.0" encoding="utf-16"?>' + t).encode("utf-16") if k == 1 else t,
)
epu_case(
    "an XML declaring an unknown encoding",
    refused(IMAGE_1, "not an XML file"),
    lambda k, t: '<?xml version="1.0" encoding="utfm16"?>' + t if k == 1 else t,
)
epu_case(
    "an XML declaring Shift-JIS",
    refused(IMAGE_1, "not an XML file"),
    lambda k, t: '<?xml version="1.0" encoding="shift_jis"?>' + t if k == 1 else t,
)
epu_case(
    "Latin-1 bytes in a UTF-8 XML",
    refused(IMAGE_1, "not an XML file"),
    lambda k, t: t.encode().replace(b"Empty", b"\xe9t\xe9") if k == 1 else t,
)
epu_case(
    "a NUL byte in an XML",
    refused(IMAGE_1, "not an XML file"),
    lambda k, t: t.replace("<name>", "<na\0me>") if k == 1 else t,
)
epu_case(
    "billion laughs entities",
    refused(IMAGE_1),
    lambda k, t: (
        (
            '<?xml version="1.0"?><!DOCTYPE MicroscopeImage [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
            + "]>"
            + t.replace("<name>Empty</name>", "<name>&j;</name>")
        )
        if k == 1
        else t
    ),
)
epu_case(
    "an external entity",
    refused(IMAGE_1),
    lambda k, t: (
        '<!DOCTYPE MicroscopeImage [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + t.replace("<name>Empty</name>", "<name>&e;</name>")
        if k == 1
        else t
    ),
)
epu_case(
    "a repeated <Position> (the first is read)",
    duplicates(1),
    lambda k, t: t.replace("</Position>", "</Position><Position><X>9</X><Y>9</Y></Position>", 1),
)
epu_case(
    "another root element",
    refused(IMAGE_1, "expected EPU's <MicroscopeImage>"),
    lambda k, t: "<Other/>" if k == 1 else t,
)
epu_case(
    "no namespace (another EPU version)",
    duplicates(1),
    lambda k, t: t.replace(' xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects"', "") if k == 1 else t,
)
IMAGE_SHIFT = (
    '<ImageShift xmlns:a="http://schemas.datacontract.org/2004/07/Fei.Types"><a:_x>0</a:_x><a:_y>0</a:_y></ImageShift>'
)
CAMERA = EPU_XML[EPU_XML.index("<camera>") : EPU_XML.index("</camera>") + 9].format(nx=5760, ny=4092)
epu_case(
    "mixed EPU layouts: without ImageShift and camera in half the files",
    duplicates(1),
    lambda k, t: t.replace(IMAGE_SHIFT, "").replace(CAMERA, "") if k % 2 else t,
)
epu_case(
    "nested 100,000 elements deep",
    duplicates(1),
    lambda k, t: t.replace("<name>Empty</name>", "<n>" * 100_000 + "</n>" * 100_000) if k == 1 else t,
)


def epu_with(name: str, expect: Expect, put: Callable[[Path], None], *extra: str) -> None:
    """The valid session, then ``put(folder)`` adds something into its Data folder."""

    def build(d: Path) -> list[str]:
        args = _epu_build(d)
        put(d / "in" / "EPU" / "Images-Disc1" / "GridSquare_1000" / "Data")
        return [*args, *extra]

    CASES.append(MetadataCase("metadata", f"EPU: {name}", build, expect))


def _epu_build(d: Path) -> list[str]:
    folder = d / "in" / "EPU" / "Images-Disc1" / "GridSquare_1000" / "Data"
    folder.mkdir(parents=True)
    for k, (x, y) in enumerate(STAGE_M):
        (folder / f"{epu_name(k)}.xml").write_text(EPU_XML.format(**GOOD, x=repr(x), y=repr(y)))
    _placeholders(d, [epu_name(k) for k in range(4)])
    return _run(d, str(d / "in" / "EPU"), "--json")


epu_with("a folder named like a data XML (passed over)", duplicates(1), lambda f: (f / "x_Data_1.xml").mkdir())
epu_with("a FIFO named like a data XML", refused("x_Data_2.xml", "named pipe"), lambda f: os.mkfifo(f / "x_Data_2.xml"))
epu_with(
    "an XML describing image 1 again, elsewhere",
    refused(IMAGE_1, "describes image"),
    lambda f: (
        (f.parent.parent / "GridSquare_1001" / "Data").mkdir(parents=True)
        or (f.parent.parent / "GridSquare_1001" / "Data" / f"{IMAGE_1}.xml").write_text(
            (f / f"{IMAGE_1}.xml").read_text()
        )
    ),
)
epu_with("--beam-diameter 1e-300", duplicates(0), lambda f: None, "--beam-diameter", "1e-300")
epu_with("--beam-diameter 1e300", duplicates(3), lambda f: None, "--beam-diameter", "1e300")


# --- SerialEM ---------------------------------------------------------------------------------


def mdoc_case(name: str, text: str | bytes, expect: Expect, sections: int = 4, *extra: str) -> None:
    """One ``stack.mdoc`` holding ``text``; movies named as its ``[ZValue = N]`` sections (stack_N)."""

    def build(d: Path) -> list[str]:
        (d / "in" / "stack.mdoc").write_bytes(
            text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
        )
        _placeholders(d, [f"stack_{k}" for k in range(sections)])
        return _run(d, str(d / "in" / "stack.mdoc"), "--json", *extra)

    CASES.append(MetadataCase("metadata", f".mdoc: {name}", build, expect))


def sections(*extra_of_1: str, header: str = "PixelSpacing = 1.0\n") -> str:
    """Four sections: 1 is 0.05 µm from 0, 2 and 3 far; ``extra_of_1`` lines added to section 1."""
    stage = ["10 20", "10.05 20", "30 20", "50 60"]
    text = f"T = SerialEM\n{header}\n"
    for k, xy in enumerate(stage):
        lines = [f"StagePosition = {xy}", "ImageShift = 0 0", "UncroppedSize = -5760 -4092"]
        lines.append(f"DateTime = 08-Oct-21  07:39:0{k}")
        if k == 1:  # a line of a key the section has takes that line's place (a key given twice is refused)
            keys = [line.split("=")[0].strip() for line in extra_of_1]
            lines = [line for line in lines if line.split("=")[0].strip() not in keys] + list(extra_of_1)
        text += f"[ZValue = {k}]\n" + "".join(line + "\n" for line in lines) + "\n"
    return text


mdoc_case("a valid stack (control)", sections(), duplicates(1))
for value in ("nan nan", "inf 0", "1e400 0", "-inf -inf", "NaN 5"):
    mdoc_case(
        f"StagePosition = {value}",
        sections(f"StagePosition = {value}"),
        refused("[ZValue = 1]", "StagePosition", value.split()[0]),
    )
for value in ("nan nan", "inf 0"):
    mdoc_case(f"ImageShift = {value}", sections(f"ImageShift = {value}"), refused("[ZValue = 1]", "ImageShift", "'"))
for value in ("nan 512", "inf 512", "512.5 512", "2e6 512"):
    mdoc_case(
        f"UncroppedSize = {value}", sections(f"UncroppedSize = {value}"), refused("[ZValue = 1]", "UncroppedSize")
    )
for value in ("nan", "-1", "inf"):
    mdoc_case(
        f"PixelSpacing = {value}", sections(f"PixelSpacing = {value}"), refused("[ZValue = 1]", "PixelSpacing", value)
    )
mdoc_case("PixelSpacing = 0 (not recorded)", sections("PixelSpacing = 0"), duplicates(1))
mdoc_case(
    "header PixelSpacing = inf", sections(header="PixelSpacing = inf\n"), refused("stack.mdoc", "PixelSpacing", "inf")
)
mdoc_case(
    "DateTime = 31-Feb-21 07:39:08",
    sections("DateTime = 31-Feb-21 07:39:08"),
    refused("[ZValue = 1]", "DateTime", "31-Feb-21"),
)
mdoc_case("DateTime empty (no time)", sections("DateTime ="), duplicates(1))
mdoc_case(
    "a section without StagePosition",
    sections().replace("StagePosition = 10.05 20\n", ""),
    refused("[ZValue = 1]", "no StagePosition"),
)
mdoc_case(
    "StagePosition with one number",
    sections("StagePosition = 10.05"),
    refused("[ZValue = 1]", "StagePosition", "two numbers"),
)
mdoc_case(
    "a key given twice",
    sections().replace("StagePosition = 10.05 20\n", "StagePosition = 10.05 20\nStagePosition = 90 90\n"),
    refused("stack.mdoc", "line 12: StagePosition given twice in one section"),
)
mdoc_case(
    "two sections [ZValue = 1]",
    sections().replace("[ZValue = 2]", "[ZValue = 1]"),
    refused("stack.mdoc", "describes image stack_1"),
)
mdoc_case(
    "cut in the middle of a line",
    sections()[: sections().index("StagePosition = 50") + 18],
    refused("[ZValue = 3]", "StagePosition"),
)
mdoc_case("in UTF-16", sections().encode("utf-16"), refused("stack.mdoc", "binary content"))
mdoc_case("Latin-1 bytes in a value", sections().encode() + b"NavigatorLabel = \xe9t\xe9\n", duplicates(1))
mdoc_case("CRLF line ends", sections().replace("\n", "\r\n"), duplicates(1))
mdoc_case("CR-only line ends", sections().replace("\n", "\r"), duplicates(1))
mdoc_case("a byte-order mark", "\ufeff" + sections(), duplicates(1))
mdoc_case("[FrameSet] and [ZValue] mixed", sections().replace("[ZValue = 2]", "[FrameSet = 2]"), duplicates(1))
mdoc_case("a line of 2 MB", sections("NavigatorLabel = " + "x" * 2_000_000), duplicates(1))
mdoc_case(
    "only a header", "T = SerialEM\nPixelSpacing = 1\n", refused("stack.mdoc", "no [FrameSet = N] or [ZValue = N]")
)
mdoc_case(
    "StagePosition 1e308 (beyond any stage)", sections("StagePosition = 1e308 0"), refused("[ZValue = 1]", "1e308")
)


def crowded(n: int, step: float) -> str:
    lines = ["T = SerialEM", "PixelSpacing = 1.0", ""]
    for k in range(n):
        lines += [f"[ZValue = {k}]", f"StagePosition = {k * step:.4f} 0", ""]
    return "\n".join(lines) + "\n"


mdoc_case(
    "100,000 sections 10 nm apart on one line",
    crowded(100_000, 0.01),
    duplicates(99_999, "100,000 micrographs have more than 8 others", '"crowded_micrographs": 100000'),
    100_000,
)
mdoc_case("100,000 sections 2 µm apart", crowded(100_000, 2.0), duplicates(0), 100_000)
mdoc_case("5,000 sections at one spot", crowded(5_000, 0.0), duplicates(4_999, '"crowded_micrographs": 5000'), 5_000)
mdoc_case(
    "100,000 sections, the last without StagePosition",
    crowded(100_000, 2.0).rstrip() + "\n[ZValue = 100000]\n",
    refused("[ZValue = 100000]", "no StagePosition"),
    100_000,
)


def _folder_mdoc(d: Path) -> list[str]:
    (d / "in" / "Meta").mkdir()
    (d / "in" / "Meta" / "stack.mdoc").write_text(sections())
    (d / "in" / "Meta" / "other.mdoc").mkdir()
    _placeholders(d, [f"stack_{k}" for k in range(4)])
    return _run(d, str(d / "in" / "Meta"), "--json")


CASES.append(MetadataCase("metadata", ".mdoc: a folder named like an .mdoc (passed over)", _folder_mdoc, duplicates(1)))
