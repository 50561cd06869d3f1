#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""subscriber.py — a python3-gi subscriber of ingesterd that handles both
signal forms: Event (one event) and EventBatch (several; doc/protocol.md
4.2). Debian: apt install python3-gi.

    ./subscriber.py [--address ADDRESS] [--count N]

Prints one line per event, whichever form it came in:
    SEQ TYPE FORM FDS DATA

As in subscriber.c, a message filter takes each signal with its descriptor
list (a signal callback gets the body only, and an event's fds are handles
into that list) and hands it to the main loop; the subscription installs
the match rule. Under signal-form=both every event comes twice: a seq
already handled from the same daemon connection is skipped.
"""
import argparse
import os
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

INTERFACE = "org.ingester.Ingester1"
PATH = "/org/ingester/Ingester1"


class Subscriber:
    def __init__(self, count):
        self.count = count
        self.seen = 0
        self.last_seq = {}  # sender -> the last seq handled
        self.loop = GLib.MainLoop()

    def handle_event(self, sender, form, event, fd_list):
        if self.count and self.seen >= self.count:
            return
        type_, data, meta, handles = event
        seq = meta.get("seq", 0)
        if seq <= self.last_seq.get(sender, 0):
            return  # the other form of an event handled already
        self.last_seq[sender] = seq
        line = [str(seq), type_, form, str(len(handles)), repr(data)]
        for i, h in enumerate(handles):
            # the handle indexes this message's list; get() returns a duplicate
            fd = fd_list.get(h) if fd_list is not None else -1
            line.append("fd%d=%s" % (i, os.pread(fd, 31, 0).decode(errors="replace").rstrip("\n")))
            os.close(fd)
        print(" ".join(line), flush=True)
        self.seen += 1
        if self.count and self.seen == self.count:
            self.loop.quit()

    def deliver(self, message):
        """Main loop: one Event, or each element of an EventBatch, in order."""
        body = message.get_body()
        fd_list = message.get_unix_fd_list()
        sender = message.get_sender()
        member = message.get_member()
        if member == "Event" and body.get_type_string() == "(sa{sv}a{sv}ah)":
            self.handle_event(sender, "Event", body.unpack(), fd_list)
        elif member == "EventBatch" and body.get_type_string() == "(a(sa{sv}a{sv}ah))":
            for event in body.unpack()[0]:
                self.handle_event(sender, "EventBatch", event, fd_list)
        return GLib.SOURCE_REMOVE

    def filter(self, connection, message, incoming):
        """GDBus's worker thread: pass our signals to the main loop."""
        if (incoming and message.get_message_type() == Gio.DBusMessageType.SIGNAL
                and message.get_interface() == INTERFACE
                and message.get_member() in ("Event", "EventBatch")):
            GLib.idle_add(self.deliver, message)
            return None
        return message


def main():
    parser = argparse.ArgumentParser(description="print ingesterd's events")
    parser.add_argument("--address", help="the bus (default: the session bus)")
    parser.add_argument("--count", type=int, default=0, help="exit after N events")
    args = parser.parse_args()

    if args.address:
        flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
                 | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
        conn = Gio.DBusConnection.new_for_address_sync(args.address, flags, None, None)
    else:
        conn = Gio.bus_get_sync(Gio.BusType.SESSION, None)
    sub = Subscriber(args.count)
    conn.add_filter(sub.filter)
    # interface only, no member: both forms
    conn.signal_subscribe(None, INTERFACE, None, PATH, None, Gio.DBusSignalFlags.NONE,
                          lambda *unused: None)
    # a round trip, so the match is on the bus before we say we listen
    conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                   "GetId", None, None, Gio.DBusCallFlags.NONE, -1, None)
    print("listening", file=sys.stderr, flush=True)
    sub.loop.run()


if __name__ == "__main__":
    main()
