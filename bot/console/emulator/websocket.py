"""The WebSocket (RFC 6455) as the emulator's Socket Mode server speaks it: the upgrade's
Sec-WebSocket-Accept, and frames written and read (lengths, masking, control frames).
Frames from a client must be masked, a server's are not. bot/console/emulator/socket_mode.py
runs the connections.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MAX_MESSAGE = 16 * 1024 * 1024


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def encode_frame(opcode: int, data: bytes, *, fin: bool = True,
                 mask: bytes | None = None) -> bytes:
    """One frame; a server's are unmasked (`mask` is for clients, e.g. tests)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    flag = 0x80 if mask is not None else 0
    n = len(data)
    if n < 126:
        head += bytes([flag | n])
    elif n < 1 << 16:
        head += bytes([flag | 126]) + struct.pack("!H", n)
    else:
        head += bytes([flag | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + data
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


class Closed(Exception):
    """The peer closed the connection."""


def _read_exact(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 65536))
        if not chunk:
            raise Closed("the peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, *, require_mask: bool) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of the next frame. Raises ValueError on a protocol
    error (the caller closes with 1002), Closed when the peer went away."""
    b1, b2 = _read_exact(sock, 2)
    if b1 & 0x70:
        raise ValueError("reserved bits set without an extension")
    fin, opcode, masked, n = bool(b1 & 0x80), b1 & 0x0F, bool(b2 & 0x80), b2 & 0x7F
    if require_mask and not masked:
        raise ValueError("a client frame must be masked")
    if n == 126:
        (n,) = struct.unpack("!H", _read_exact(sock, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _read_exact(sock, 8))
    if opcode >= 0x8 and (n > 125 or not fin):
        raise ValueError("a control frame must be short and unfragmented")
    if n > _MAX_MESSAGE:
        raise ValueError("frame too large")
    mask = _read_exact(sock, 4) if masked else b""
    data = _read_exact(sock, n)
    if masked:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return fin, opcode, data
