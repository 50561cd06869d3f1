// SPDX-License-Identifier: LGPL-2.1-or-later
//
// reader.go - a reader for ingesterd in Go, on the standard library alone
// (syscall): every line of standard input becomes one event,
//
//	{"type":"example.line","n":N,"line":"TEXT"}
//
// sent as one SOCK_SEQPACKET packet, with an open descriptor of /dev/null
// riding along (SCM_RIGHTS) to show how.
//
//	go run reader.go [SOCKET] < lines
//
// SOCKET defaults to $INGESTER_SOCKET. Exit status: 0 sent, 3 unreachable.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"syscall"
)

func main() {
	path := os.Getenv("INGESTER_SOCKET")
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "reader.go: cannot reach ingesterd at %s: %v\n", path, err)
		os.Exit(3)
	}
	devnull, err := os.Open("/dev/null")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reader.go:", err)
		os.Exit(1)
	}
	in := bufio.NewScanner(os.Stdin)
	for n := 1; in.Scan(); n++ {
		event, _ := json.Marshal(map[string]any{"type": "example.line", "n": n, "line": in.Text()})
		rights := syscall.UnixRights(int(devnull.Fd()))
		if err := syscall.Sendmsg(fd, event, rights, nil, 0); err != nil {
			fmt.Fprintln(os.Stderr, "reader.go: send:", err)
			os.Exit(3)
		}
	}
}
