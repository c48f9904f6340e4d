"""Work on threads (cryodedup.threads) against the same work done in a loop."""

import threading

import pytest

from cryodedup.threads import Background, in_two_lanes, mapped


def test_mapped_gives_each_items_result_in_order():
    names: set[str] = set()

    def square(x: int) -> int:
        names.add(threading.current_thread().name)
        return x * x

    for n in [0, 1, 2, 7, 50]:
        assert mapped(square, list(range(n)), threads=2, name="t") == [x * x for x in range(n)]
    assert names and all(name.startswith("t_") for name in names)


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


def test_two_lanes_give_each_items_result_in_order_and_run_the_marked_ones_in_turn_here():
    ran: list[tuple[str, int]] = []

    def square(x: int) -> int:
        ran.append((threading.current_thread().name, x))
        return x * x

    for n in [0, 1, 2, 7]:
        here = [x % 3 == 0 for x in range(n)]
        ran.clear()
        assert in_two_lanes(square, list(range(n)), here, name="lane") == [x * x for x in range(n)]
        mine = [x for name, x in ran if name == threading.current_thread().name]
        assert mine[: sum(here)] == [x for x in range(n) if here[x]]  # in order, on the calling thread, first
        assert not [x for name, x in ran if name.startswith("lane") and here[x]]  # the marked ones only here
        assert sorted(x for _, x in ran) == list(range(n))  # each once


def test_with_nothing_marked_both_lanes_share_the_work():
    # (--plot-mics 0: no example micrograph; the pictures were drawn on one thread while this one waited)
    names: set[str] = set()
    gate = threading.Barrier(2, timeout=10)

    def meet(x: int) -> int:
        names.add(threading.current_thread().name)
        if x < 2:
            gate.wait()  # the first two items only return once both lanes hold one
        return x

    assert in_two_lanes(meet, [0, 1, 2, 3], [False] * 4, name="lane") == [0, 1, 2, 3]
    assert len(names) == 2 and threading.current_thread().name in names
    assert any(name.startswith("lane") for name in names)


def test_an_error_of_either_lane_is_raised_once_both_have_ended():
    done: list[int] = []

    def fails(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        done.append(x)
        return x

    for here in ([True, False, True, False], [False, True, False, True], [False] * 4):
        done.clear()
        with pytest.raises(ValueError, match="two"):
            in_two_lanes(fails, [0, 1, 2, 3], here)
        assert 1 in done or 3 in done  # the other lane ran to its end
