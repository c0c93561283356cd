#!/usr/bin/env python3
"""apiversions_client.py PORT CA CERT KEY MAX: checks test_broker's ApiVersions answers.

The probe and test_broker share ctl/probe/kafka_wire.c, so a mistake made the same way on both sides
(a field in the wrong place, a missing tag buffer) would pass every round-trip test.  This client
encodes requests and decodes answers on its own, from the Kafka protocol reference
(https://kafka.apache.org/protocol, ApiVersions; KIP-482 flexible versions; KIP-511 v3 and the
UNSUPPORTED_VERSION fallback), over TLS 1.2 and TLS 1.3 with a client certificate.

MAX is the broker's --api-versions-max: requests up to MAX must get a full answer of their own
version; requests above it (and v4, which test_broker never speaks) must get error 35 in the v0
layout listing ApiVersions 0..MAX; a request for another API must close the connection.
"""
import socket
import ssl
import struct
import sys

PORT, CA, CERT, KEY, MAX = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
API_VERSIONS = 18
UNSUPPORTED_VERSION = 35


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def uvarint(n):
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def request(api_key, version, corr):
    """Request header v1 (v2 for ApiVersions v3: plus a tag buffer) and the body."""
    client_id = b"kafka-ref-client"
    body = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    if api_key == API_VERSIONS and version >= 3:
        name, ver = b"ref-client", b"1.0"
        body += uvarint(0)  # header tagged fields
        body += uvarint(len(name) + 1) + name + uvarint(len(ver) + 1) + ver
        body += uvarint(0)  # body tagged fields
    return struct.pack(">i", len(body)) + body


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            fail("answer truncated at %d of %d bytes: %s" % (self.pos, len(self.data),
                                                             self.data.hex()))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def answer(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    size = struct.unpack(">i", hdr)[0]
    if not 0 < size < 65536:
        fail("bad frame size %d" % size)
    data = recv_exact(s, size)
    if data is None:
        fail("connection closed inside a frame")
    return data


def decode(data, version):
    """The response: header v0 (correlation id only, even for v3), then the body."""
    r = Reader(data)
    corr, err = r.i32(), r.i16()
    layout = 0 if err == UNSUPPORTED_VERSION else version
    apis = []
    n = r.uvarint() - 1 if layout >= 3 else r.i32()
    for _ in range(n):
        apis.append((r.i16(), r.i16(), r.i16()))
        if layout >= 3:
            r.tags()
    throttle = r.i32() if layout >= 1 else None
    if layout >= 3:
        r.tags()
    if r.pos != len(data):
        fail("v%d answer has %d trailing bytes: %s" % (version, len(data) - r.pos, data.hex()))
    return corr, err, apis, throttle


def connect(tls):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(CA)
    ctx.load_cert_chain(CERT, KEY)
    ctx.minimum_version = ctx.maximum_version = tls
    raw = socket.create_connection(("127.0.0.1", int(PORT)), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


for tls in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
    with connect(tls) as s:
        if s.version() != {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                           ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[tls]:
            fail("negotiated %s" % s.version())
        # Several requests on one connection, as a Kafka client sends them.
        for version in range(0, 5):
            corr = 1000 + version
            s.sendall(request(API_VERSIONS, version, corr))
            data = answer(s)
            if data is None:
                fail("%s: connection closed after an ApiVersions v%d request" % (tls, version))
            got_corr, err, apis, throttle = decode(data, version)
            if got_corr != corr:
                fail("v%d: correlation id %d, expected %d" % (version, got_corr, corr))
            if version <= MAX:
                if err != 0:
                    fail("v%d: error_code %d" % (version, err))
                if (API_VERSIONS, 0, MAX) not in apis or len(apis) < 2:
                    fail("v%d: api list %s lacks ApiVersions 0..%d" % (version, apis, MAX))
                if (version >= 1) != (throttle is not None) or (throttle or 0) != 0:
                    fail("v%d: throttle_time_ms %s" % (version, throttle))
            else:
                if err != UNSUPPORTED_VERSION or apis != [(API_VERSIONS, 0, MAX)]:
                    fail("v%d: expected UNSUPPORTED_VERSION listing ApiVersions 0..%d, got "
                         "error %d %s" % (version, MAX, err, apis))
    # Another API (Metadata v0): test_broker is no broker, it hangs up instead of answering.
    with connect(tls) as s:
        s.sendall(request(3, 0, 77))
        try:
            data = answer(s)
        except (ConnectionError, ssl.SSLError):
            data = None
        if data is not None:
            fail("a Metadata request got an answer: %s" % data.hex())
print("ok: ApiVersions v0..v4 answered as the Kafka protocol says (max v%d)" % MAX)
