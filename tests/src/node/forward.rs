//! A TCP forwarder from a network namespace to the machine's loopback: the node's components
//! and pods reach the API server, which listens on 127.0.0.1 only, at the node's address.
//!
//! The listening socket is opened by a thread inside the namespace and keeps belonging to it;
//! the outgoing connections are opened by threads in the machine's namespace.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns::NetworkNamespace;

/// Forwards every connection to `listen` (inside a namespace) to `target` (in the machine's
/// namespace) until dropped; dropping closes the listener and every forwarded connection.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Forwarder {
    pub fn start(namespace: &NetworkNamespace, listen: SocketAddr, target: SocketAddr) -> Result<Self> {
        let listener = namespace
            .within(|| TcpListener::bind(listen))?
            .with_context(|| format!("listening on {listen} in {}", namespace.name()))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, open) = (stop.clone(), open.clone());
            std::thread::spawn(move || accept_loop(&listener, target, &stop, &open))
        };
        Ok(Self { stop, open, acceptor: Some(acceptor) })
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, stop: &AtomicBool, open: &Mutex<Vec<TcpStream>>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((inbound, _)) => {
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else { continue };
                let (Ok(in2), Ok(out2)) = (inbound.try_clone(), outbound.try_clone()) else { continue };
                if let (Ok(in3), Ok(out3)) = (inbound.try_clone(), outbound.try_clone()) {
                    open.lock().expect("not poisoned").extend([in3, out3]);
                }
                std::thread::spawn(move || pipe(inbound, outbound));
                std::thread::spawn(move || pipe(out2, in2));
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Copies `from` to `to` until either side closes, then closes both directions.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self.open.lock().expect("not poisoned").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}
