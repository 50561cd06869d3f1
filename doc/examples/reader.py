#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""reader.py - a reader for ingesterd in Python, on the standard library alone.

Every line of standard input becomes one event,
    {"type": "example.line", "n": LINE-NUMBER, "line": "TEXT"}
sent as one packet to ingesterd's socket (SOCK_SEQPACKET, else SOCK_DGRAM),
with --fd PATH an open descriptor of PATH riding along with each (SCM_RIGHTS).
An event too large for a packet goes as a sealed memfd, journald's way.

    python3 reader.py [--fd PATH] [SOCKET] < lines
SOCKET defaults to $INGESTER_SOCKET, else $XDG_RUNTIME_DIR/ingester/seqpacket.sock.
Exit status: 0 every line sent, 3 ingesterd unreachable.
"""
import array
import errno
import fcntl
import json
import os
import socket
import sys


def default_socket():
    if os.environ.get("INGESTER_SOCKET"):
        return os.environ["INGESTER_SOCKET"]
    run = os.environ.get("XDG_RUNTIME_DIR") or "/run/user/%d" % os.getuid()
    return os.path.join(run, "ingester", "seqpacket.sock")


def connect(path):
    """The daemon's socket, connected: SEQPACKET if it is one, else DGRAM."""
    for kind in (socket.SOCK_SEQPACKET, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if e.errno != errno.EPROTOTYPE:
                raise
    raise OSError(errno.EPROTOTYPE, "neither a seqpacket nor a dgram socket", path)


def rights(fds):
    """SCM_RIGHTS control data for these descriptors (none: no control data)."""
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []


def send_event(s, event, fds):
    payload = json.dumps(event, ensure_ascii=False).encode()
    try:
        s.sendmsg([payload], rights(fds))
    except OSError as e:
        if e.errno != errno.EMSGSIZE:
            raise
        # too large for a packet: a sealed memfd, alone in an empty packet (journald's
        # convention) or first under "<args-via-fd>" (osbuild jsoncomm's)
        mfd = os.memfd_create("reader-event", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.write(mfd, payload)
            fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW |
                        fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
            s.sendmsg([b"<args-via-fd>" if fds else b""], rights([mfd] + list(fds)))
        finally:
            os.close(mfd)


def main(argv):
    fds = []
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--fd":
        fds.append(os.open(args[1], os.O_RDONLY | os.O_CLOEXEC))
        args = args[2:]
    path = args[0] if args else default_socket()
    try:
        s = connect(path)
    except OSError as e:
        print("reader.py: cannot reach ingesterd at %s: %s" % (path, e.strerror), file=sys.stderr)
        return 3
    for n, line in enumerate(sys.stdin, 1):
        send_event(s, {"type": "example.line", "n": n, "line": line.rstrip("\n")}, fds)
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
