#!/usr/bin/env python3
"""A packet-level TCP peer, made with Scapy, for the stack on a TUN link.

Usage: scapy_peer.py CASE [4|6]

httpd runs with --link tun in this network namespace: the kernel holds
10.0.0.1 and fd00::1 on tcp0 and the stack answers as 10.0.0.2 and
fd00::2. We speak as 10.0.0.3 (or fd00::3 with 6, every case the same
over IPv6), an address of the subnet that no interface holds, so the
kernel stays out of the exchange: our segments are written straight onto
tcp0 (to httpd) with an AF_PACKET socket, and the stack's replies are read
off tcp0 the same way (the kernel, not forwarding, drops them after we
have our copy). /_stack.json is asked over the kernel's TCP and IPv4.
Exits 0 when the stack behaved; else says what went wrong and exits 1.
"""
import json
import queue
import random
import socket
import sys
import threading
import time

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.packet import Raw

IFACE = "tcp0"
PORT = 8080
ETH_P_ALL, ETH_P_IP, ETH_P_IPV6 = 0x0003, 0x0800, 0x86DD
PACKET_OUTGOING = 4
CASE = sys.argv[1]
V6 = len(sys.argv) > 2 and sys.argv[2] == "6"
STACK4 = "10.0.0.2"
if V6:
    STACK, HOST, PEER, L3, ETH_P = "fd00::2", "fd00::1", "fd00::3", IPv6, ETH_P_IPV6
    # The MSS the stack offers on an MTU of 1500: less IPv6's 40-byte header and TCP's 20.
    MSS = 1440
else:
    STACK, HOST, PEER, L3, ETH_P = STACK4, "10.0.0.1", "10.0.0.3", IP, ETH_P_IP
    MSS = 1460


def fail(msg):
    print(f"{CASE}: {msg}", file=sys.stderr)
    sys.exit(1)


class Wire:
    """Sends our IP packets onto tcp0 and collects the stack's to PEER."""

    def __init__(self):
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P))
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        self.rx.bind((IFACE, ETH_P_ALL))
        self.q = queue.Queue()
        threading.Thread(target=self.sniff, daemon=True).start()

    def sniff(self):
        while True:
            data, addr = self.rx.recvfrom(65536)
            if addr[2] == PACKET_OUTGOING or not data or data[0] >> 4 != (6 if V6 else 4):
                continue
            pkt = L3(data)
            if pkt.src == STACK and pkt.dst == PEER and TCP in pkt:
                self.q.put(pkt)

    def send(self, pkt):
        self.tx.sendto(bytes(pkt), (IFACE, ETH_P))

    def expect(self, what, pred=lambda p: True, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"no {what} within {timeout}s")
            try:
                pkt = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if pred(pkt):
                return pkt

    def expect_none(self, what, timeout=1.0):
        try:
            pkt = self.q.get(timeout=timeout)
        except queue.Empty:
            return
        fail(f"{what}: the stack answered {pkt.summary()} {flags(pkt)}")


def flags(pkt):
    return str(pkt[TCP].flags)


def has(pkt, f):
    return f in flags(pkt)


def payload(pkt):
    return bytes(pkt[TCP].payload)


class Peer:
    """One TCP connection, driven by hand."""

    def __init__(self, wire, dport=PORT):
        self.wire, self.dport = wire, dport
        self.sport = random.randint(20000, 60000)
        self.iss = random.getrandbits(32)
        self.seq = self.iss
        self.ack = 0
        self.received = b""
        # [our last TSval, the stack's to echo] once both SYNs carried
        # timestamps: then every segment must (RFC 7323 §3.2).
        self.ts = None

    def seg(self, flags, data=b"", seq=None, ack=None, options=None, chksum=None, window=65535, ext=None):
        """Sends one segment; `ext`: IPv6 extension headers to put before it."""
        if options is None and self.ts:
            self.ts[0] += 1
            options = [("NOP", None), ("NOP", None), ("Timestamp", tuple(self.ts))]
        tcp = TCP(sport=self.sport, dport=self.dport, flags=flags, window=window,
                  seq=self.seq if seq is None else seq, ack=self.ack if ack is None else ack,
                  options=options or [])
        if chksum is not None:
            tcp.chksum = chksum
        pkt = L3(src=PEER, dst=STACK)
        for header in ext or []:
            pkt = pkt / header
        pkt = pkt / tcp
        if data:
            pkt = pkt / Raw(data)
        self.wire.send(pkt)

    def mine(self, p):
        return p[TCP].dport == self.sport and p[TCP].sport == self.dport

    def expect(self, what, pred=lambda p: True, timeout=3.0):
        return self.wire.expect(what, lambda p: self.mine(p) and pred(p), timeout)

    def handshake(self, options=None, ext=None):
        options = options or [("MSS", 1460)]
        self.seg("S", options=options, ext=ext)
        synack = self.expect("SYN,ACK", lambda p: has(p, "S"))
        if flags(synack) != "SA" or synack[TCP].ack != (self.iss + 1) % 2**32:
            fail(f"bad SYN,ACK: {flags(synack)} ack={synack[TCP].ack}, want {self.iss + 1}")
        ours, theirs = dict(options).get("Timestamp"), dict(synack[TCP].options).get("Timestamp")
        if ours and theirs:
            self.ts = [ours[0], theirs[0]]
        self.seq = (self.iss + 1) % 2**32
        self.ack = (synack[TCP].seq + 1) % 2**32
        self.seg("A")
        return synack

    def request(self, text):
        data = text.encode()
        self.seg("PA", data)
        self.seq = (self.seq + len(data)) % 2**32
        return data

    def read_response(self, until_fin=False, timeout=5.0):
        """ACKs the stack's data in order until a whole response (or FIN)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.expect("response data", timeout=max(0.1, deadline - time.monotonic()))
            data = payload(p)
            if p[TCP].seq == self.ack and (data or has(p, "F")):
                self.received += data
                self.ack = (self.ack + len(data) + (1 if has(p, "F") else 0)) % 2**32
                self.seg("A")
                if has(p, "F"):
                    return p
            if not until_fin and complete(self.received):
                return None


def complete(buf):
    if b"\r\n\r\n" not in buf:
        return False
    head, body = buf.split(b"\r\n\r\n", 1)
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def stack_json():
    """/_stack.json through the namespace's kernel (10.0.0.1), which closes first."""
    s = socket.create_connection((STACK4, PORT), timeout=5)
    s.sendall(b"GET /_stack.json HTTP/1.1\r\nHost: t\r\n\r\n")
    buf = b""
    while not complete(buf):
        data = s.recv(65536)
        if not data:
            break
        buf += data
    s.close()
    return json.loads(buf.split(b"\r\n\r\n", 1)[1])


def conn(peer):
    """The stack's view of this peer's connection, or None."""
    me = f"[{PEER}]:{peer.sport}" if V6 else f"{PEER}:{peer.sport}"
    for c in stack_json()["connections"]:
        if c["remote"] == me:
            return c
    return None


def conn_state(peer):
    c = conn(peer)
    return c and c["state"]


def counter(name):
    return stack_json()["counters"][name]


# --- the cases -------------------------------------------------------------

def closed_port(w):
    p = Peer(w, dport=81)
    p.seg("S")
    r = p.expect("RST to a SYN on a closed port")
    if flags(r) != "RA" or r[TCP].ack != (p.iss + 1) % 2**32 or r[TCP].seq != 0:
        fail(f"want RST,ACK seq=0 ack={p.iss + 1}, got {flags(r)} seq={r[TCP].seq} ack={r[TCP].ack}")


def handshake(w):
    offered = [("MSS", 1400), ("SAckOK", b""), ("Timestamp", (12345, 0)), ("NOP", None), ("WScale", 7)]
    p = Peer(w)
    synack = p.handshake(offered)
    opts = dict((k, v) for k, v in synack[TCP].options if k not in ("NOP", "EOL"))
    if opts.get("MSS") != MSS:
        fail(f"SYN,ACK options {synack[TCP].options}: want MSS {MSS} (MTU 1500 less the headers)")
    for k in opts:
        if k not in dict(offered):
            fail(f"SYN,ACK has option {k}, which the SYN did not offer")
    if (synack[TCP].window or 0) == 0:
        fail("SYN,ACK with a zero window")
    if conn_state(p) != "ESTABLISHED":
        fail(f"after the ACK the stack says {conn_state(p)}")
    # A SYN without options gets only MSS back.
    q = Peer(w)
    q.seg("S")
    synack = q.expect("SYN,ACK", lambda x: has(x, "S"))
    extra = [k for k, _ in synack[TCP].options if k not in ("MSS", "NOP", "EOL")]
    if extra:
        fail(f"SYN,ACK to an option-less SYN carries {extra}")


def data_acked(w):
    p = Peer(w)
    p.handshake()
    end = (p.seq + len(p.request("GET /files/1KiB.txt HTTP/1.1\r\nHost: t\r\n\r\n"))) % 2**32
    p.expect("ACK of the request", lambda x: x[TCP].ack == end)
    p.read_response()
    if not p.received.startswith(b"HTTP/1.1 200 ") or not p.received.endswith(b"\n"):
        fail(f"response {p.received[:60]!r}")


def out_of_order(w):
    p = Peer(w)
    p.handshake()
    req = b"GET /files/1KiB.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    base = p.seq
    # The second half first: held, and the gap ACKed (ACK stays at base).
    p.seg("PA", req[10:], seq=(base + 10) % 2**32)
    dup = p.expect("ACK of the gap", lambda x: not payload(x))
    if dup[TCP].ack != base:
        fail(f"out-of-order segment: ACK {dup[TCP].ack}, want {base} (the gap)")
    # The gap filled: everything ACKed at once, and the request answered.
    p.seg("PA", req[:10], seq=base)
    p.seq = (base + len(req)) % 2**32
    p.expect("ACK past both segments", lambda x: x[TCP].ack == p.seq)
    p.read_response()
    if not p.received.startswith(b"HTTP/1.1 200 "):
        fail(f"response {p.received[:60]!r}")


def close_server_first(w, p):
    p.handshake()
    p.request("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    fin = p.read_response(until_fin=True)
    if not p.received.startswith(b"HTTP/1.1 200 "):
        fail(f"response {p.received[:60]!r}")
    state = conn_state(p)
    if state != "FIN-WAIT-2":
        fail(f"server sent FIN and we ACKed it: state {state}, want FIN-WAIT-2")
    # Our FIN; the stack ACKs it and enters TIME-WAIT.
    p.seg("FA")
    fin_ack = (p.seq + 1) % 2**32
    a = p.expect("ACK of our FIN", lambda x: x[TCP].ack == fin_ack)
    if has(a, "F") or has(a, "R"):
        fail(f"ACK of our FIN has flags {flags(a)}")
    if conn_state(p) is not None:
        fail(f"connection still listed as {conn_state(p)} (TIME-WAIT is kept apart)")
    if stack_json()["time_wait"] < 1:
        fail("no connection in TIME-WAIT")
    return fin, fin_ack


def four_way_close(w):
    close_server_first(w, Peer(w))


def time_wait_fin(w):
    p = Peer(w)
    _, fin_ack = close_server_first(w, p)
    time.sleep(0.3)
    # Our FIN again, as if the stack's ACK were lost: ACKed again.
    p.seg("FA")
    a = p.expect("ACK of the retransmitted FIN in TIME-WAIT", lambda x: x[TCP].ack == fin_ack)
    if flags(a) != "A":
        fail(f"retransmitted FIN answered with {flags(a)}")


def rst_out_of_window(w):
    p = Peer(w)
    p.handshake()
    p.seg("R", seq=(p.seq + 2**30) % 2**32)
    p.seg("R", seq=(p.seq - 2**20) % 2**32)
    w.expect_none("an RST outside the window", timeout=0.5)
    still_serves(p, "an out-of-window RST")


def bad_checksum_syn(w):
    before = stack_json()["counters"]["drop_checksum"]
    p = Peer(w)
    p.seg("S", options=[("MSS", 1460)], chksum=0xBAD)
    w.expect_none("a SYN with a bad checksum", timeout=1.0)
    after = stack_json()["counters"]["drop_checksum"]
    if after != before + 1:
        fail(f"drop_checksum {before} -> {after}, want +1")
    # The same SYN with its checksum right is answered.
    p.handshake()


def expect_challenge_ack(p, what):
    """RFC 5961's challenge ACK: <SEQ=SND.NXT><ACK=RCV.NXT>, no data."""
    a = p.expect(f"a challenge ACK to {what}")
    if flags(a) != "A" or a[TCP].seq != p.ack or a[TCP].ack != p.seq or payload(a):
        fail(f"{what}: want ACK seq={p.ack} ack={p.seq}, got {flags(a)} seq={a[TCP].seq} ack={a[TCP].ack} "
             f"len={len(payload(a))}")


def still_serves(p, what):
    """The connection is ESTABLISHED and answers a request."""
    if conn_state(p) != "ESTABLISHED":
        fail(f"after {what} the connection is {conn_state(p)}")
    p.request("GET /files/1KiB.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    p.read_response()
    if not p.received.startswith(b"HTTP/1.1 200 "):
        fail(f"after {what}: response {p.received[:60]!r}")


def rst_in_window(w):
    """An RST in the window but not at RCV.NXT: challenged, not obeyed."""
    p = Peer(w)
    p.handshake()
    before = counter("challenge_acks")
    p.seg("R", seq=(p.seq + 1000) % 2**32)
    expect_challenge_ack(p, "an RST in the window")
    if counter("challenge_acks") != before + 1:
        fail("challenge_acks did not count it")
    still_serves(p, "an RST in the window")


def rst_exact(w):
    """An RST exactly at RCV.NXT resets the connection."""
    p = Peer(w)
    p.handshake()
    before = counter("rsts_received")
    p.seg("R")
    w.expect_none("an RST at RCV.NXT", timeout=0.5)
    if conn_state(p) is not None:
        fail(f"after an RST at RCV.NXT the connection is {conn_state(p)}")
    if counter("rsts_received") != before + 1:
        fail("rsts_received did not count it")
    # The connection is gone: data on its 4-tuple is answered with RST.
    p.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    r = p.expect("RST to data on the reset connection")
    if not has(r, "R"):
        fail(f"data after the reset answered with {flags(r)}")


def syn_established(w):
    """A SYN on an established connection: a challenge ACK, no reset."""
    p = Peer(w)
    p.handshake()
    p.seg("S", seq=random.getrandbits(32), ack=0, options=[("MSS", 1460)])
    expect_challenge_ack(p, "a SYN on an established connection")
    still_serves(p, "a SYN")


def ack_out_of_window(w):
    """Data whose ACK is far outside [SND.UNA - MAX.SND.WND, SND.NXT]: dropped
    with an ACK, its data not taken, nothing in the connection moves."""
    p = Peer(w)
    p.handshake()
    before = {k: conn(p)[k] for k in ("snd_una", "snd_nxt", "rcv_nxt")}
    for ack, what in [((p.ack + 2**30) % 2**32, "an ACK far ahead"), ((p.ack - 2**20) % 2**32, "an ACK far behind")]:
        p.seg("PA", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", ack=ack)
        expect_challenge_ack(p, what)
    w.expect_none("data with an unacceptable ACK", timeout=0.5)
    after = {k: conn(p)[k] for k in before}
    if after != before:
        fail(f"unacceptable ACKs moved the connection: {before} -> {after}")
    still_serves(p, "unacceptable ACKs")


def bad_checksum_data(w):
    """A data segment with a bad checksum is dropped and counted, not ACKed."""
    p = Peer(w)
    p.handshake()
    before = counter("drop_checksum")
    p.seg("PA", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", chksum=0xBAD)
    w.expect_none("data with a bad checksum", timeout=1.0)
    if counter("drop_checksum") != before + 1:
        fail("drop_checksum did not count it")
    if conn(p)["rcv_nxt"] != p.seq:
        fail(f"RCV.NXT moved to {conn(p)['rcv_nxt']} (want {p.seq}): the data was taken")
    still_serves(p, "a bad checksum")


def ext_headers(w):
    """IPv6: a SYN behind Hop-by-Hop and Destination Options headers is
    answered (they are skipped); one behind more than the stack follows
    (RFC 8200 §4.1 sets no bound; the stack's is 8) is dropped and counted."""
    p = Peer(w)
    p.handshake(ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()])
    still_serves(p, "a handshake behind extension headers")
    before = counter("drop_ipv6_ext_headers")
    q = Peer(w)
    q.seg("S", options=[("MSS", 1460)], ext=[IPv6ExtHdrHopByHop()] + [IPv6ExtHdrDestOpt() for _ in range(9)])
    w.expect_none("a SYN behind ten extension headers", timeout=1.0)
    if counter("drop_ipv6_ext_headers") != before + 1:
        fail("drop_ipv6_ext_headers did not count it")


def fragment(w):
    """IPv6: a SYN in a fragment (even a whole one, offset 0 and no more
    to come: an atomic fragment, RFC 8200 §4.5) is dropped and counted: the
    stack reassembles nothing and never sends fragments."""
    before = counter("drop_fragment")
    p = Peer(w)
    p.seg("S", options=[("MSS", 1460)], ext=[IPv6ExtHdrFragment(offset=0, m=0, id=7)])
    w.expect_none("a SYN in a fragment", timeout=1.0)
    if counter("drop_fragment") != before + 1:
        fail("drop_fragment did not count it")
    p.handshake()


CASES = {f.__name__: f for f in [closed_port, handshake, data_acked, out_of_order, four_way_close,
                                 time_wait_fin, rst_out_of_window, bad_checksum_syn, rst_in_window, rst_exact,
                                 syn_established, ack_out_of_window, bad_checksum_data, ext_headers, fragment]}
CASES[CASE](Wire())
print(f"{CASE}: ok")
