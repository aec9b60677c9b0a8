#!/usr/bin/env python3
"""Raw client sockets against httpd: what curl cannot do.

Usage: raw_client.py CASE HOST PORT WWW [HEADER_TIMEOUT]
HOST is an address: 127.0.0.1, or ::1 for an AF_INET6 socket.
Exits 0 when the server behaved, else prints what went wrong and exits 1.
"""
import os
import socket
import sys
import time

CASE, HOST, PORT, WWW = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def fail(msg):
    print(f"{CASE}: {msg}", file=sys.stderr)
    sys.exit(1)


def connect():
    s = socket.socket(socket.AF_INET6 if ":" in HOST else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((HOST, PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Reads HTTP/1.x responses (Content-Length framed) off a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def more(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError(f"server closed with {len(self.buf)} bytes unparsed")
        self.buf += data

    def response(self, head_request=False):
        while b"\r\n\r\n" not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_request else int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self.more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def expect_fin(self, within=5):
        """The server's FIN: recv returns b'' (no reset, no more bytes)."""
        self.sock.settimeout(within)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            fail(f"no FIN from the server within {within}s")
        except ConnectionResetError:
            fail("the server reset the connection instead of closing it")
        if data:
            fail(f"more bytes instead of FIN: {data[:80]!r}")


def www(path):
    with open(os.path.join(WWW, path.lstrip("/")), "rb") as f:
        return f.read()


def pipelined():
    s = connect()
    paths = ["/files/1KiB.txt", "/style.css", "/index.html"]
    s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for p in paths))
    r = Reader(s)
    for p in paths:
        status, _, body = r.response()
        if status != 200 or body != www(p):
            fail(f"{p}: status {status}, {len(body)} bytes, not the file (out of order?)")
    # Still open for a fourth, which closes.
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    status, headers, _ = r.response()
    if status != 200 or headers.get("connection") != "close":
        fail(f"fourth: {status} {headers}")
    r.expect_fin()


def http10():
    # Without keep-alive: one response, then the server closes.
    s = connect()
    s.sendall(b"GET /style.css HTTP/1.0\r\n\r\n")
    r = Reader(s)
    status, headers, body = r.response()
    if status != 200 or body != www("/style.css"):
        fail(f"1.0: {status}")
    if headers.get("connection", "close").lower() != "close":
        fail(f"1.0 without keep-alive answered Connection: {headers.get('connection')}")
    r.expect_fin()
    # With keep-alive: the connection stays for a second request.
    s = connect()
    r = Reader(s)
    for _ in range(2):
        s.sendall(b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, body = r.response()
        if status != 200 or headers.get("connection", "").lower() != "keep-alive":
            fail(f"1.0 keep-alive: {status} {headers}")
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    r.response()
    r.expect_fin()


MALFORMED = [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
]


def malformed():
    for raw, want in MALFORMED:
        s = connect()
        # A valid request after the bad one must not be answered.
        s.sendall(raw + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        r = Reader(s)
        status, headers, _ = r.response()
        if status != want:
            fail(f"{raw[:40]!r}: {status}, want {want}")
        if headers.get("connection") != "close":
            fail(f"{raw[:40]!r}: no Connection: close")
        r.expect_fin()
        s.close()


def slow_headers():
    timeout = float(sys.argv[5])
    s = connect()
    s.settimeout(0.05)
    req = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Filler: " + b"z" * 100
    start = time.monotonic()
    got = b""
    for i, byte in enumerate(req):
        s.sendall(bytes([byte]))
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                fail("reset instead of 408")
            if not data:
                break
            got += data
        if b"\r\n\r\n" in got or (got and not data):
            break
        if time.monotonic() - start > timeout + 5:
            fail(f"nothing after {time.monotonic() - start:.1f}s (header timeout {timeout}s)")
    elapsed = time.monotonic() - start
    if not got.startswith(b"HTTP/1.1 408 "):
        fail(f"got {got[:60]!r} after {elapsed:.1f}s")
    if not timeout - 0.5 <= elapsed <= timeout + 2.5:
        fail(f"408 after {elapsed:.1f}s, header timeout is {timeout}s")
    r = Reader(s)
    r.buf = got
    s.settimeout(5)
    r.response()
    r.expect_fin()


{"pipelined": pipelined, "http10": http10, "malformed": malformed, "slow_headers": slow_headers}[CASE]()
print(f"{CASE}: ok")
