import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from native import jitter
from native.jitter import Playout

FRAME = 0.02


def make(**kw: int) -> jitter.JitterBuffer:
    return jitter.jitter_buffer(clock_rate=8000, **{"min_delay_ms": 40, "max_delay_ms": 200, **kw})


def drive(
    jb: jitter.JitterBuffer, packets: list[tuple[float, int, int, bytes]], ticks: int, ssrc: int = 1
) -> list[tuple[bytes | None, int]]:
    """Deliver (arrival, seq, ts, payload) packets and tick every 20 ms of virtual time."""
    packets = sorted(packets, key=lambda p: p[0])
    out, k = [], 0
    for tick in range(ticks):
        now = tick * FRAME
        while k < len(packets) and packets[k][0] <= now:
            arrival, seq, ts, payload = packets[k]
            jb.put(seq, ts, payload, arrival, ssrc)
            k += 1
        out.append(jb.pop())
    return out


def stream(
    n: int, seq0: int = 0, ts0: int = 0, t0: float = 0.0
) -> list[tuple[float, int, int, bytes]]:
    return [
        (t0 + i * FRAME, (seq0 + i) & 0xFFFF, (ts0 + 160 * i) & 0xFFFFFFFF, i.to_bytes(4, "big"))
        for i in range(n)
    ]


def played(out: list[tuple[bytes | None, int]]) -> list[int]:
    return [int.from_bytes(p, "big") for p, status in out if status == Playout.PACKET and p]


def test_in_order_stream_plays_every_packet_once_after_the_target_delay(kernels: str) -> None:
    jb = make()
    out = drive(jb, stream(100), 110)
    assert played(out) == list(range(100))
    first = next(i for i, (_, s) in enumerate(out) if s == Playout.PACKET)
    assert first == 1  # two frames buffered (40 ms), the second arrives at tick 1
    assert all(s == Playout.SILENT for _, s in out[:first])
    stats = jitter.stats(jb)
    assert (stats.received, stats.lost, stats.late, stats.duplicate) == (100, 0, 0, 0)


def test_sequence_and_timestamp_wrap_are_seamless(kernels: str) -> None:
    jb = make()
    out = drive(jb, stream(200, seq0=65500, ts0=2**32 - 8000), 210)
    assert played(out) == list(range(200))
    stats = jitter.stats(jb)
    assert (stats.lost, stats.resets, stats.late) == (0, 0, 0)
    assert stats.jitter_ms < 1


def test_reordered_packets_within_the_delay_are_played_in_order(kernels: str) -> None:
    packets = stream(60)
    for i in range(10, 50, 7):  # swap arrival times of neighbours
        a, b = packets[i], packets[i + 1]
        packets[i], packets[i + 1] = (b[0], *a[1:]), (a[0], *b[1:])
    jb = make()
    assert played(drive(jb, packets, 70)) == list(range(60))
    assert jb.lost == 0


def test_duplicates_are_counted_and_played_once(kernels: str) -> None:
    packets = stream(50)
    packets += [(p[0] + 0.001, *p[1:]) for p in packets[5:15]]
    packets += [(p[0] + 0.2, *p[1:]) for p in packets[20:22]]  # after they were played
    jb = make()
    assert played(drive(jb, packets, 60)) == list(range(50))
    assert jb.duplicate == 12 and jb.late == 0


def test_a_missing_packet_is_concealed_and_counted_lost(kernels: str) -> None:
    packets = [p for p in stream(50) if p[1] not in (20, 21)]
    jb = make()
    out = drive(jb, packets, 60)
    assert played(out) == [i for i in range(50) if i not in (20, 21)]
    assert jb.lost == 2 and jb.concealed >= 2
    statuses = [s for _, s in out]
    i = statuses.index(Playout.CONCEALED)
    assert statuses[i : i + 2] == [Playout.CONCEALED, Playout.CONCEALED]


def test_a_packet_arriving_after_its_turn_is_late_and_dropped(kernels: str) -> None:
    packets = stream(50)
    arrival, seq, ts, payload = packets[25]
    packets[25] = (arrival + 0.3, seq, ts, payload)
    jb = make()
    out = drive(jb, packets, 60)
    assert 25 not in played(out)
    assert jb.late == 1 and jb.lost == 1


def test_ssrc_change_resets_the_stream(kernels: str) -> None:
    jb = make()
    drive(jb, stream(20), 25, ssrc=1)
    out = drive(jb, stream(20, seq0=40000, ts0=123456, t0=0.0), 25, ssrc=2)
    assert played(out) == list(range(20))
    assert jb.resets == 1 and jb.late == 0


def test_a_jump_in_numbering_is_a_new_stream_not_a_flood_of_losses(kernels: str) -> None:
    jb = make()
    drive(jb, stream(20), 25)
    out = drive(jb, stream(20, seq0=30000, ts0=9_000_000), 25)
    assert played(out) == list(range(20))
    assert jb.resets == 1 and jb.lost == 0


def test_the_sender_pausing_gives_silence_not_endless_concealment(kernels: str) -> None:
    jb = make()
    packets = stream(20) + [
        (0.4 + 2.0 + i * FRAME, 20 + i, 160 * (120 + i), b"x") for i in range(20)
    ]
    out = drive(jb, packets, 160)
    statuses = [s for _, s in out]
    assert statuses.count(Playout.CONCEALED) == 8  # 4 ticks into each of the two pauses
    assert statuses[60:100] == [Playout.SILENT] * 40
    assert statuses.count(Playout.PACKET) == 40


def test_target_delay_grows_with_jitter_and_stays_within_bounds(kernels: str) -> None:
    rng = np.random.default_rng(3)
    calm, rough = make(), make()
    drive(calm, stream(300), 310)
    packets = [(t + abs(rng.normal(0, 0.03)), s, ts, p) for t, s, ts, p in stream(300)]
    out = drive(rough, packets, 320)
    calm_stats, rough_stats = jitter.stats(calm), jitter.stats(rough)
    assert calm_stats.target_ms == 40
    assert 80 <= rough_stats.target_ms <= 200
    assert rough_stats.jitter_ms > 10
    assert rough.late < 15  # the adapted buffer absorbs most of the jitter
    assert len(out) == 320


def test_a_burst_beyond_capacity_keeps_the_newest_and_the_bound(kernels: str) -> None:
    jb = jitter.jitter_buffer(8000, min_delay_ms=40, max_delay_ms=100, capacity_ms=200)
    for i in range(50):  # one second of audio arriving at once
        jb.put(i, 160 * i, bytes([i]), 0.0, 7)
    assert jb.dropped + jb.lost == 40
    out = [jb.pop() for _ in range(12)]
    assert [p[0] for p, _ in out if p][:3] == [40, 41, 42]


def test_delay_shrinks_back_after_a_burst(kernels: str) -> None:
    jb = make()
    packets = stream(20) + [(0.4 + 0.5, 20 + i, 160 * (20 + i), b"y") for i in range(8)]
    packets += [(0.9 + i * FRAME, 28 + i, 160 * (28 + i), b"z") for i in range(150)]
    drive(jb, packets, 200)
    assert jitter.stats(jb).delay_ms <= jitter.stats(jb).target_ms + 40
    assert jb.dropped > 0


@given(
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),
            st.integers(0, 0xFFFFFFFF),
            st.floats(0, 1e6, allow_nan=False),
            st.integers(0, 3),
            st.booleans(),
        ),
        max_size=300,
    )
)
def test_random_packets_never_raise_and_never_exceed_the_bound(
    kernels: str, packets: list[tuple[int, int, float, int, bool]]
) -> None:
    jb = jitter.jitter_buffer(8000, min_delay_ms=20, max_delay_ms=100, capacity_ms=200)
    for seq, ts, arrival, ssrc, tick in packets:
        jb.put(seq, ts, b"p", arrival, ssrc)
        if tick:
            payload, status = jb.pop()
            assert status in (Playout.PACKET, Playout.CONCEALED, Playout.SILENT)
            assert (payload is None) == (status != Playout.PACKET)
        assert 0 <= jb.delay_frames() <= jb.capacity
        assert jb.target_frames() <= 5
    assert jb.received == len(packets)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0, b"", 0.0), "seq: expected an int in 0..65535"),
        ((65536, 0, b"", 0.0), "seq: expected an int in 0..65535"),
        (("1", 0, b"", 0.0), "seq: expected an int"),
        ((1, -5, b"", 0.0), "timestamp: expected an int in 0..2"),
        ((1, 2**32, b"", 0.0), "timestamp: expected an int"),
        ((1, 0, b"", float("nan")), "arrival: expected a finite number"),
        ((1, 0, b"", float("inf")), "arrival: expected a finite number"),
        ((1, 0, b"", "now"), "arrival: expected a finite number"),
        ((1, 0, b"", 0.0, -1), "ssrc: expected an int"),
    ],
)
def test_bad_packets_are_refused_without_harm(kernels: str, args: tuple, message: str) -> None:
    jb = make()
    drive(jb, stream(10), 5)
    before = jitter.stats(jb)
    with pytest.raises(ValueError, match=message):
        jb.put(*args)
    assert jitter.stats(jb) == before


@pytest.mark.parametrize(
    "kw",
    [
        {"clock_rate": 0},
        {"clock_rate": 8000, "frame_ms": 0},
        {"clock_rate": 22050, "frame_ms": 30},
        {"min_delay_ms": 300, "max_delay_ms": 100},
        {"max_delay_ms": 2000, "capacity_ms": 1000},
    ],
)
def test_bad_settings_are_refused(kw: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"clock_rate|frame_ms|delay_ms|capacity_ms"):
        jitter.jitter_buffer(**kw)


def test_compiled_and_reference_make_the_same_decisions() -> None:
    from native import _jitter, _jitter_ref

    rng = np.random.default_rng(11)
    packets = [
        (t + abs(rng.normal(0, 0.02)), s, ts, p)
        for t, s, ts, p in stream(800, seq0=65000, ts0=2**32 - 50_000)
        if rng.random() > 0.05
    ]
    packets += [(t + 0.003, s, ts, p) for t, s, ts, p in packets[::37]]
    runs = []
    for module in (_jitter, _jitter_ref):
        jb = module.JitterBuffer(8000, 160, 2, 10, 50)
        out = drive(jb, packets, 850)
        runs.append((out, jitter.stats(jb)))
    assert runs[0] == runs[1]
