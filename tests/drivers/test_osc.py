"""The OSC listener over real UDP on loopback, with a Machine ticked in the test thread as the engine.

Waits poll with a deadline (a failure guard), never assert how long something took.
"""
import random
import socket
import threading
import time

import pytest
from hypothesis import given, settings, strategies as st
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing import osc_types

from dmmlive import Machine, vv
from dmmlive.core.registry import STANDARD
from dmmlive.control import Controller
from dmmlive.neurons import control as _knobs  # noqa: F401  (the knob type)
from dmmlive.drivers import osc
from dmmlive.drivers.osc import OscServer, PacketError, build, parse_packet

BLOCK, RATE = 64, 48000
DEADLINE = 10.0


TYPES = STANDARD.copy()  # the standard types and this file's own


@TYPES.neuron_type("test_dc_osc", kind="audio", inputs={"level": 1.0}, batched=True)
def _dc(state, rate, level):
    """Test type: outputs its level."""
    return level.copy()


def _bundle(timetag, messages, nested=None):
    b = OscBundleBuilder(timetag)
    for address, args in messages:
        mb = OscMessageBuilder(address)
        for a in args:
            mb.add_arg(a)
        b.add_content(mb.build())
    if nested is not None:
        b.add_content(nested)
    return b.build().dgram


def _msg(address, args):
    mb = OscMessageBuilder(address)
    for a in args:
        mb.add_arg(a)
    return mb.build()


def wait_for(cond, what="condition"):
    end = time.monotonic() + DEADLINE
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.002)


class Rig:
    """A listener, a client socket, and a machine pumped by hand (the engine's loop)."""

    def __init__(self, tmp_path=None, **server_args):
        self.m = Machine(types=TYPES, block=BLOCK, rate=RATE)
        self.m.add("d", "test_dc_osc")
        self.m.connect("out.left", "d", 0.2)
        self.m.add("vol", "knob", address="/1/fader1", default=0.5, lag=0.0)
        self.m.add("px", "knob", address="/1/xy1/x", default=0.0, lag=0.0)
        self.m.add("py", "knob", address="/1/xy1/y", default=0.0, lag=0.0)
        self.m.add("tg", "knob", address="/1/toggle1", default=0.0, lag=0.0)
        for k, wt in (("vol", 1.0), ("px", 1.0), ("py", 10.0), ("tg", 100.0)):
            self.m.connect("out.right", k, wt)
        self.m.tick()
        self.records = []
        self.ctl = Controller(self.m, fade=0.0, load_root=tmp_path,
                              on_record=lambda cmd, path: self.records.append((cmd, path)))
        server_args.setdefault("knob_addresses", self.ctl.knob_addresses())
        self.srv = OscServer(port=0, **server_args).start()
        self.cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cli.bind(("127.0.0.1", 0))
        self.cli.settimeout(DEADLINE)
        self.executed = []

    def close(self):
        self.srv.close()
        self.cli.close()

    def send(self, address, *args):
        osc.send("127.0.0.1", self.srv.port, address, *args, sock=self.cli)

    def raw(self, data):
        self.cli.sendto(data, ("127.0.0.1", self.srv.port))

    def pump(self, ticks=1):
        for _ in range(ticks):
            replies = []
            for cmd in self.srv.drain():
                self.executed.append(cmd)
                replies += self.ctl.submit(cmd.op, cmd.args, cmd.timetag, cmd.reply_addr)
            replies += self.ctl.run_due()
            self.m.tick()
            self.srv.send_replies(replies)

    def reply(self, acks=False):
        """The next reply; the acknowledgements (/dmm/ok) passed over unless `acks`."""
        while True:
            data, _ = self.cli.recvfrom(1 << 16)
            [(msg, _)] = parse_packet(data)
            if acks or msg.address != "/dmm/ok":
                return msg.address, msg.params

    def w(self, *path):
        x = vv.path(self.m.matrix, *path)
        return x if vv.is_number(x) else 0.0


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path)
    yield r
    r.close()


def handled(srv):
    """Messages whose fate is settled: queued, answered with an error, or dropped."""
    s = srv.stats()
    return s["accepted"] + s["rejected"] + s["dropped"]


def roundtrip(rig, address, *args, ticks=3):
    before = handled(rig.srv)
    rig.send(address, *args)
    wait_for(lambda: handled(rig.srv) > before, address)
    rig.pump(ticks)


# ---- every address --------------------------------------------------------------------
def test_set_add_value(rig):
    roundtrip(rig, "/dmm/set", "out.left", "d.out", 0.5)
    assert rig.w("out", "left", "d", "out") == pytest.approx(0.5)
    assert rig.reply(acks=True) == ("/dmm/ok", ["/dmm/set", "out.left", "d.out", 0.5])  # done, said
    roundtrip(rig, "/dmm/add", "out.left", "d.out", 0.25)
    assert rig.w("out", "left", "d", "out") == pytest.approx(0.75)
    roundtrip(rig, "/dmm/add", "out.left", "d.out", 1)   # an int is a number too
    assert rig.w("out", "left", "d", "out") == pytest.approx(1.75)
    roundtrip(rig, "/dmm/value", "d.level", 0.5)
    assert rig.w("d", "level", "one", "out") == pytest.approx(0.5)
    assert rig.m.input("out", "left")[-1] == pytest.approx(1.75 * 0.5)
    assert rig.srv.stats()["rejected"] == 0


def test_neuron_and_remove(rig):
    roundtrip(rig, "/dmm/neuron", "s", "test_dc_osc", "level", 0.25)
    roundtrip(rig, "/dmm/set", "out.left", "s.out", 1.0)
    assert rig.m.neurons["s"] == "test_dc_osc"
    assert rig.m.input("out", "left")[-1] == pytest.approx(0.2 + 0.25)
    roundtrip(rig, "/dmm/remove", "s", ticks=5)
    assert "s" not in rig.m.neurons
    assert rig.m.input("out", "left")[-1] == pytest.approx(0.2)


def test_code_and_load(rig, tmp_path):
    roundtrip(rig, "/dmm/code", "fade(0)\ne = test_dc_osc(level=0.5)\nout.left = 0.5*e\n")
    assert rig.m.neurons["e"] == "test_dc_osc"
    assert rig.m.input("out", "left")[-1] == pytest.approx(0.25)
    (tmp_path / "p.dmm").write_text("fade(0)\ne = test_dc_osc(level=0.5)\nout.left = 0.1*e\n")
    roundtrip(rig, "/dmm/load", "p.dmm")
    assert rig.m.input("out", "left")[-1] == pytest.approx(0.05)
    roundtrip(rig, "/dmm/load", "../elsewhere.dmm")
    address, (where, reason) = rig.reply()
    assert address == "/dmm/error" and where == "/dmm/load" and "outside" in reason


def test_a_patch_error_comes_back_with_its_position(rig):
    roundtrip(rig, "/dmm/code", "e = test_dc_osc(level=0.5)\nout.left = 0.5*ee\n")
    address, (where, reason) = rig.reply()
    assert address == "/dmm/error" and where == "/dmm/code" and reason.startswith("<osc>:2:16:")


def test_a_large_patch_text_fits_in_one_datagram(rig):
    text = "fade(0)\n" + "# a long comment\n" * 3500 + "e = test_dc_osc(level=0.5)\nout.left = 3*e\n"
    assert 50_000 < len(text) < 65_000
    roundtrip(rig, "/dmm/code", text)
    assert rig.srv.stats()["rejected"] == 0
    roundtrip(rig, "/dmm/get", "out.left")   # the reply is an error if the code was refused
    assert rig.reply() == ("/dmm/value", ["out.left", pytest.approx(1.5)])


def test_record(rig):
    roundtrip(rig, "/dmm/record", "start", "take.mp4")
    roundtrip(rig, "/dmm/record", "stop")
    assert rig.records == [("start", "take.mp4"), ("stop", None)]


def test_get_replies_to_the_sender(rig):
    roundtrip(rig, "/dmm/get", "d")
    address, (ref, x) = rig.reply()
    assert (address, ref) == ("/dmm/value", "d") and x == pytest.approx(1.0)
    roundtrip(rig, "/dmm/get", "out.left")
    assert rig.reply() == ("/dmm/value", ["out.left", pytest.approx(0.2)])


def test_replies_can_go_to_a_fixed_port(tmp_path):
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(DEADLINE)
    r = Rig(tmp_path, reply_port=other.getsockname()[1])
    try:
        roundtrip(r, "/dmm/get", "d")
        [(msg, _)] = parse_packet(other.recvfrom(1 << 16)[0])
        assert msg.address == "/dmm/value"
    finally:
        r.close()
        other.close()


def test_knobs_touchosc_fader_xy_and_toggle(rig):
    roundtrip(rig, "/1/fader1", 0.75)
    roundtrip(rig, "/1/xy1", 0.25, 0.5)
    assert rig.m.input("out", "right")[-1] == pytest.approx(0.75 + 0.25 + 5.0)
    roundtrip(rig, "/1/toggle1", True)      # T
    roundtrip(rig, "/1/xy1", 0, 0)          # ints
    assert rig.m.input("out", "right")[-1] == pytest.approx(0.75 + 100.0)
    roundtrip(rig, "/1/toggle1", False)
    assert rig.m.input("out", "right")[-1] == pytest.approx(0.75)
    assert rig.srv.stats()["rejected"] == 0


def test_knobs_the_listener_does_not_know_are_checked_by_the_engine(tmp_path):
    r = Rig(tmp_path, knob_addresses=None)
    try:
        roundtrip(r, "/1/fader1", 0.25)
        assert r.m.input("out", "right")[-1] == pytest.approx(0.25)
        roundtrip(r, "/1/fader7", 0.25)
        address, (where, reason) = r.reply()
        assert address == "/dmm/error" and where == "/1/fader7" and "no knob listens" in reason
        r.srv.set_knobs({"/1/fader1"})
        roundtrip(r, "/1/fader7", 0.25)
        assert r.reply()[1][0] == "/1/fader7"
        assert r.srv.stats()["rejected"] == 1   # this time the listener answered
    finally:
        r.close()


def test_osc_address_patterns_match(rig):
    roundtrip(rig, "/dmm/s?t", "out.left", "d.out", 0.5)
    assert rig.w("out", "left", "d", "out") == pytest.approx(0.5)


# ---- bad messages ---------------------------------------------------------------------
BAD = [
    ("/dmm/set", ["out.left", "d.out"], "expected dst.port src.port w"),
    ("/dmm/set", ["out.left", "d.out", "0.5"], "got (string, string, string)"),
    ("/dmm/set", ["out.left", "d.out", True], "got (string, string, bool)"),
    ("/dmm/set", ["out.left", "d.out", float("inf")], "finite"),
    ("/dmm/set", ["out.left", 1, 0.5], "expected dst.port src.port w"),
    ("/dmm/add", [], "got no arguments"),
    ("/dmm/value", ["d.level", 1.0, 2.0], "expected name.port x"),
    ("/dmm/neuron", ["s"], "expected name type"),
    ("/dmm/neuron", ["s", "test_dc_osc", "level"], "expected name type"),
    ("/dmm/neuron", ["s", "test_dc_osc", 1.0, 2.0], "key 1.0 is not a string"),
    ("/dmm/neuron", ["s", "test_dc_osc", "level", b"\x01"], "finite number or a string"),
    ("/dmm/remove", [], "expected name"),
    ("/dmm/remove", ["a", "b"], "expected name"),
    ("/dmm/code", [3], "expected patch text"),
    ("/dmm/load", [""], "path must be a non-empty string, got '' (/dmm/load path)"),
    # of the right types, a value that is not a number: said as such, not as a type mismatch
    ("/dmm/value", ["d.level", float("nan")], "value must be a finite number, got nan (/dmm/value name.port x)"),
    ("/dmm/set", ["out.left", "d.out", float("-inf")], "weight must be a finite number, got -inf (/dmm/set"),
    ("/dmm/record", ["pause"], "'start' [path] or 'stop'"),
    ("/dmm/record", ["stop", "x.mp4"], "'start' [path] or 'stop'"),
    ("/dmm/get", [1.0], "expected name.port"),
    ("/1/fader1", ["loud"], "a knob takes one number"),
    ("/1/fader1", [0.1, 0.2], "is a knob: send one number"),
    ("/1/xy1", [0.1], "is an xy pad"),
    ("/1/fader1", [], "a knob takes one number"),
    ("/dmm/sett", ["a", "b", 1.0], "unknown address (did you mean /dmm/set?)"),
    ("/nothing/here", [1.0], "unknown address: no knob listens to it"),
    ("/1/fader2", [1.0], "did you mean /1/fader1?"),
]


@pytest.mark.parametrize("address,args,why", BAD)
def test_bad_messages_are_answered_and_ignored(rig, address, args, why):
    before = rig.m.matrix
    rig.send(address, *args)
    got, (where, reason) = rig.reply()
    assert got == "/dmm/error" and where == address and why in reason
    s = rig.srv.stats()
    assert (s["rejected"], s["accepted"], s["messages"]) == (1, 0, 1)
    rig.pump(2)
    assert vv.equal(rig.m.matrix, before)


def test_errors_found_by_the_engine_come_back_too(rig):
    roundtrip(rig, "/dmm/set", "out.left", "nope.out", 0.5)
    address, (where, reason) = rig.reply()
    assert address == "/dmm/error" and where == "/dmm/set" and "unknown neuron 'nope'" in reason


def valid_packets():
    return [build("/dmm/set", ["out.left", "d.out", 0.5]), build("/dmm/neuron", ["s", "t", "k", "v", "x", 1.0]),
            build("/1/xy1", [0.1, 0.2]), build("/dmm/code", ["a = b()\n" * 5]),
            _bundle(1e9 + 100, [("/dmm/add", ["a.b", "c.d", 1.0]), ("/dmm/get", ["d"])])]


def test_truncated_packets_are_answered(rig):
    # A cut at a 4-byte boundary can leave a well-formed packet (an address with no
    # arguments, an empty bundle, a bundle's first message): those are judged as such.
    fates = 0   # datagrams refused whole, plus messages read
    for p in valid_packets():
        for cut in range(1, len(p)):
            before = rig.srv.stats()["rejected"]
            rig.raw(p[:cut])
            try:
                fates += len(parse_packet(p[:cut]))
            except PacketError:
                fates += 1
            wait_for(lambda: handled(rig.srv) == fates, "the packet")
            for _ in range(rig.srv.stats()["rejected"] - before):   # read as we go: no pile-up
                address, args = rig.reply()
                assert address == "/dmm/error" and len(args) == 2
    s = rig.srv.stats()
    assert s["accepted"] == 1 and s["internal_errors"] == 0   # /dmm/add, complete inside a cut bundle
    rig.srv.drain()
    roundtrip(rig, "/dmm/set", "out.left", "d.out", 0.5)   # still up
    assert rig.w("out", "left", "d", "out") == pytest.approx(0.5)


def test_oversized_packets_are_refused(tmp_path):
    r = Rig(tmp_path, max_packet=1024)
    try:
        r.send("/dmm/code", "x" * 2000)
        address, (where, reason) = r.reply()
        assert address == "/dmm/error" and where == "/dmm/code" and "larger than 1024 bytes" in reason
        r.raw(b"\x00" * 3000)
        assert "larger than" in r.reply()[1][1]
        assert r.srv.stats()["rejected"] == 2 and r.srv.stats()["accepted"] == 0
    finally:
        r.close()


def test_random_bytes_never_stop_the_listener(rig):
    gen = random.Random(1234)
    packets = []
    for i in range(400):
        n = gen.choice([0, 1, 3, 4, 7, 8, 16, 33, 64, 200, 1500])
        body = bytes(gen.getrandbits(8) for _ in range(n))
        prefix = gen.choice([b"", b"/", b"#bundle\x00", b"/dmm/set\x00\x00\x00\x00", b"/dmm/set\x00\x00\x00\x00,ssf"])
        packets.append(prefix + body)
    packets = [p for p in packets if p]   # an empty datagram is nothing to answer
    answered = 0
    for p in packets:
        rig.raw(p)
        try:               # a refused datagram gets one answer; a readable one, one per message
            expect = len(parse_packet(p))
        except PacketError:
            expect = 1
        for _ in range(expect):
            address, args = rig.reply()
            assert address == "/dmm/error" and len(args) == 2
            answered += 1
    wait_for(lambda: rig.srv.stats()["received"] == len(packets), "all packets")
    s = rig.srv.stats()
    assert s["internal_errors"] == 0 and s["accepted"] == 0 and s["dropped"] == 0
    assert s["rejected"] == answered and s["replies_suppressed"] == 0
    wait_for(lambda: rig.srv.stats()["replies"] == answered, "the reply count")  # counted after sending
    roundtrip(rig, "/dmm/get", "d")
    assert rig.reply()[0] == "/dmm/value"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.builds(lambda p, i, b: p[:i] + b + p[i + len(b):],
                                            st.sampled_from(valid_packets()), st.integers(0, 120),
                                            st.binary(min_size=1, max_size=8)))
def test_parse_packet_raises_only_packet_error(data):
    try:
        msgs = parse_packet(data)
    except PacketError:
        return
    for msg, tt in msgs:
        assert msg.address.startswith("/")
        assert tt is None or isinstance(tt, float)


# ---- bundles --------------------------------------------------------------------------
def test_a_bundle_with_a_future_timetag_lands_at_its_tick(rig):
    period = BLOCK / RATE
    t0 = time.time()
    rig.ctl.clock = (rig.m.t + 1, t0)   # the next tick is heard at t0
    when = t0 + 20.5 * period           # mid-tick: NTP rounding cannot move it across a boundary
    target = rig.m.t + 1 + 21
    rig.raw(_bundle(when, [("/dmm/set", ["out.left", "d.out", 0.7])]))
    wait_for(lambda: rig.srv.stats()["accepted"] == 1, "the bundle")
    [cmd] = rig.srv.drain()
    assert cmd.op == "set" and cmd.timetag == pytest.approx(when, abs=1e-6)
    assert rig.ctl.submit(cmd.op, cmd.args, cmd.timetag, cmd.reply_addr) == []
    first = None
    while rig.m.t < target + 3:
        rig.ctl.run_due()
        rig.m.tick()
        if first is None and rig.m.input("out", "left")[0] > 0.5:
            first = rig.m.t
    assert abs(first - target) <= 1 and first == target


def test_bundles_never_make_the_listener_sleep(rig):
    far = time.time() + 3600
    rig.raw(_bundle(far, [("/dmm/add", ["out.left", "d.out", 1.0])]))
    rig.send("/dmm/get", "d")
    wait_for(lambda: rig.srv.stats()["accepted"] == 2, "both messages")  # not an hour later
    cmds = rig.srv.drain()
    assert [c.op for c in cmds] == ["add", "get"]
    assert cmds[0].timetag == pytest.approx(far, abs=1e-6) and cmds[1].timetag is None


def test_immediate_and_nested_bundles(rig):
    inner_t = time.time() + 50
    inner = OscBundleBuilder(inner_t)
    inner.add_content(_msg("/dmm/get", ["d"]))
    rig.raw(_bundle(osc_types.IMMEDIATELY, [("/dmm/add", ["out.left", "d.out", 1.0]),
                                           ("/dmm/remove", [])], nested=inner.build()))
    got, (where, _) = rig.reply()
    assert got == "/dmm/error" and where == "/dmm/remove"   # one bad message; the others go on
    wait_for(lambda: rig.srv.stats()["accepted"] == 2, "the bundle")
    cmds = rig.srv.drain()
    assert [(c.op, c.timetag) for c in cmds] == [("add", None), ("get", pytest.approx(inner_t, abs=1e-6))]


# ---- load -------------------------------------------------------------------------------
def test_a_flood_is_bounded_and_what_was_accepted_is_applied(tmp_path):
    size = 512
    r = Rig(tmp_path, queue_size=size)
    try:
        n = 20_000
        msg = build("/dmm/add", ["out.right", "d.out", 1.0])
        to = ("127.0.0.1", r.srv.port)
        for _ in range(n):
            r.cli.sendto(msg, to)
        # A marker the listener answers itself (an unknown address: never queued, so never
        # dropped): once the answer to the last one sent is back, every datagram before it
        # was read and judged. A marker lost in a full socket buffer is sent again.
        r.cli.settimeout(0.01)
        markers, done = 0, False
        while not done:
            marker = f"/marker/{markers}"
            r.send(marker, 1.0)
            markers += 1
            end = time.monotonic() + 0.5
            while not done and time.monotonic() < end:
                r.pump()
                try:
                    address, args = r.reply()
                except socket.timeout:
                    continue
                done = address == "/dmm/error" and args[0] == marker
        while r.srv.stats()["queued"]:
            r.pump()
        r.pump(2)
        s = r.srv.stats()
        adds = sum(1 for c in r.executed if c.op == "add")
        assert len(r.executed) == adds == s["accepted"]
        assert s["max_depth"] <= size
        assert s["accepted"] + s["dropped"] + s["rejected"] == s["messages"] == s["received"] <= n + markers
        assert 1 <= s["rejected"] <= markers and s["internal_errors"] == 0
        assert adds > 0
        assert r.w("out", "right", "d", "out") == pytest.approx(float(adds))
        print(f"flood: {n} sent, {s['received'] - s['rejected']} read, {adds} applied, {s['dropped']} dropped "
              f"by the full queue, max depth {s['max_depth']}")
    finally:
        r.close()


def test_submit_is_called_from_a_thread_of_its_own(tmp_path):
    got = []
    done = threading.Event()

    def submit(cmd):
        got.append((cmd, threading.current_thread().name))
        if len(got) == 3:
            done.set()
        if cmd.op == "get":
            raise RuntimeError("consumer trouble")

    srv = OscServer(port=0, submit=submit).start()
    try:
        for args in (["a.b", "c.d", 1.0], ["a.b", "c.d", 2.0]):
            osc.send("127.0.0.1", srv.port, "/dmm/add", *args)
        osc.send("127.0.0.1", srv.port, "/dmm/get", "d")
        assert done.wait(DEADLINE)
        wait_for(lambda: srv.stats()["submit_failures"] == 1, "the failure")
        assert [c.args[2] for c, _ in got[:2]] == [1.0, 2.0]
        assert {name for _, name in got} == {"dmmlive-osc-forward"}
        assert srv.drain() == []
    finally:
        srv.close()


# ---- who may send ---------------------------------------------------------------------------
def test_allow_list_ignores_other_senders(tmp_path):
    r = Rig(tmp_path, allow=["127.0.0.1/32"])
    try:
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            other.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("cannot send from 127.0.0.2 here (the filter is tested below)")
        with other:
            other.sendto(build("/dmm/set", ["out.left", "d.out", 0.9]), ("127.0.0.1", r.srv.port))
            wait_for(lambda: r.srv.stats()["denied"] == 1, "the denied packet")
        roundtrip(r, "/dmm/set", "out.left", "d.out", 0.5)
        s = r.srv.stats()
        assert (s["received"], s["denied"], s["accepted"], s["rejected"]) == (2, 1, 1, 0)
        assert r.w("out", "left", "d", "out") == pytest.approx(0.5)
    finally:
        r.close()


def test_sender_filter_and_bind_warning():
    nets = ["127.0.0.1/32", "192.168.1.0/24", "::1/128"]
    assert osc.sender_allowed("127.0.0.1", nets)
    assert osc.sender_allowed("192.168.1.77", nets)
    assert osc.sender_allowed("::ffff:192.168.1.5", nets)
    assert osc.sender_allowed("::1", nets)
    assert not osc.sender_allowed("127.0.0.2", nets)
    assert not osc.sender_allowed("10.0.0.1", nets)
    assert not osc.sender_allowed("not an ip", nets)
    assert osc.bind_warning("127.0.0.1", 9000, None) is None
    assert osc.bind_warning("localhost", 9000, None) is None
    assert osc.bind_warning("::1", 9000, None) is None
    assert "not on loopback: anyone" in osc.bind_warning("0.0.0.0", 9000, None)
    assert "senders in 192.168.1.0/24" in osc.bind_warning("0.0.0.0", 9000, ["192.168.1.0/24"])
    srv = OscServer(host="0.0.0.0", port=0, allow=["127.0.0.0/8"])
    try:
        assert "not on loopback" in srv.warning
    finally:
        srv.close()
    with pytest.raises(osc.OscError, match="bad allow-list"):
        OscServer(port=0, allow=["300.1.1.1/8"])


def test_a_port_in_use_is_a_readable_error():
    with OscServer(port=0) as a:
        with pytest.raises(osc.OscError, match=f"cannot listen for OSC on 127.0.0.1:{a.port}"):
            OscServer(port=a.port)


# ---- the client -------------------------------------------------------------------------------
def test_parse_arg():
    assert [osc.parse_arg(x) for x in ["1", "-2", "0.5", "-1e3", ".5", "out.left", "1.2.3", "nan", "inf", ""]] == \
        [1, -2, 0.5, -1000.0, 0.5, "out.left", "1.2.3", "nan", "inf", ""]


def test_main_send_waits_for_the_reply(rig, capsys):
    result = {}

    def run(argv):
        result["rc"] = osc.main_send(argv)

    wait = ["--port", str(rig.srv.port), "--wait", "--timeout", "5"]
    for argv, rc, out in [(wait + ["/dmm/get", "d"], 0, "/dmm/value d 1.0"),
                          (wait + ["/dmm/value", "d.level", "0.5"], 0, "/dmm/ok /dmm/value d.level 0.5\n"),
                          (wait + ["/dmm/value", "d.level", "1"], 0, "/dmm/ok /dmm/value d.level 1.0\n"),
                          (wait + ["/dmm/set", "a", "b"], 1,
                           "/dmm/error /dmm/set expected dst.port src.port w")]:
        t = threading.Thread(target=run, args=(argv,))
        t.start()
        while t.is_alive():
            rig.pump()
            t.join(0.005)
        assert result["rc"] == rc
        assert capsys.readouterr().out.startswith(out)
    assert osc.main_send(["--port", str(rig.srv.port), "/dmm/add", "out.left", "d.out", "-1"]) == 0
    wait_for(lambda: rig.srv.stats()["accepted"] == 4, "the add")
    rig.pump(2)
    assert rig.w("out", "left", "d", "out") == pytest.approx(-0.8)
    assert osc.main_send(["--port", str(rig.srv.port), "--wait", "--timeout", "0.05", "/dmm/add",
                          "out.left", "d.out", "1"]) == 3   # nobody pumps: no reply
    assert "no reply from 127.0.0.1:" in capsys.readouterr().err
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert osc.main_send(["--port", str(free), "--wait", "--timeout", "0.2", "/dmm/get", "d"]) == 3
    assert f"is `dmmlive play` running there with OSC on port {free}?" in capsys.readouterr().err
    assert osc.main_send(["dmm/set"]) == 2
