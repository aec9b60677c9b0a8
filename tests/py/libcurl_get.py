"""GET a URL with libcurl (pycurl) and print libcurl's own verbose lines,
then the address it connected to: `libcurl_get.py URL`.

Debian 12's curl (7.88) resolves `localhost` itself to 127.0.0.1 first;
libcurl from 8.2 on gives ::1 first, as /etc/hosts and browsers do, so this
is what `curl -v http://localhost:8080/` does with a current curl.
"""
import io
import sys

import pycurl

url = sys.argv[1]
c = pycurl.Curl()
lines = []
c.setopt(c.URL, url)
c.setopt(c.VERBOSE, True)
c.setopt(c.DEBUGFUNCTION, lambda kind, msg: lines.append(msg.decode(errors="replace")) if kind == c.INFOTYPE_TEXT else None)
c.setopt(c.WRITEDATA, io.BytesIO())
c.setopt(c.TIMEOUT, 20)
c.perform()
print(pycurl.version)
print("".join(lines), end="")
print(f"status {c.getinfo(c.RESPONSE_CODE)} primary_ip {c.getinfo(c.PRIMARY_IP)}")
