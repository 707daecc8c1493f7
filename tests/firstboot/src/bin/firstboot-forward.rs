//! `firstboot-forward PORT`: one guest connection, as QEMU's `guestfwd=...-cmd:` hands
//! it over on stdin and stdout, joined to `127.0.0.1:PORT` on this machine. QEMU runs
//! one per connection, so the guest reaches exactly that loopback port and nothing else.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

fn main() {
    let port: u16 = match std::env::args().nth(1).and_then(|p| p.parse().ok()) {
        Some(port) => port,
        None => {
            eprintln!("usage: firstboot-forward PORT");
            std::process::exit(2);
        }
    };
    let upstream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("firstboot-forward: 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let mut to_upstream = upstream.try_clone().expect("a second handle on the socket");
    // Guest to host until the guest closes its side, then half-close.
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    // Host to guest until the server closes.
    let mut from_upstream = upstream;
    let mut stdout = io::stdout().lock();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from_upstream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stdout
                    .write_all(&buffer[..n])
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break;
                }
            }
        }
    }
}
