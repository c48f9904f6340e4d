"""Work on threads (cryodedup.threads) against the same work done in a loop."""

import threading

import pytest

from cryodedup.threads import Background, mapped


def test_mapped_gives_each_items_result_in_order():
    names: set[str] = set()

    def square(x: int) -> int:
        names.add(threading.current_thread().name)
        return x * x

    for n in [0, 1, 2, 7, 50]:
        assert mapped(square, list(range(n)), threads=2, name="t") == [x * x for x in range(n)]
    assert names and names <= {"t"}


def test_an_error_of_the_work_is_raised_where_its_result_is_asked_for():
    def fails(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        mapped(fails, list(range(6)), threads=2)
    late = Background(fails, 3)
    with pytest.raises(ValueError, match="three"):
        late.result()
    assert Background(fails, 4).result() == 4
