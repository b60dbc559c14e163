//! Talking to a running exporter: the address it serves on, plain GETs, and a clean stop.

/// The address the exporter logged it serves on, read from its stderr within `wait`.
pub fn served_address(stderr: std::process::ChildStderr, wait: std::time::Duration) -> Option<String> {
    use std::io::BufRead;
    let (found, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, address)) = line.split_once("address=") {
                let _ = found.send(address.split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    receive.recv_timeout(wait).ok()
}

/// GET `path` over a plain socket: (status line, body).
pub fn get(address: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// Sends SIGTERM to `child` and waits (boundedly) for it to exit successfully.
pub fn terminate(child: &mut std::process::Child) {
    // SAFETY: signals the child this test started and still owns.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the exporter did not stop on SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
