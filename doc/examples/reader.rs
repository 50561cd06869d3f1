// SPDX-License-Identifier: LGPL-2.1-or-later
//
// reader.rs - a reader for ingesterd in Rust, on the standard library
// alone: every line of standard input becomes one event,
//
//     {"type":"example.line","n":N,"line":"TEXT"}
//
// Rust's std speaks SOCK_DGRAM (UnixDatagram) and SOCK_STREAM (UnixStream)
// but not SOCK_SEQPACKET, and passes no descriptors on stable: so this one
// sends each event as a datagram, or as one line to a stream listener
// (ingesterd --listen stream:PATH), whichever the socket is.
//
//     rustc -O reader.rs && ./reader [SOCKET] < lines
//
// SOCKET defaults to $INGESTER_SOCKET. Exit status: 0 sent, 3 unreachable.
use std::io::{self, BufRead, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::exit;

/// The text as a JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

enum Socket {
    Datagram(UnixDatagram),
    Stream(UnixStream),
}

fn connect(path: &str) -> io::Result<Socket> {
    let d = UnixDatagram::unbound()?;
    match d.connect(path) {
        Ok(()) => Ok(Socket::Datagram(d)),
        // a socket of another type: a stream listener, perhaps
        Err(_) => UnixStream::connect(path).map(Socket::Stream),
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("INGESTER_SOCKET").ok())
        .unwrap_or_default();
    let mut socket = match connect(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reader.rs: cannot reach ingesterd at {}: {}", path, e);
            exit(3);
        }
    };
    for (i, line) in io::stdin().lock().lines().enumerate() {
        let line = line.unwrap_or_default();
        let event = format!(
            "{{\"type\":\"example.line\",\"n\":{},\"line\":{}}}",
            i + 1,
            quote(&line)
        );
        let sent = match &mut socket {
            Socket::Datagram(d) => d.send(event.as_bytes()).map(|_| ()),
            Socket::Stream(s) => s.write_all(format!("{}\n", event).as_bytes()),
        };
        if let Err(e) = sent {
            eprintln!("reader.rs: send: {}", e);
            exit(3);
        }
    }
}
