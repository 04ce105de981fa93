"""``stenod bench clients``: how long a final takes to reach the person, through each client.

On a virtual desktop (Xvfb, a private PulseAudio whose null-sink monitor is the microphone), it runs the
daemon, a Tk text window with ``stenod type`` typing into it, ``stenod tail --finals``, and the captions
page in headless Chromium, then plays a dictation session into the sink. For every final it compares,
on one clock, the moment a plain WebSocket subscriber received it (the peer) with the moment the text
was in the window, on the page, and printed by tail.

Then it types the same finals straight into the window with the ``xdotool`` and ``paste`` backends,
alternating, and reports the time from the call to the text being in the window, per final and per
character.

Needs Xvfb, xdotool, xclip, pulseaudio, paplay and chromium (``.ci/run`` installs them) and Playwright
(the dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from stenod.errors import StenodError
from stenod.net.auth import session_token
from stenod_bench.processes import stop

SESSION = "session_01_mixed_read"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
# A Tk window whose text widget keeps the focus: its text is mirrored into the file named by its argument,
# and each change of length is logged with the time in that name + ".log". The tests use it too.
WINDOW = r'''
import os, sys, time, tkinter as tk
out = sys.argv[1]
log = open(out + ".log", "a", buffering=1)
root = tk.Tk()
root.title("stenod test window")
text = tk.Text(root, width=100, height=20)
text.pack()
last = [None]
def poll():
    value = text.get("1.0", "end-1c")
    if value != last[0]:
        last[0] = value
        log.write(f"{time.time()} {len(value)}\n")
        with open(out + ".tmp", "w", encoding="utf-8") as f:
            f.write(value)
        os.replace(out + ".tmp", out)
    root.after(5, poll)
def focus():
    root.focus_force()
    text.focus_set()
    root.after(500, focus)
root.after(100, focus)
poll()
root.mainloop()
'''
OBSERVER = """() => {
  window.__finals = [];
  new MutationObserver(records => {
    for (const r of records) for (const n of r.addedNodes)
      if (n.classList && n.classList.contains("final")) window.__finals.push([Date.now() / 1000, n.textContent]);
  }).observe(document.getElementById("captions"), {childList: true});
}"""


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """An Xvfb server on a display it picks itself; the server and its ``DISPLAY``."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        raise StenodError("Xvfb did not start")
    return server, f":{number}"


class Window:
    """The Tk window; its log says when its text reached each length."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.log = folder / "window.txt.log"
        self.log.touch()
        self.proc = subprocess.Popen([sys.executable, "-c", WINDOW, str(folder / "window.txt")], env=env)
        while not self.log.read_text():
            time.sleep(0.05)
        time.sleep(0.6)

    def changes(self) -> list[tuple[float, int]]:
        return [(float(t), int(n)) for t, n in (line.split() for line in self.log.read_text().splitlines())]

    def reached(self, length: int, after: float = 0.0, timeout: float = 30.0) -> float | None:
        """When the text first had at least ``length`` characters (after ``after``), waiting for it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for at, n in self.changes():
                if at >= after and n >= length:
                    return at
            time.sleep(0.01)
        return None


def _read_lines(stream: TextIO, out: list[tuple[float, str]]) -> None:
    for line in stream:
        out.append((time.time(), line.rstrip("\n")))


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"p50 {statistics.median(ordered) * 1000:6.0f} ms   p90 {p90 * 1000:6.0f} ms   (n={len(ordered)})"


def _session(env: dict[str, str], folder: Path, wav: Path) -> tuple[dict[str, list[float]], list[str]]:
    """Latencies in seconds from a subscriber's receipt of each final to each client showing it, and the finals."""
    from playwright.sync_api import sync_playwright
    from websockets.sync.client import connect

    from stenod.core.committed import Joiner
    from stenod.core.events import Final

    port = _free_port()
    url = f"ws://127.0.0.1:{port}"
    env = {**env, "STENOD_URL": url}
    daemon = subprocess.Popen([sys.executable, "-m", "stenod", "run", "--device", "pulse", "--listen",
                               f"127.0.0.1:{port}"], env=env, stderr=subprocess.DEVNULL)
    window = Window(env, folder)
    procs: list[subprocess.Popen] = []
    tail_lines: list[tuple[float, str]] = []
    truth: list[tuple[float, dict]] = []
    try:
        _wait(lambda: _health(port) is not None, 180, "the daemon did not start")
        procs.append(subprocess.Popen([sys.executable, "-m", "stenod", "type", "--backend", "xdotool"], env=env,
                                      stderr=subprocess.DEVNULL))
        tail = subprocess.Popen([sys.executable, "-m", "stenod", "tail", "--finals"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(tail)
        threading.Thread(target=_read_lines, args=(tail.stdout, tail_lines), daemon=True).start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                                 args=CHROMIUM_FLAGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/captions?lines=100&fade=0")
            page.evaluate(OBSERVER)
            token = session_token(env)
            with connect(f"{url}/v1/events", additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                ws.recv(timeout=10)

                def read() -> None:
                    try:
                        while True:
                            message = ws.recv()
                            truth.append((time.time(), json.loads(message)))
                    except Exception:  # closed
                        pass

                threading.Thread(target=read, daemon=True).start()
                _wait(lambda: (_health(port) or {}).get("subscribers", 0) >= 4, 60, "clients did not connect")
                print(f"playing {wav.name} into the virtual microphone…", file=sys.stderr)
                subprocess.run(["paplay", str(wav)], env=env, check=True)
                time.sleep(4.0)
                page_finals = page.evaluate("window.__finals")
            browser.close()
        finals = [(at, e["text"]) for at, e in truth if e["type"] == "final"]
        joiner = Joiner()
        typed = ""
        out: dict[str, list[float]] = {"window (stenod type, xdotool)": [], "captions page (Chromium)": [],
                                       "stenod tail --finals": []}
        page_times = {text: at for at, text in page_finals}
        tail_times = {text: at for at, text in tail_lines}
        for uid, (at, text) in enumerate(finals, start=1):
            typed += joiner.feed(Final(seq=uid, emitted_at=0.0, audio_ms=0, utterance_id=uid, text=text, raw=text,
                                       words=(), language="en", start_ms=0, end_ms=0))
            seen = window.reached(len(typed), timeout=10)
            if seen is not None:
                out["window (stenod type, xdotool)"].append(seen - at)
            if text in page_times:
                out["captions page (Chromium)"].append(page_times[text] - at)
            line = text.replace("\n", " ").strip()
            if line in tail_times:
                out["stenod tail --finals"].append(tail_times[line] - at)
        return out, [t for _, t in finals]
    finally:
        for proc in procs:
            stop(proc, grace=10)
        stop(daemon)
        stop(window.proc, grace=10)


def _backends(env: dict[str, str], folder: Path, texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Each final typed by xdotool and by paste, alternating; seconds from the call to the text in the window."""
    from stenod_clients.typing.backends import Paste, Xdotool

    os.environ["DISPLAY"] = env["DISPLAY"]
    window = Window(env, folder / "backends")
    length = 0
    out: dict[str, list[float]] = {"xdotool": [], "paste": [], "xdotool_chars": [], "paste_chars": []}
    try:
        for r in range(rounds):
            for i, text in enumerate(texts):
                order = [("xdotool", Xdotool()), ("paste", Paste())]
                if (i + r) % 2:
                    order.reverse()
                for name, backend in order:
                    piece = " " + text.replace("\n", " ")
                    start = time.time()
                    backend.type(piece)
                    length += len(piece)
                    seen = window.reached(length, after=start)
                    if seen is not None:
                        out[name].append(seen - start)
                        out[f"{name}_chars"].append((seen - start) / len(piece))
    finally:
        stop(window.proc, grace=10)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return json.load(response)
    except OSError:
        return None


def _wait(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(message)
        time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> int:
    from stenod_bench.evaluation import eval_dir as default_eval_dir
    from stenod_bench.pulse import start_pulse, stop_pulse

    parser = argparse.ArgumentParser(prog="stenod bench clients", description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument("--session", default=SESSION, help=f"dictation session to play (default {SESSION})")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the backend comparison (default 2)")
    args = parser.parse_args(argv)
    eval_dir = args.eval_dir or default_eval_dir()
    wav = eval_dir / "sessions" / f"{args.session}.wav"
    with tempfile.TemporaryDirectory(prefix="stenod-bench-clients-") as tmp:
        folder = Path(tmp)
        (folder / "backends").mkdir()
        pulse, env = start_pulse(folder / "xdg")
        xvfb, display = start_xvfb()
        env = {**env, "DISPLAY": display, "XDG_CONFIG_HOME": str(folder / "config")}
        env.pop("WAYLAND_DISPLAY", None)
        try:
            results, texts = _session(env, folder, wav)
            typing = _backends(env, folder, texts, args.rounds)
        finally:
            stop(xvfb, grace=10)
            stop_pulse(pulse, env)
    print(f"\n{args.session}: {len(texts)} finals, from a WebSocket subscriber receiving each final to the text shown")
    for name, values in results.items():
        print(f"  {name:<32} {_percentiles(values)}")
    print(f"\ntyping the same {len(texts)} finals into the window, {args.rounds} rounds, alternating "
          "(from the call to the text in the window)")
    for name in ("xdotool", "paste"):
        per_char = statistics.median(typing[f"{name}_chars"]) * 1000 if typing[f"{name}_chars"] else 0.0
        print(f"  {name:<8} {_percentiles(typing[name])}   median {per_char:.1f} ms per character")
    if typing["xdotool"] and typing["paste"]:
        ratio = statistics.median(typing["xdotool"]) / statistics.median(typing["paste"])
        print(f"  xdotool / paste, median time per final: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
