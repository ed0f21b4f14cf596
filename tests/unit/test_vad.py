import numpy as np
import pytest

from mediaserver.config import VadConfig
from mediaserver.events import SpeechEnded, SpeechStarted
from mediaserver.frames import AudioFrame
from mediaserver.media.vad import Endpointer, NoiseGate, VoiceActivity, WebRtcClassifier
from native import energy

RATE = 16000
FRAME = 320


def run(endpointer: Endpointer, verdicts: str) -> list[object]:
    """'S' speech frame, '.' silence: feed 20 ms verdicts, collect events."""
    events = []
    for i, v in enumerate(verdicts):
        event = endpointer.update(v == "S", i * FRAME, (i + 1) * FRAME)
        if event is not None:
            events.append(event)
    return events


def ms(n: int) -> int:
    return n * RATE // 1000


def test_an_utterance_starts_after_start_ms_and_ends_after_end_ms_of_silence() -> None:
    cfg = VadConfig(start_ms=100, end_ms=300, hangover_ms=100, preroll_ms=100)
    events = run(Endpointer(cfg, RATE), "." * 20 + "S" * 30 + "." * 20)
    assert events == [
        SpeechStarted(position=ms(400 - 100)),
        SpeechEnded(start=ms(300), end=ms(1000 + 100)),
    ]


def test_one_dropout_does_not_delay_the_start() -> None:
    cfg = VadConfig(start_ms=100, end_ms=300, preroll_ms=0)
    events = run(Endpointer(cfg, RATE), "." * 5 + "SS.SSS" + "S" * 20)
    assert events[0] == SpeechStarted(position=ms(100))


def test_a_click_or_a_cough_is_too_short() -> None:
    cfg = VadConfig(start_ms=60, end_ms=200, min_utterance_ms=250)
    events = run(Endpointer(cfg, RATE), "." * 10 + "S" * 6 + "." * 20)
    assert isinstance(events[-1], SpeechEnded) and events[-1].too_short
    events = run(Endpointer(cfg, RATE), "." * 10 + "S" * 20 + "." * 20)
    assert isinstance(events[-1], SpeechEnded) and not events[-1].too_short


def test_pauses_shorter_than_end_ms_stay_in_one_utterance() -> None:
    cfg = VadConfig(start_ms=100, end_ms=400)
    events = run(Endpointer(cfg, RATE), "S" * 20 + "." * 15 + "S" * 20 + "." * 25)
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]


def test_a_monologue_is_cut_at_max_utterance_and_goes_on() -> None:
    cfg = VadConfig(start_ms=100, end_ms=300, max_utterance_ms=1000, preroll_ms=0)
    events = run(Endpointer(cfg, RATE), "S" * 120)
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert ends and all(e.forced and e.end - e.start <= ms(1000) for e in ends)
    assert isinstance(events[-1], SpeechStarted)


def test_noise_gate_learns_steady_hiss_and_opens_for_louder_speech() -> None:
    gate = NoiseGate(margin_db=9.0, floor_db=-50.0)
    opened = [gate.is_open(-35.0) for _ in range(300)]  # 6 s of loud hiss
    assert not any(opened[-50:])
    assert gate.is_open(-20.0)


def test_noise_gate_keeps_quiet_frames_closed() -> None:
    gate = NoiseGate(margin_db=9.0, floor_db=-50.0)
    gate.is_open(-90.0)
    assert not gate.is_open(-55.0)
    assert gate.is_open(-30.0)


def test_energy_level_of_known_signals(kernels: str) -> None:
    full_square = np.tile(np.array([32767, -32768], np.int16), 160)
    assert energy.level_db(full_square) == pytest.approx(0.0, abs=0.01)
    sine = (0.1 * 32767 * np.sin(np.arange(320) * 2 * np.pi / 32)).astype(np.int16)
    assert energy.level_db(sine) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.05)
    assert energy.level_db(np.zeros(320, np.int16)) == pytest.approx(-120.0)


@pytest.mark.parametrize(
    "bad", [np.zeros(320, np.float32), np.zeros((2, 160), np.int16), [0] * 320]
)
def test_energy_refuses_bad_frames(kernels: str, bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="pcm"):
        energy.level_db(bad)  # type: ignore[arg-type]


def test_classifier_refuses_frames_of_the_wrong_size_or_rate() -> None:
    clf = WebRtcClassifier(16000, 2)
    with pytest.raises(ValueError, match="frame"):
        clf.is_speech(AudioFrame(np.zeros(160, np.int16), 16000))
    with pytest.raises(ValueError, match="frame"):
        clf.is_speech(AudioFrame(np.zeros(160, np.int16), 8000))
    with pytest.raises(ValueError, match="rate"):
        WebRtcClassifier(22050, 2)


class ScriptedClassifier:
    """A fake classifier: says speech for frames whose position is listed."""

    def __init__(self, speech_frames: set[int]) -> None:
        self.speech_frames = speech_frames

    def is_speech(self, frame: AudioFrame) -> bool:
        return frame.position // FRAME in self.speech_frames


def test_the_gate_vetoes_the_classifier_on_quiet_frames() -> None:
    vad = VoiceActivity(VadConfig(start_ms=60), RATE, ScriptedClassifier(set(range(100))))
    quiet = AudioFrame(np.full(FRAME, 3, np.int16), RATE)  # about -80 dBFS
    assert not vad.is_speech(quiet)
    loud = AudioFrame((np.sin(np.arange(FRAME)) * 8000).astype(np.int16), RATE)
    assert vad.is_speech(loud)
