// A recording as a waveform on a <canvas>: its peaks computed once from the
// decoded WAV, one lane per channel (a call's recording is stereo: caller
// left, agent right), each speaker's turns shaded in its lane, the part heard
// darker, and a playhead that follows the <audio> player. Click or arrow
// keys to seek.

const BUCKETS = 4000; // peaks kept per channel, whatever the canvas's width
const COLOURS = { shade: ["#e4e8ee", "#dbe6fb"], played: ["#3a4350", "#1f5fd1"], ahead: ["#a9b1bc", "#9dbcf5"] };

// {peaks: [Float32Array per channel (at most 2)], duration}: the loudest
// sample of each bucket, as a share of the loudest of all (a quiet line still
// shows). Decoded at 8 kHz: plenty to draw, half the memory.
export async function decodePeaks(blob) {
  const audio = await new OfflineAudioContext(1, 1, 8000).decodeAudioData(await blob.arrayBuffer());
  const peaks = [];
  for (let channel = 0; channel < Math.min(audio.numberOfChannels, 2); channel++) {
    const samples = audio.getChannelData(channel);
    const lane = new Float32Array(BUCKETS);
    const size = samples.length / BUCKETS;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      let peak = 0;
      const end = Math.min(samples.length, Math.floor((bucket + 1) * size));
      for (let i = Math.floor(bucket * size); i < end; i++) peak = Math.max(peak, Math.abs(samples[i]));
      lane[bucket] = peak;
    }
    peaks.push(lane);
  }
  const loudest = Math.max(...peaks.map((lane) => lane.reduce((a, b) => Math.max(a, b), 0))) || 1;
  for (const lane of peaks) for (let b = 0; b < BUCKETS; b++) lane[b] /= loudest;
  return { peaks, duration: audio.duration };
}

export class Waveform {
  constructor(canvas, player) {
    this.canvas = canvas;
    this.player = player;
    this.wave = null;
    this.turns = [];
    this.frame = 0;
    canvas.addEventListener("click", (event) => {
      const box = canvas.getBoundingClientRect();
      this.seek(((event.clientX - box.left) / box.width) * this.duration());
    });
    canvas.addEventListener("keydown", (event) => {
      const step = { ArrowLeft: -5, ArrowRight: 5 }[event.key];
      if (step) { event.preventDefault(); this.seek(player.currentTime + step); }
    });
    for (const name of ["timeupdate", "seeked", "pause"]) player.addEventListener(name, () => this.draw());
    player.addEventListener("play", () => this.follow());
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  show(wave, turns) {
    this.wave = wave;
    this.turns = turns;
    const lanes = wave.peaks.length === 2 ? "caller (top) and agent (bottom)" : "one channel";
    this.canvas.setAttribute("aria-label", `Recording, ${lanes}: click or use the arrow keys to seek`);
    this.canvas.hidden = false;
    this.draw();
  }

  clear() {
    this.wave = null;
    this.canvas.hidden = true;
  }

  duration() {
    return Number.isFinite(this.player.duration) ? this.player.duration : this.wave?.duration ?? 0;
  }

  seek(seconds) {
    if (!this.wave) return;
    this.player.currentTime = Math.max(0, Math.min(seconds, this.duration()));
  }

  // Redraw every animation frame while playing (timeupdate comes only ~4 times a second).
  follow() {
    cancelAnimationFrame(this.frame);
    const step = () => {
      this.draw();
      if (!this.player.paused) this.frame = requestAnimationFrame(step);
    };
    step();
  }

  draw() {
    const { canvas, wave } = this;
    if (!wave || canvas.hidden) return;
    const scale = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * scale);
    const height = Math.round(canvas.clientHeight * scale);
    if (!width || !height) return;
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, width, height);
    const lanes = wave.peaks.length;
    const laneHeight = height / lanes;
    const duration = this.duration() || 1;
    const x = (seconds) => (seconds / duration) * width;
    for (const turn of this.turns) {
      if (turn.start_s == null) continue;
      const lane = lanes === 2 && turn.speaker === "agent" ? 1 : 0;
      const end = turn.end_s ?? turn.start_s + 1;
      context.fillStyle = COLOURS.shade[lanes === 2 ? lane : turn.speaker === "agent" ? 1 : 0];
      context.fillRect(x(turn.start_s), lane * laneHeight, Math.max(1, x(end) - x(turn.start_s)), laneHeight);
    }
    const played = x(this.player.currentTime);
    wave.peaks.forEach((peaks, lane) => {
      const middle = (lane + 0.5) * laneHeight;
      for (let column = 0; column < width; column++) {
        let peak = 0;
        const last = Math.max(Math.floor(((column + 1) * BUCKETS) / width), Math.floor((column * BUCKETS) / width) + 1);
        for (let b = Math.floor((column * BUCKETS) / width); b < last && b < BUCKETS; b++) peak = Math.max(peak, peaks[b]);
        const half = Math.max(0.5 * scale, peak * laneHeight * 0.45);
        context.fillStyle = (column < played ? COLOURS.played : COLOURS.ahead)[lanes === 2 ? lane : 0];
        context.fillRect(column, middle - half, 1, half * 2);
      }
    });
    context.fillStyle = "#5a6573";
    context.font = `${11 * scale}px system-ui, sans-serif`;
    if (lanes === 2) {
      context.fillText("caller", 4 * scale, 13 * scale);
      context.fillText("agent", 4 * scale, laneHeight + 13 * scale);
    }
    context.fillStyle = "#c62828";
    context.fillRect(Math.min(played, width - scale), 0, 2 * scale, height);
  }
}
