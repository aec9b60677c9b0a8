#!/usr/bin/env python3
"""Clients on the kernel's TCP for the memory part of tests/bench.

  bench_clients.py idle N HOLD_FILE   open N keep-alive connections to httpd,
                                      one request each, create HOLD_FILE, and
                                      hold them until killed
  bench_clients.py close N            N `Connection: close` requests, each
                                      from its own address and port, so that
                                      httpd (which closes first) keeps N
                                      TIME-WAIT entries
"""

import socket
import sys
import threading
import time

SERVER = ("127.0.0.1", 8080)


def request(close):
    extra = b"Connection: close\r\n" if close else b""
    return b"GET /1k.bin HTTP/1.1\r\nHost: bench\r\n" + extra + b"\r\n"


def read_response(sock):
    """Reads one response whose body has a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk


def idle(n, hold_file):
    socks = []
    for _ in range(n):
        s = socket.create_connection(SERVER, timeout=10)
        s.sendall(request(close=False))
        read_response(s)
        socks.append(s)
    open(hold_file, "w").close()
    while True:
        time.sleep(3600)


def close(n):
    # 60,000 ports per source address keeps every 4-tuple distinct, so no
    # SYN ever lands on one of httpd's own TIME-WAIT entries.
    def worker(indices):
        for i in indices:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(10)
            s.bind((f"127.0.0.{2 + i // 60000}", 2000 + i % 60000))
            s.connect(SERVER)
            s.sendall(request(close=True))
            while s.recv(65536):
                pass
            s.close()

    threads = [threading.Thread(target=worker, args=(range(k, n, 4),)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    if sys.argv[1] == "idle":
        idle(int(sys.argv[2]), sys.argv[3])
    else:
        close(int(sys.argv[2]))
