"""The OSC listener (python-osc over UDP) and the `dmmlive send` client.

The listener runs in the app's main process, in a thread of its own. It answers
the addresses of the command table (`dmmlive.commands`), checks each message's
arguments syntactically there (count and types), answers bad ones with `/dmm/error`
at once, and hands good ones on as commands

    Command(op, args, timetag, reply_addr)

through a bounded queue: to `submit` (called from a forwarding thread, so a slow
consumer never blocks the socket), or to whoever calls `drain()`. The engine
(`dmmlive.control.Controller`) runs them between ticks; bundle timetags are kept
and become ticks there, never a sleep here. Its replies come back through
`send_replies`, which sends them from the listener's socket.

Knobs and TouchOSC. A message to an address a `knob` names, with one number
(float, int, or T/F from a toggle), sets that knob: `/1/fader1 0.7`,
`/1/toggle1 1`, `/1/rotary2 0.3`. An xy pad sends two numbers to one address:
`/1/xy1 x y` sets the knobs at `/1/xy1/x` and `/1/xy1/y` (either may be absent).
(TouchOSC mk1 sends the pad's values in the layout's orientation: in a portrait
layout its first value is the vertical axis; swap the two knobs in the patch if
so.) With `knob_addresses=None` the listener does not know the knobs: any other
address with one or two numbers is passed on as a knob command and the engine,
which knows them, answers `/dmm/error` for an address no knob listens to.
"""
from __future__ import annotations

import argparse
import ipaddress
import queue
import re
import socket
import sys
import threading
import time
from typing import Callable, Iterable, NamedTuple

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types

from .. import commands
from ..checks import ERROR, OK, did_you_mean_address, is_number
from ..core.errors import DmmError

__all__ = ["OscServer", "Command", "OscError", "send", "main_send", "parse_packet", "check_message",
           "sender_allowed", "bind_warning", "PacketError", "DEFAULT_PORT"]

DEFAULT_PORT = 9000
MAX_UDP = 65507            # the largest UDP payload over IPv4
MAX_BUNDLE_DEPTH = 8
MAX_REASON = 2000          # characters of an error reason sent back
_TAGS = set("ihfdsbrmtTFN[]")


class OscError(DmmError):
    """The OSC listener cannot start (address in use, bad host, bad allow-list)."""


class PacketError(Exception):
    """A datagram that is not OSC. `address` is the message address when one could be read."""

    def __init__(self, reason: str, address: str = ""):
        super().__init__(reason)
        self.address = address


class Command(NamedTuple):
    op: str                  # the name of a command of the table (dmmlive.commands)
    args: list
    timetag: float | None    # unix time of the bundle the message came in; None = now
    reply_addr: tuple        # where replies go: (host, port)


# ---- packets ----------------------------------------------------------------------------
def parse_packet(data: bytes) -> list[tuple[OscMessage, float | None]]:
    """Every message of a datagram with its bundle's timetag (unix seconds; None for a
    bare message or an "immediately" bundle). Nested bundles give their messages their
    own timetag. Raises PacketError for anything that is not well-formed OSC."""
    out: list = []
    if data.startswith(b"#bundle\x00"):
        _bundle(data, None, 0, out)
    elif data.startswith(b"/"):
        out.append((_message(data), None))
    else:
        raise PacketError("not an OSC message or bundle (it must start with '/' or '#bundle')")
    return out


def _bundle(data: bytes, outer: float | None, depth: int, out: list) -> None:
    if depth >= MAX_BUNDLE_DEPTH:
        raise PacketError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
    if len(data) < 16:
        raise PacketError("truncated bundle: no room for its timetag")
    try:
        tt, i = osc_types.get_date(data, 8)
    except Exception as e:  # noqa: BLE001
        raise PacketError(f"bad bundle timetag: {e}") from None
    timetag = None if tt == osc_types.IMMEDIATELY else float(tt)
    if timetag is None:
        timetag = outer
    while i < len(data):
        if len(data) - i < 4:
            raise PacketError("truncated bundle: an element size is cut off")
        size = int.from_bytes(data[i:i + 4], "big", signed=True)
        i += 4
        if size < 0 or size % 4 or i + size > len(data):
            raise PacketError(f"truncated or malformed bundle: element of {size} bytes at byte {i - 4}, "
                              f"{len(data) - i} left")
        elem = data[i:i + size]
        i += size
        if elem.startswith(b"#bundle\x00"):
            _bundle(elem, timetag, depth + 1, out)
        elif elem.startswith(b"/"):
            out.append((_message(elem), timetag))
        else:
            raise PacketError(f"bundle element at byte {i - size} is not a message or bundle")


def _message(data: bytes) -> OscMessage:
    address = _guess_address(data)
    if not address:
        raise PacketError("malformed OSC message: no address string")
    # Check the type tags before python-osc sees them: it skips unknown tags with a
    # logged warning, and the arguments would then be misread.
    n = (data.index(b"\x00") // 4 + 1) * 4   # the address string, padded to 4 bytes
    if len(data) > n:
        end = data.find(b"\x00", n)
        if data[n:n + 1] != b"," or end < 0:
            raise PacketError("malformed OSC message: no type tag string", address)
        tags = data[n + 1:end].decode("latin-1")
        bad = set(tags) - _TAGS
        if bad:
            raise PacketError(f"unsupported OSC type tag(s) {''.join(sorted(bad))!r}", address)
        size = _args_end(data, (end // 4 + 1) * 4, tags)
        if size != len(data):
            raise PacketError(f"truncated or malformed OSC message: its arguments need {size} bytes, "
                              f"the packet has {len(data)}", address)
    try:
        return OscMessage(data)
    except Exception as e:  # noqa: BLE001  (python-osc raises several kinds)
        cause = e.args[-1] if e.args else e
        raise PacketError(f"malformed or truncated OSC message: {cause}", address) from None


_FIXED = {"i": 4, "f": 4, "r": 4, "m": 4, "h": 8, "d": 8, "t": 8, "T": 0, "F": 0, "N": 0, "[": 0, "]": 0}


def _args_end(data: bytes, i: int, tags: str) -> int:
    """Where the arguments of `tags` starting at byte `i` end (python-osc pads a short
    float with zeros instead of refusing it, so a truncated message would pass)."""
    for t in tags:
        if t in _FIXED:
            i += _FIXED[t]
        elif t == "s":
            z = data.find(b"\x00", i)
            if z < 0:
                return len(data) + 1
            i = (z // 4 + 1) * 4
        elif t == "b":
            if i + 4 > len(data):
                return len(data) + 1
            i += 4 + (int.from_bytes(data[i:i + 4], "big", signed=True) + 3) // 4 * 4
    return i


def _guess_address(data: bytes) -> str:
    end = data.find(b"\x00", 0, 1024)
    if not data.startswith(b"/") or end < 0:
        return ""
    try:
        return data[:end].decode("utf-8")
    except UnicodeDecodeError:
        return ""


# ---- argument checks ----------------------------------------------------------------------
def _describe(args) -> str:
    names = {str: "string", float: "float", int: "int", bool: "bool", bytes: "blob", type(None): "nil"}
    return "(" + ", ".join(names.get(type(a), type(a).__name__) for a in args) + ")" if args else "no arguments"


def _dmm_addresses() -> str:
    return ", ".join(op.address for op in commands.dmm())


def check_message(op: str, args: list) -> list:
    """The arguments of `/dmm/<op>`, checked and normalised by the command table (numbers
    as floats), or ValueError with a reason that says what was expected."""
    cmd = commands.get(op)
    if cmd is None or cmd.own_address:
        raise ValueError(f"unknown address; the OSC commands are {_dmm_addresses()}, and knob addresses")
    try:
        return cmd.check(args)
    except commands.ArgError as e:
        if getattr(e, "value", False):  # the types were right: the value is what is wrong
            raise ValueError(f"{e} ({cmd.address} {cmd.usage})") from None
        why = f": {e}" if str(e) else ""
        raise ValueError(f"expected {cmd.typed_usage}, got {_describe(args)}{why}") from None


def _knob_values(args) -> list[float] | None:
    if len(args) not in (1, 2):
        return None
    out = []
    for a in args:
        if isinstance(a, bool):
            out.append(1.0 if a else 0.0)
        elif is_number(a):
            out.append(float(a))
        else:
            return None
    return out


# ---- senders -------------------------------------------------------------------------------
def sender_allowed(ip: str, networks: Iterable) -> bool:
    """Whether `ip` lies in one of `networks` (ipaddress networks or CIDR strings)."""
    try:
        a = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if a.version == 6 and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    for n in networks:
        n = ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n
        if a.version == n.version and a in n:
            return True
    return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def bind_warning(host: str, port: int, allow) -> str | None:
    """The warning to show when the listener is reachable from other machines, else None."""
    if _is_loopback(host):
        return None
    who = ("senders in " + ", ".join(map(str, allow))) if allow else "anyone who can reach this machine"
    return (f"OSC listens on {host}:{port}, not on loopback: {who} can rewire the patch, "
            f"load patch files and start recordings. Use --osc-host 127.0.0.1 unless you mean it.")


# ---- the listener -------------------------------------------------------------------------
class _UDPServer(BlockingOSCUDPServer):
    """python-osc's blocking server, with our checks: senders are filtered, every datagram
    (OSC or not) reaches the owner, and nothing raises out of the serving thread."""

    def __init__(self, owner: "OscServer", address, dispatcher):
        self._owner = owner
        super().__init__(address, dispatcher)
        self.max_packet_size = owner.max_packet + 1   # one byte more: to see it was too long

    def verify_request(self, request, client_address) -> bool:
        return self._owner.verify(client_address)

    def finish_request(self, request, client_address) -> None:
        self._owner.on_datagram(request[0], client_address)

    def handle_error(self, request, client_address) -> None:
        self._owner.internal_error()


class OscServer:
    """Receives OSC over UDP and passes checked commands on (see the module doc).

    `host`, `port`: where to listen (port 0 = any free port; `address` says which).
    `submit(command)`: called with each Command from a forwarding thread; None = the
    owner calls `drain()`. `knob_addresses`: the knob addresses to accept (update with
    `set_knobs`), or None to pass any other address with one or two numbers on.
    `allow`: CIDR strings; datagrams from other senders are ignored and counted
    (None = everyone). `queue_size`: commands waiting at most; more are dropped and
    counted. `max_packet`: bytes; a longer datagram is refused. `reply_port`: send
    replies to the sender's host at this port instead of the port it sent from.
    `reply_rate`: most replies sent per second (a token bucket, burst as large), so a
    flood of bad packets cannot turn the listener into a flood of replies: one bucket
    for the errors the listener finds, one for acknowledgements (`acks_suppressed`
    counts those a flood went past). `on_error(address, reason)`:
    also told of each message the listener refuses (the App shows it).
    The socket is bound on construction; `start()` starts the threads.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, submit: Callable | None = None,
                 knob_addresses: Iterable[str] | None = None, allow: Iterable[str] | None = None,
                 queue_size: int = 4096, max_packet: int = MAX_UDP, reply_port: int | None = None,
                 reply_rate: float = 2000.0, on_error: Callable | None = None):
        if not isinstance(queue_size, int) or queue_size < 1:
            raise OscError(f"queue_size must be a positive number of commands, got {queue_size!r}")
        if not isinstance(max_packet, int) or not 16 <= max_packet <= MAX_UDP:
            raise OscError(f"max_packet must be between 16 and {MAX_UDP} bytes, got {max_packet!r}")
        try:
            self.allow = None if allow is None else [ipaddress.ip_network(a, strict=False) for a in allow]
        except (ValueError, TypeError) as e:
            raise OscError(f"bad allow-list entry: {e}") from None
        self.submit = submit
        self.on_error = on_error
        self.queue_size = queue_size
        self.max_packet = max_packet
        self.reply_port = reply_port
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._n = dict.fromkeys(("received", "messages", "accepted", "rejected", "dropped", "denied",
                                 "replies", "replies_suppressed", "acks", "acks_suppressed",
                                 "reply_failures", "submit_failures",
                                 "internal_errors", "max_depth"), 0)
        self._send_lock = threading.Lock()
        self._rate = float(reply_rate)
        # one bucket for the errors the listener finds, one for acknowledgements: a flood's
        # acknowledgements never crowd out an error's answer
        self._tokens = {ERROR: float(reply_rate), OK: float(reply_rate)}
        self._last = {ERROR: time.monotonic(), OK: time.monotonic()}
        self._knobs: frozenset | None = None
        self._timetag: float | None = None
        self.dispatcher = self._dispatcher_for(knob_addresses)
        try:
            self._server = _UDPServer(self, (host, int(port)), self.dispatcher)
        except (OSError, OverflowError, ValueError) as e:
            raise OscError(f"cannot listen for OSC on {host}:{port}: "
                           f"{getattr(e, 'strerror', None) or e}") from None
        try:
            self._server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        except OSError:
            pass
        self.address = self._server.server_address[:2]
        self.warning = bind_warning(host, self.address[1], allow)
        self._threads: list = []
        self._stopping = threading.Event()

    # ---- lifecycle ----
    def start(self) -> "OscServer":
        if self._threads:
            return self
        t = threading.Thread(target=self._serve, name="dmmlive-osc", daemon=True)
        t.start()
        self._threads.append(t)
        if self.submit is not None:
            f = threading.Thread(target=self._forward, name="dmmlive-osc-forward", daemon=True)
            f.start()
            self._threads.append(f)
        return self

    def close(self) -> None:
        """Stop the threads and close the socket (commands still queued are discarded)."""
        self._stopping.set()
        if self._threads:
            self._server.shutdown()
        self._server.server_close()
        for t in self._threads:
            t.join(5.0)
        self._threads = []

    def __enter__(self) -> "OscServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self.address[1]

    def stats(self) -> dict:
        """Counters: `received` datagrams (`denied` of them from senders not allowed);
        `messages` parsed out of them; `accepted` commands queued, `rejected` messages
        or datagrams answered with /dmm/error, `dropped` commands the full queue refused;
        `replies` sent, `replies_suppressed` by the rate limit; `max_depth` of the queue."""
        return dict(self._n, queued=self._queue.qsize(), queue_size=self.queue_size)

    # ---- knobs ----
    def set_knobs(self, addresses: Iterable[str] | None) -> None:
        """Accept these knob addresses from now on (None: pass any address on)."""
        self.dispatcher = self._dispatcher_for(addresses)

    def _dispatcher_for(self, addresses) -> Dispatcher:
        d = Dispatcher(strict_timing=False)  # timetags become ticks in the engine, not sleeps here
        for op in commands.dmm():
            d.map(op.address, self._on_dmm, op.name, needs_reply_address=True)
        knobs = None if addresses is None else frozenset(addresses)
        if knobs is not None:
            bases = {a.rsplit("/", 1)[0] for a in knobs if a.endswith(("/x", "/y"))}
            for a in sorted(knobs | bases):
                if not a.startswith(commands.PREFIX):
                    d.map(a, self._on_knob, needs_reply_address=True)
        d.set_default_handler(self._on_other, needs_reply_address=True)
        self._knobs = knobs
        return d

    # ---- the serving thread ----
    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                self._server.serve_forever(poll_interval=0.05)
                return
            except Exception:  # noqa: BLE001  (keep serving whatever happened)
                self.internal_error()

    def verify(self, client) -> bool:
        """Whether a datagram from `client` is taken (the socket server asks, then
        hands it to `on_datagram`; `internal_error` counts what escaped)."""
        self._n["received"] += 1
        if self.allow is not None and not sender_allowed(client[0], self.allow):
            self._n["denied"] += 1
            return False
        return True

    def on_datagram(self, data: bytes, client) -> None:
        if len(data) > self.max_packet:
            self._reject(client, _guess_address(data) or "?",
                         f"packet larger than {self.max_packet} bytes: refused")
            return
        try:
            messages = parse_packet(data)
        except PacketError as e:
            self._reject(client, e.address or "?", str(e))
            return
        dispatcher = self.dispatcher
        for msg, timetag in messages:
            self._n["messages"] += 1
            self._timetag = timetag
            try:
                handlers = list(dispatcher.handlers_for_address(msg.address))
                if not handlers:  # a pattern python-osc cannot compile matches nothing
                    self._on_other(client, msg.address, *msg.params)
                for h in handlers:
                    h.invoke(client, msg)
            except Exception as e:  # noqa: BLE001
                self.internal_error()
                self._reject(client, msg.address, f"internal error: {type(e).__name__}: {e}")

    def _on_dmm(self, client, address, fixed, *args) -> None:
        op = fixed[0]
        try:
            checked = check_message(op, list(args))
        except ValueError as e:
            self._reject(client, address, str(e))
            return
        self._accept(op, checked, client)

    def _on_knob(self, client, address, *args) -> None:
        xs = _knob_values(args)
        knobs = self._knobs or frozenset()
        if xs is None:
            self._reject(client, address, f"a knob takes one number (an xy pad two), got {_describe(args)}")
        elif len(xs) == 1 and address not in knobs:
            self._reject(client, address, f"{address} is an xy pad ({address}/x, {address}/y): "
                                          f"send two numbers, got one")
        elif len(xs) == 2 and f"{address}/x" not in knobs and f"{address}/y" not in knobs:
            self._reject(client, address, f"{address} is a knob: send one number, got two")
        else:
            self._accept("knob", [address] + xs, client)

    def _on_other(self, client, address, *args) -> None:
        if self._knobs is None and not address.startswith(commands.PREFIX):
            xs = _knob_values(args)
            if xs is not None:
                self._accept("knob", [address] + xs, client)
                return
        if address.startswith(commands.PREFIX):
            reason = _unknown_dmm_reason(address)
        else:
            near = did_you_mean_address(address, self._knobs or ())
            reason = f"unknown address: no knob listens to it{near}"
        self._reject(client, address, reason)

    def _accept(self, op, args, client) -> None:
        cmd = Command(op, args, self._timetag, self._reply_addr(client))
        try:
            self._queue.put_nowait(cmd)
        except queue.Full:
            self._n["dropped"] += 1
            return
        self._n["accepted"] += 1
        depth = self._queue.qsize()
        if depth > self._n["max_depth"]:
            self._n["max_depth"] = depth

    def _reject(self, client, address, reason) -> None:
        self._n["rejected"] += 1
        self._send(self._reply_addr(client), ERROR, [address, reason], limited=True)
        if self.on_error is not None:
            try:
                self.on_error(address, reason)
            except Exception:  # noqa: BLE001  (a failing owner never stops the listener)
                self._n["internal_errors"] += 1

    def internal_error(self) -> None:
        self._n["internal_errors"] += 1

    def _reply_addr(self, client) -> tuple:
        if self.reply_port is None:
            return tuple(client)
        return (client[0], self.reply_port) + tuple(client[2:])

    # ---- the consumer side ----
    def _forward(self) -> None:
        while not self._stopping.is_set():
            try:
                cmd = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self.submit(cmd)
            except Exception:  # noqa: BLE001  (a failing consumer never stops the listener)
                self._n["submit_failures"] += 1

    def drain(self, max_n: int | None = None, timeout: float = 0.0) -> list:
        """The commands waiting, oldest first (at most `max_n`); for owners without `submit`.
        `timeout`: seconds to wait for a first one when none waits (it is taken at once)."""
        out = []
        if timeout > 0:
            try:
                out.append(self._queue.get(timeout=timeout))
            except queue.Empty:
                return out
        while max_n is None or len(out) < max_n:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def send_replies(self, replies: Iterable) -> None:
        """Send each `(address, args, reply_addr)` (from the engine) from this socket."""
        for address, args, reply_addr in replies:
            if reply_addr is not None:  # acknowledgements within the reply rate (a flood's are many)
                self._send(tuple(reply_addr), address, list(args), limited=address == OK)

    def _send(self, to, address, args, limited) -> None:
        with self._send_lock:
            if limited:
                bucket = OK if address == OK else ERROR
                now = time.monotonic()
                self._tokens[bucket] = min(self._rate, self._tokens[bucket] + (now - self._last[bucket]) * self._rate)
                self._last[bucket] = now
                if self._tokens[bucket] < 1.0:
                    self._n["acks_suppressed" if bucket == OK else "replies_suppressed"] += 1
                    return
                self._tokens[bucket] -= 1.0
            try:  # a reply stays small whatever the engine said
                args = [a[:MAX_REASON] + "…" if isinstance(a, str) and len(a) > MAX_REASON else a
                        for a in args]
                dgram = build(address, args)
                self._server.socket.sendto(dgram, to)
                self._n["replies"] += 1
                if address == OK:
                    self._n["acks"] += 1
            except Exception:  # noqa: BLE001  (an unreachable sender is not our problem)
                self._n["reply_failures"] += 1


def _unknown_dmm_reason(address: str) -> str:
    near = did_you_mean_address(address[len(commands.PREFIX):], [op.name for op in commands.dmm()],
                                prefix=commands.PREFIX)
    return f"unknown address{near}; the OSC commands are {_dmm_addresses()}"


# ---- the client ---------------------------------------------------------------------------
def build(address: str, args: Iterable) -> bytes:
    """The datagram of one OSC message (str, int, float, bool, bytes arguments)."""
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def send(host: str, port: int, address: str, *args, sock: socket.socket | None = None) -> None:
    """Send one OSC message over UDP (from `sock`, or a fresh socket)."""
    data = build(address, args)
    if sock is not None:
        sock.sendto(data, (host, port))
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.sendto(data, (host, port))


_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)\Z")


def parse_arg(text: str):
    """A command-line argument as an OSC argument: int or float where it looks numeric."""
    if _INT.match(text):
        n = int(text)
        return n if -2**63 <= n < 2**63 else float(n)
    if _FLOAT.match(text):
        return float(text)
    return text


def main_send(argv=None) -> int:
    """`dmmlive send [--host H] [--port P] [--wait [--timeout S]] /addr ARGS...`: send one
    message; `--wait` prints the reply. Options go before the address (everything after
    it is an argument, so `-0.5` is a number).

    Exit status: 0 sent (with --wait: acknowledged, /dmm/ok, or answered, /dmm/value),
    1 refused (/dmm/error), 2 bad usage, 3 no reply within the wait (no player there).
    """
    p = argparse.ArgumentParser(prog="dmmlive send", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Send one OSC message to a running dmmlive (numbers look like\n"
                                "numbers: 1 is an int, 0.5 a float; anything else is a string).",
                                epilog=commands.help_text())
    p.add_argument("address", help="OSC address, e.g. /dmm/set")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--wait", action="store_true",
                   help="wait for the reply (/dmm/ok, /dmm/value or /dmm/error) and print it; exit "
                        "status 0 done, 1 refused, 3 no reply (no player listening there)")
    p.add_argument("--timeout", type=float, default=1.0, metavar="SECONDS",
                   help="how long --wait waits (default 1 s)")
    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if not a.address.startswith("/"):
        print(f"dmmlive send: an OSC address starts with '/', got {a.address!r}", file=sys.stderr)
        return 2
    args = [parse_arg(x) for x in a.args]
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            send(a.host, a.port, a.address, *args, sock=s)
            if not a.wait:
                return 0
            s.settimeout(max(0.001, a.timeout))
            try:
                data, _ = s.recvfrom(MAX_UDP + 1)
            except (socket.timeout, ConnectionRefusedError):
                print(f"dmmlive send: no reply from {a.host}:{a.port} within {a.timeout:g} s: is "
                      f"`dmmlive play` running there with OSC on port {a.port}?", file=sys.stderr)
                return 3
    except (OSError, ValueError) as e:
        print(f"dmmlive send: {e}", file=sys.stderr)
        return 2
    try:
        msgs = parse_packet(data)
    except PacketError as e:
        print(f"dmmlive send: unreadable reply: {e}", file=sys.stderr)
        return 1
    status = 0
    for msg, _ in msgs:
        print(" ".join([msg.address] + [str(x) for x in msg.params]))
        if msg.address == ERROR:
            status = 1
    return status


if __name__ == "__main__":  # python -m dmmlive.drivers.osc /addr ARGS
    raise SystemExit(main_send(sys.argv[1:]))
