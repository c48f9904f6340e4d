"""STAR files, RELION's format: the syntax and the tables RELION writes in it, one module each.

``file``: the syntax alone (blocks, loops, small tables as strings, the core's scans and
byte-for-byte row copies of big loops); it knows no RELION label. ``particles``: RELION's
particle STAR (3.0 to 5: columns, optics groups, pixel sizes, origins, the kept/rejected
copies). ``micrographs``: RELION's micrographs STAR (names and pixel sizes).
``tomography``: RELION's subtomogram frame and Warp's files. Readers of other RELION STAR
kinds (a picking job's coordinates) stand with their peers in ``formats.picks``, over ``file``.
"""

__all__: list[str] = []
