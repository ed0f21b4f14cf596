"""bench.kernels keeps working: its rows have the documented shape. Timings
are not checked here (the machines are shared and noisy)."""

import json
import subprocess
import sys

KERNELS = {"g711", "resample", "jitter", "playout", "vad", "energy", "pipeline"}
FIELDS = {
    "kernel",
    "case",
    "impl",
    "us_per_frame_median",
    "x_realtime",
    "added_delay_ms",
    "quality_db",
}
PEERS = {
    "soxr-stream-hq",
    "soxr-stream-qq",
    "samplerate-sinc-best",
    "pyav-swr",
    "scipy-resample-poly",
    "audioop-ratecv",
    "audioop",
    "webrtcvad",
    "aiortc-jitterbuffer",
}


def test_bench_json_lists_every_kernel_beside_its_peers() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.kernels", "--json", "--smoke"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    rows = json.loads(out.stdout)
    assert all(set(r) == FIELDS for r in rows)
    assert {r["kernel"] for r in rows if r["impl"] == "mediaserver"} == KERNELS
    assert {r["impl"] for r in rows} >= PEERS
    ours = [r for r in rows if r["kernel"] == "resample" and r["impl"] == "mediaserver"]
    assert ours and ours[0]["case"] == "22050->8000"
    assert 1.5 <= ours[0]["added_delay_ms"] <= 2.0
    assert ours[0]["quality_db"] >= 80
    assert all(r["us_per_frame_median"] > 0 for r in rows)


def test_capacity_finds_the_largest_n_within_p95_and_the_compute_bound() -> None:
    from bench.capacity_inference import report

    rows = [
        {"n": 1, "backend": "local", "p95_ms": 900, "cpu_per_call_second": 0.4},
        {"n": 1, "backend": "service", "p95_ms": 800, "cpu_per_call_second": 0.6},
        {"n": 2, "backend": "local", "p95_ms": 1600, "cpu_per_call_second": 0.4},
        {"n": 2, "backend": "service", "p95_ms": 1400, "cpu_per_call_second": 0.5},
        {"n": 3, "backend": "service", "p95_ms": 2100, "cpu_per_call_second": 0.5},
        {"n": 4, "backend": "local", "p95_ms": 900, "cpu_per_call_second": 0.4},
        {"n": 4, "backend": "service", "p95_ms": 900, "fallbacks": 1, "cpu_per_call_second": 0.4},
    ]
    result = report(rows)
    # local: N=4 passes, but N=2 did not; service: N=4 fast, but a turn was refused
    assert result["max_n"] == {"local": 1, "service": 2}
    assert result["compute_bound_n"] == round(result["cores"] / 0.5, 2)  # N=1's mean cost


def test_capacity_calls_arrive_at_random_over_the_window_or_all_at_once() -> None:
    from bench.capacity_inference import arrivals

    spread = arrivals(12, 10.0)
    assert spread[0] == 0.0 and spread == sorted(spread) and all(0 <= t < 10 for t in spread)
    assert len(set(spread)) == 12 and spread == arrivals(12, 10.0)  # the same every run
    assert arrivals(5, 0.0) == [0.0] * 5


def test_bench_amd_json_has_the_documented_figures() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.amd", "--json", "--smoke"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures = json.loads(out.stdout)
    assert {"accuracy", "median_decision_s", "humans_given_voicemail", "rows"} <= set(figures)
    assert figures["answers"] == len(figures["rows"]) >= 7
    kinds = {row["kind"] for row in figures["rows"]}
    assert {"person", "greeting", "greeting+beep", "carrier"} <= kinds
