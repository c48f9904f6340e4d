"""Work on threads (cryodedup.threads) against the same work done in a loop."""

import threading

import pytest

from cryodedup.threads import Background, Workers, mapped


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


def test_workers_give_each_items_result_in_the_order_put_while_more_are_put():
    # Oracle: the same work in a loop. Items are put while earlier ones are being worked on.
    started = threading.Event()

    def slow_square(x: int) -> int:
        started.set()
        return x * x

    with Workers(slow_square, threads=2, name="w") as workers:
        workers.put(0)
        started.wait(5)
        for x in range(1, 40):
            workers.put(x)
        assert workers.results() == [x * x for x in range(40)]


def test_workers_raise_the_works_error_and_end_with_the_block_that_raised():
    def fails(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    workers = Workers(fails, threads=2)
    for x in range(6):
        workers.put(x)
    with pytest.raises(ValueError, match="three"):
        workers.results()
    with pytest.raises(KeyError), Workers(fails, threads=2, name="ends") as ending:
        ending.put(1)
        raise KeyError("the block's own error")
    assert not [t for t in threading.enumerate() if t.name == "ends"]
