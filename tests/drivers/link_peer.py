"""A second Ableton Link peer for tests/drivers/test_link.py, run in a process of its own:

    python link_peer.py BPM

It joins the local Link session at BPM (LinkPython-extern), prints `ready`, then answers
one JSON line per command read from stdin:

    status            {"peers": n, "tempo": bpm}
    tempo BPM         sets the session's tempo now   -> {"tempo": bpm}
    beats T0 T1       the times of the session's whole beats (quantum 4) between T0 and T1,
                      both as CLOCK_MONOTONIC_RAW seconds -> {"beats": [[beat, time], ...]}
                      (each computed from this peer's Link timeline and its Link clock,
                      turned into CLOCK_MONOTONIC_RAW by the offset read back to back)
    quit
"""
import json
import math
import sys
import time

import link

RAW = time.CLOCK_MONOTONIC_RAW


def offset_us(clock) -> float:
    """Link clock minus CLOCK_MONOTONIC_RAW, in µs (the closest of a few back-to-back reads)."""
    best = None
    for _ in range(20):
        a = time.clock_gettime(RAW)
        c = clock.micros()
        b = time.clock_gettime(RAW)
        if best is None or b - a < best[0]:
            best = (b - a, c - 0.5 * (a + b) * 1e6)
    return best[1]


def main() -> None:
    lk = link.Link(float(sys.argv[1]))
    lk.enabled = True
    clock = lk.clock()
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        s = lk.captureAppSessionState()
        if words[0] == "status":
            out = {"peers": lk.numPeers(), "tempo": s.tempo()}
        elif words[0] == "tempo":
            s.setTempo(float(words[1]), clock.micros())
            lk.commitAppSessionState(s)
            out = {"tempo": lk.captureAppSessionState().tempo()}
        elif words[0] == "beats":
            off = offset_us(clock)
            t0, t1 = (float(w) * 1e6 + off for w in words[1:3])
            k0, k1 = math.ceil(s.beatAtTime(int(t0), 4)), math.floor(s.beatAtTime(int(t1), 4))
            out = {"beats": [[k, (s.timeAtBeat(k, 4) - off) / 1e6] for k in range(k0, k1 + 1)]}
        else:
            out = {"error": line.strip()}
        print(json.dumps(out), flush=True)
    lk.enabled = False


if __name__ == "__main__":
    main()
