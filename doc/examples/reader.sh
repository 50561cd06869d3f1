#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# reader.sh - readers for ingesterd in shell, two ways.
#
#   reader.sh [SOCKET] < lines
#
# Each line of standard input becomes the event
#   {"type":"example.line","n":N,"line":"TEXT"}
# sent with ingester-send, which quotes the text, checks the JSON, finds the
# socket type and passes a descriptor along (--file). With socat alone
# (SOCAT=1 in the environment) the line is sent as one datagram; socat
# cannot pass descriptors, and the text must need no JSON escaping.
# SOCKET defaults to $INGESTER_SOCKET, else ingesterd's default socket.
set -eu
socket=${1:-${INGESTER_SOCKET:-}}
n=0
while IFS= read -r line; do
  n=$((n + 1))
  if [ -n "${SOCAT:-}" ]; then
    printf '{"type":"example.line","n":%d,"line":"%s","via":"socat"}' "$n" "$line" |
      socat -u - "UNIX-SENDTO:${socket:?socat needs the socket path}"
  else
    ingester-send --quiet ${socket:+--socket "$socket"} ${READER_FILE:+--file "$READER_FILE"} \
      type=example.line n:="$n" line="$line"
  fi
done
