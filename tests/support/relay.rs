//! A TCP relay between the tool and an HTTPS Azurite that can hold the answers.
//!
//! TLS passes through untouched (the certificate names 127.0.0.1, whatever the port). Every
//! byte from the client is forwarded at once; the answers stop once `hold_after` bytes of them
//! have been relayed (over all connections together) and wait there until
//! [`Relay::release`]. A test uses it to let time pass in the middle of a run at a point the
//! run itself reaches, never after a guessed delay.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The gate and the signal that it changed, shared by every connection.
type SharedGate = Arc<(Mutex<Gate>, Condvar)>;

#[derive(Default)]
struct Gate {
    /// Answer bytes relayed so far.
    relayed: u64,
    /// Some answer is waiting at the gate.
    holding: bool,
    released: bool,
}

pub struct Relay {
    port: u16,
    gate: SharedGate,
}

impl Relay {
    /// Relays 127.0.0.1:<port> to 127.0.0.1:`upstream`; the answers stop after `hold_after`
    /// bytes.
    pub fn start(upstream: u16, hold_after: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let gate: SharedGate = Arc::new((Mutex::new(Gate::default()), Condvar::new()));
        let shared = Arc::clone(&gate);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (client_in, server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || copy(client_in, server_out, None));
                let gate = Arc::clone(&shared);
                std::thread::spawn(move || copy(server, client, Some((gate, hold_after))));
            }
        });
        Self { port, gate }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits, up to two minutes, until an answer waits at the gate; false when none came.
    pub fn wait_until_holding(&self) -> bool {
        let (lock, changed) = &*self.gate;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut gate = lock.lock().unwrap();
        while !gate.holding {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            gate = changed.wait_timeout(gate, left).unwrap().0;
        }
        true
    }

    /// Answer bytes relayed so far.
    pub fn relayed(&self) -> u64 {
        self.gate.0.lock().unwrap().relayed
    }

    /// Lets every answer through from now on.
    pub fn release(&self) {
        let (lock, changed) = &*self.gate;
        lock.lock().unwrap().released = true;
        changed.notify_all();
    }
}

/// Copies `from` into `to` until either side closes; with a gate, each chunk waits at it once
/// the hold point is reached.
fn copy(mut from: TcpStream, mut to: TcpStream, gate: Option<(SharedGate, u64)>) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((gate, hold_after)) = &gate {
            let (lock, changed) = &**gate;
            let mut state = lock.lock().unwrap();
            while state.relayed >= *hold_after && !state.released {
                state.holding = true;
                changed.notify_all();
                state = changed.wait(state).unwrap();
            }
            state.relayed += n as u64;
        }
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
