"""The `dmmlive` command: play, render, check, types, send."""
from __future__ import annotations

import argparse
import sys

from .core.errors import BadArgument, DmmError


def cmd_types(a) -> int:
    """The standard types, grouped by the kind of their first output (vvalue, number,
    audio, image, then sinks), or those whose names contain one of `a.names`."""
    from .core.errors import UnknownType, did_you_mean
    from .core.registry import first_line
    from .gfx.types import patch_types
    import dmmlive  # noqa: F401  (fills the table)
    table = patch_types(None, a.shaders)  # the standard types, and --shaders FOLDER's
    names = sorted(n for n in table if not a.names or any(w in n for w in a.names))
    if not names:
        raise UnknownType(f"no neuron type matches {' '.join(a.names)!r}"
                          f"{did_you_mean(a.names[0], table)}")
    groups: dict = {}
    for n in names:
        t = table[n]
        kind = t.variadic or next(iter(t.outputs.values()), None) or "sink"
        groups.setdefault(kind, []).append(t)
    order = [k for k in ("vvalue", "number", "audio", "image", "sink") if k in groups]
    for k in order + sorted(set(groups) - set(order)):
        print(f"{k} neurons:" if k != "sink" else "sinks:")
        for t in groups[k]:
            print(f"  {t.summary()}")
            if t.doc:
                print(f"      {first_line(t.doc)}")
    return 0


def checked_types(patch, shaders):
    """The types a patch is read with (`patch_types`), its shader files parsed and compiled
    (on a headless GPU): ShadersBroken names every file that does not, line and caret."""
    from .gfx.types import ShadersBroken, compile_shaders, patch_types
    problems: list = []
    types = patch_types(patch, shaders, errors=problems)
    problems += compile_shaders(types)
    if problems:
        raise ShadersBroken(problems)
    return types


def cmd_check(a) -> int:
    if a.patch.lower().endswith(".dmmlog"):  # a set log: its texts and commands, not replayed
        from .log import check_log
        print(check_log(a.patch))
        return 0
    from .patch.live import open_patch
    types = checked_types(a.patch, a.shaders)
    p = open_patch(a.patch, types=types).patch
    n = len([x for x in p.neurons])
    print(f"{a.patch}: ok: {n} neurons, {sum(len(r) for r in p.rows.values())} weights, "
          f"schedule {p.settings['schedule']}, fade {p.settings['fade']:g} s")
    for name, d in p.neurons.items():
        args = "".join(f" {k}={v!r}" for k, v in d.args.items())
        print(f"  {name} = {d.type}{args}")
    for (dst, port), terms in sorted(p.rows.items()):
        rhs = _linear(terms)
        print(f"  {dst}.{port} = {rhs}")
    for addr, name in p.knobs.items():
        print(f"  knob {addr} -> {name}")
    from .patch.grammar import loud_loops
    for names, gain in loud_loops(p, types):
        loop = " -> ".join(names + [names[0]]) if len(names) > 1 else f"{names[0]} -> {names[0]}"
        print(f"dmmlive: {a.patch}: warning: the feedback loop {loop} has a gain of {gain:.3g} (1 or more): "
              "it grows until the limiter stops it (keep the loop's weights under 1)", file=sys.stderr)
    return 0


def _linear(terms) -> str:
    """`0.3*a.out - 0.2*b.out + 55` from {(src, port): weight}."""
    out = ""
    for (s, o), w in terms.items():
        t = f"{abs(w):g}" if s == "one" else f"{abs(w):g}*{s}.{o}"
        out += (" - " if w < 0 else " + ") + t if out else ("-" if w < 0 else "") + t
    return out or "0"


def cmd_render(a) -> int:
    from .render import render
    # the bar redraws itself with \r: only where someone watches it (a terminal)
    progress = None if a.quiet or not sys.stderr.isatty() else _progress_bar(sys.stderr)
    seconds = a.seconds
    if a.end is not None:
        if seconds is not None:
            raise BadArgument("give --seconds or --end, not both")
        if a.end <= a.start:
            raise BadArgument(f"--end {a.end:g} must come after --start {a.start:g}")
        seconds = a.end - a.start
    if seconds is None and not a.patch.lower().endswith(".dmmlog"):
        seconds = 10.0  # a log's default: to its end (see dmmlive.log)
    if a.workers is not None or a.ray:  # in segments, on Ray workers (dmmlive/distributed.py)
        if a.start:
            raise BadArgument("--start with --workers: not yet; render the whole set or --seconds")
        from .distributed import render_split
        path = render_split(a.patch, a.output, seconds, progress, size=a.size, fps=a.fps,
                            workers=a.workers, address=a.ray)  # (--ray alone: the cluster's workers)
        print(f"wrote {path}")
        return 0
    source = a.patch
    if not a.patch.lower().endswith(".dmmlog"):  # the patch's machine, made here to look at it
        from .patch.live import load
        types = checked_types(a.patch, a.shaders) if a.output.lower().endswith((".mp4", ".png")) else None
        if types is None:
            from .gfx.types import patch_types
            types = patch_types(a.patch, a.shaders)
        source = load(a.patch, size=a.size, fps=a.fps, types=types)
        if a.output.lower().endswith((".mp4", ".png")) and "screen" not in source.matrix:
            print(f"dmmlive: {a.patch} draws nothing on `screen`: the pictures will be black "
                  "(render to .wav for the sound alone)", file=sys.stderr)
    def report(text):  # what the machine reports, as play shows it (the bar's line ended first)
        if progress is not None:
            sys.stderr.write("\n")
        print(f"dmmlive: {text}", file=sys.stderr)
    path = render(source, a.output, seconds=seconds, progress=progress, size=a.size, fps=a.fps, start=a.start,
                  report=report, input=a.input)
    if path.suffix.lower() == ".png":
        frames = sorted(path.parent.glob(f"{path.stem}_[0-9][0-9][0-9][0-9][0-9].png"))
        print(f"wrote {len(frames)} frames: {path.with_name(path.stem + '_00000.png')} ...")
    else:
        print(f"wrote {path}")
    return 0


def _progress_bar(stream, width=40):
    state = {"last": -1}

    def show(done, total):
        k = int(width * done / total) if total else width
        if k == state["last"] and done != total:
            return
        state["last"] = k
        stream.write(f"\r[{'#' * k}{'.' * (width - k)}] {100 * done / max(total, 1):5.1f}%")
        if done >= total:
            stream.write("\n")
        stream.flush()
    return show


def cmd_evolve(a) -> int:
    from .evolve import evolve
    if a.workers is not None and a.ray:
        raise BadArgument("give --workers N (this machine) or --ray ADDRESS (a cluster), not both")
    r = evolve(a.patch, a.target, a.weights, population=a.population, sigma=a.sigma, generations=a.generations,
               seconds=a.seconds, seed=a.seed, workers=a.workers,  # None: Ray on this machine's cores, or --ray's
               address=a.ray, say=lambda text: print(text, flush=True))
    try:
        with open(a.output, "w", encoding="utf-8") as f:
            f.write(r.text)
    except OSError as e:
        raise BadArgument(f"cannot write {a.output}: {e.strerror or e}") from None
    print(f"wrote {a.output} (distance {r.distance:.5f})")
    return 0


def cmd_devices(a) -> int:
    """The sound outputs `play --device` can use."""
    from .drivers.audio import output_devices
    devs = output_devices()
    if not devs:
        print("no sound output device found (play --no-audio plays without one)")
        return 0
    for d in devs:
        print(f"{d['index']:>3}{'*' if d['default'] else ' '} {d['name']}  ({d['api']}, {d['channels']} channels, "
              f"{d['rate']:g} Hz)")
    print("(* the default; play --device takes the index or a unique part of the name)")
    return 0


def _quant(text: str) -> float:
    try:
        q = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of beats: {text!r}") from None
    if not 0 <= q <= 1024:
        raise argparse.ArgumentTypeError(f"must be beats from 0 to 1024, got {text}")
    return q


def cmd_play(a) -> int:
    from .app import App
    from .drivers.audio import AudioDeviceError
    app = App(a.patch, audio=not a.no_audio, window=not a.no_window, device=a.device, rate=a.rate,
              block=a.block,
              limiter=not a.no_limiter, seconds=a.seconds, osc=not a.no_osc, osc_host=a.osc_host,
              osc_port=a.osc_port, osc_allow=a.osc_allow or None, allow_load_anywhere=a.allow_load_anywhere,
              log=a.log, record=a.record, shaders=a.shaders, ahead=a.ahead,
              midi_in=a.midi_in or ["all"], midi_out=a.midi_out, midi_clock_in=a.midi_clock_in,
              link=a.link, quant=a.quant, resume=a.resume, input_device=a.input_device,
              input_channels=a.input_channels)
    try:
        return app.run()
    except AudioDeviceError as e:
        print(f"dmmlive: {e}\n(use --no-audio to run without a sound card)", file=sys.stderr)
        return 1


def _size(text):
    try:
        w, h = (int(x) for x in text.lower().split("x"))
        if w > 0 and h > 0:
            return (w, h)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, like 1280x720, not {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dmmlive", description="Live coding of sound and image with "
                                "dataflow matrix machines.")
    from . import __version__
    p.add_argument("--version", action="version", version=f"dmmlive {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("types", help="the neuron types with their ports and one line of doc, grouped by "
                       "the kind of what they output")
    t.add_argument("names", nargs="*", metavar="NAME", help="only the types whose names contain one of these")
    t.add_argument("--shaders", default=None, metavar="FOLDER", help="list FOLDER/NAME.frag's types too")
    t.set_defaults(fn=cmd_types)
    c = sub.add_parser("check", help="parse and validate a patch (or a set log), print the network; exit 1 on error")
    c.add_argument("patch", help="a patch file, or a log written by play --log")
    c.add_argument("--shaders", default=None, metavar="FOLDER",
                   help="more shader types: FOLDER/NAME.frag is the type NAME (default: a shaders/ "
                        "folder beside the patch, if there is one)")
    c.set_defaults(fn=cmd_check)
    r = sub.add_parser("render", help="render a patch or a performance log (.dmmlog) offline to .wav (sound), "
                       ".mp4 (video + sound) or .png frames")
    r.add_argument("patch", help="a patch, or a log written by play --log (replayed)")
    r.add_argument("-o", "--output", required=True, help="the file to write: .wav, .mp4 or .png (NAME_00000.png ...)")
    r.add_argument("--seconds", type=float, default=None,
                   help="how long (default: 10 for a patch; for a log, to its end: its last change + 1 s "
                        "if it was cut)")
    r.add_argument("--start", type=float, default=0.0, metavar="SECONDS",
                   help="an excerpt from this time on (default 0; what comes before is run, not written)")
    r.add_argument("--end", type=float, default=None, metavar="SECONDS",
                   help="an excerpt up to this time (instead of --seconds)")
    r.add_argument("--size", type=_size, default=None, help="WxH (images; default: the patch's size)")
    r.add_argument("--fps", type=float, default=None, help="frames per second (default: the patch's)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.add_argument("--workers", type=int, default=None, metavar="N",
                   help="a log's video in segments on N Ray workers (1: in this process, no Ray); see "
                        "README 'Render a set at 4K on many machines'")
    r.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="the Ray cluster the segments run on (ray start --head gives its address)")
    r.add_argument("--input", default=None, metavar="FILE.wav",
                   help="what the patch's input(channel) neurons hear (a WAV file; a log replays its own)")
    r.add_argument("--shaders", default=None, metavar="FOLDER",
                   help="more shader types: FOLDER/NAME.frag is the type NAME (default: a shaders/ "
                        "folder beside the patch, if there is one)")
    r.set_defaults(fn=cmd_render)
    ev = sub.add_parser("evolve", help="evolve a patch's weights toward a sound (evolution strategies, on Ray)")
    ev.add_argument("patch", help="the patch whose weights evolve (its numbers are the start)")
    ev.add_argument("--target", required=True, metavar="SOUND.wav", help="the sound to come near")
    ev.add_argument("--weights", required=True, metavar="A.PORT,B.PORT,...",
                    help="the weights that evolve: dst.port (its constant, or its one term) or dst.port:src")
    ev.add_argument("-o", "--output", required=True, metavar="BEST.dmm",
                    help="the patch written: the input's text with the best numbers in place")
    ev.add_argument("--population", type=int, default=32, help="candidates a generation (even: antithetic pairs)")
    ev.add_argument("--sigma", type=float, default=0.05, help="the relative change a candidate tries (default 0.05)")
    ev.add_argument("--generations", type=int, default=30, help="generations (default 30)")
    ev.add_argument("--seconds", type=float, default=None, help="seconds compared (default: the whole target)")
    ev.add_argument("--seed", type=int, default=0, help="the random seed (the same seed, the same result)")
    ev.add_argument("--workers", type=int, default=None, metavar="N",
                    help="render the candidates on N Ray workers here (default: one per core, on Ray; "
                         "1: in this process, no Ray)")
    ev.add_argument("--ray", default=None, metavar="ADDRESS", help="render them on this Ray cluster")
    ev.set_defaults(fn=cmd_evolve)
    dv = sub.add_parser("devices", help="list the sound outputs play --device can use")
    dv.set_defaults(fn=cmd_devices)
    pl = sub.add_parser("play", help="play a patch live; saving the file changes the network")
    pl.add_argument("patch", help="the patch file (watched: each save changes the running network)")
    pl.add_argument("--no-audio", action="store_true", help="run without a sound card (real-time pace)")
    pl.add_argument("--no-window", action="store_true", help="no window: sound, file watcher and OSC only")
    pl.add_argument("--device", default=None, help="sound output: a unique part of its name, or its index "
                    "(dmmlive devices lists them; default: the system's default output)")
    # (None: not given; App fills in 48000 and 128, or with --from the snapshot's)
    pl.add_argument("--rate", type=int, default=None, help="sample rate in Hz (default 48000; with --from: the snapshot's)")
    pl.add_argument("--block", type=int, default=None, help="samples per tick (default 128; with --from: the snapshot's)")
    pl.add_argument("--no-limiter", action="store_true",
                    help="no output limiter (by default a brickwall limiter keeps the output within ±1)")
    pl.add_argument("--ahead", type=float, default=0.01, metavar="SECONDS",
                    help="sound computed ahead of the card at least (default 0.01; it grows while "
                         "the card comes close to running dry and shrinks back): less answers saves "
                         "and OSC sooner, more is safer on a busy machine")
    pl.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    pl.add_argument("--osc-port", type=int, default=9000, help="OSC port to listen on (default 9000; 0: any free)")
    pl.add_argument("--osc-host", default="127.0.0.1",
                    help="listen here (default 127.0.0.1, loopback; 0.0.0.0 opens it to the network)")
    pl.add_argument("--osc-allow", action="append", metavar="CIDR",
                    help="with --osc-host: accept only these senders (repeatable)")
    pl.add_argument("--no-osc", action="store_true", help="no OSC listener")
    pl.add_argument("--log", default=None, metavar="SET.dmmlog",
                    help="record the set (patch, saves, OSC, knobs, by tick) to replay with render")
    pl.add_argument("--record", default=None, metavar="OUT.mp4",
                    help="record the window's pictures and the sound while playing (fragmented mp4: "
                    "playable even if the process is killed); with --no-window, black frames")
    pl.add_argument("--shaders", default=None, metavar="FOLDER",
                    help="more shader types: FOLDER/NAME.frag is the type NAME, watched while playing "
                         "(default: a shaders/ folder beside the patch, if there is one)")
    pl.add_argument("--allow-load-anywhere", action="store_true",
                    help="let /dmm/load read patches outside the patch's folder")
    pl.add_argument("--midi-in", action="append", metavar="NAME",
                    help="take MIDI from this source (a unique part of its name; again for more): 'all' "
                         "(the default: every source there is), 'virtual' (a port of dmmlive's own, "
                         "dmmlive:midi_in), or 'none'")
    pl.add_argument("--midi-out", default=None, metavar="NAME",
                    help="send midiout's notes and a MIDI clock at the tempo to this destination "
                         "(a unique part of its name, or 'virtual': dmmlive:midi_out)")
    pl.add_argument("--midi-clock-in", action="store_true",
                    help="follow the MIDI clock coming in: its tempo, and after a Start, Continue or "
                         "Song Position Pointer its beat phase (not with --link)")
    pl.add_argument("--link", action="store_true",
                    help="join the local Ableton Link session: take its tempo and beat phase (quantum: the "
                         "patch's meter), give it the set's own tempo changes")
    pl.add_argument("--input-device", default=None, metavar="NAME",
                    help="open the sound card duplex: input(channel) neurons hear this input device "
                         "(a unique part of its name, its index, or 'default'); the log records it")
    pl.add_argument("--input-channels", type=int, default=2, choices=range(1, 9), metavar="N",
                    help="input channels to take (1-8, default 2)")
    pl.add_argument("--quant", type=_quant, default=None, metavar="BEATS",
                    help="saves, /dmm/code and /dmm/set land on the next multiple of BEATS on the beat grid "
                         "(default 0: at once, or with --from the snapshot's; a patch's quant(...) wins)")
    pl.add_argument("--from", dest="resume", default=None, metavar="SNAP.dmmsnap",
                    help="start from a snapshot written by /dmm/snapshot (the set resumes where it was; "
                         "the patch file's next save applies over it)")
    pl.set_defaults(fn=cmd_play)
    se = sub.add_parser("send", help="send one OSC message: dmmlive send [--host H] [--port P] [--wait] /addr ARGS")
    se.add_argument("rest", nargs=argparse.REMAINDER)
    se.set_defaults(fn=lambda a: __import__("dmmlive.drivers.osc", fromlist=["main_send"]).main_send(a.rest))
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["send"]:  # its own options and free-form OSC arguments (e.g. -0.5)
        from .drivers.osc import main_send
        return main_send(argv[1:])
    a = build_parser().parse_args(argv)
    if getattr(a, "device", None) is not None and a.device.isdigit():
        a.device = int(a.device)
    try:
        return a.fn(a)
    except DmmError as e:
        print(f"dmmlive: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `dmmlive check x | head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
