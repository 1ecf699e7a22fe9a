//! The byte stream under a session: plain TCP, or TLS over TCP (feature
//! `tls`), behind one small interface so the session logic is written once.
//!
//! A TCP socket is simply cloned: the session thread reads through one
//! handle while writers use the other, as before TLS existed.
//!
//! An OpenSSL stream keeps one state machine for both directions and cannot
//! be split, so a TLS transport is one stream behind a mutex, shared by the
//! clones. The reader waits for bytes on a clone of the raw socket *without*
//! the lock (a `peek` bounded by the socket's short read timeout), then
//! locks only to decrypt what arrived; if a record is incomplete, OpenSSL's
//! read gives up at the same short timeout (WouldBlock, OpenSSL's
//! `WANT_READ`), which the caller treats as "nothing yet". So the lock is
//! never held for long, and writers, which lock for a whole `write_all`,
//! never interleave two messages or leave one half-written.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

#[cfg(feature = "tls")]
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[cfg(feature = "tls")]
use openssl::ssl::SslStream;

/// One end of a session's connection (see the module docs).
pub(crate) enum Transport {
    /// Plain TCP: each clone is an independent handle of the socket.
    Tcp(TcpStream),
    /// TLS: one stream shared by the clones, and a raw handle of its socket.
    #[cfg(feature = "tls")]
    Tls {
        stream: Arc<Mutex<SslStream<TcpStream>>>,
        socket: TcpStream,
    },
}

impl Transport {
    /// A TLS transport over a stream whose handshake is done.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(stream: SslStream<TcpStream>) -> io::Result<Transport> {
        let socket = stream.get_ref().try_clone()?;
        Ok(Transport::Tls {
            stream: Arc::new(Mutex::new(stream)),
            socket,
        })
    }

    /// The underlying socket, for its options (they apply to every clone).
    fn socket(&self) -> &TcpStream {
        match self {
            Transport::Tcp(stream) => stream,
            #[cfg(feature = "tls")]
            Transport::Tls { socket, .. } => socket,
        }
    }

    /// Another handle to the same connection.
    pub(crate) fn try_clone(&self) -> io::Result<Transport> {
        match self {
            Transport::Tcp(stream) => stream.try_clone().map(Transport::Tcp),
            #[cfg(feature = "tls")]
            Transport::Tls { stream, socket } => Ok(Transport::Tls {
                stream: Arc::clone(stream),
                socket: socket.try_clone()?,
            }),
        }
    }

    /// Reads what has arrived; `Ok(0)` at the end of the stream. An error
    /// of kind WouldBlock or TimedOut means nothing arrived within the read
    /// timeout.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(stream) => stream.read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls { stream, socket } => {
                // Bytes OpenSSL already decrypted are no longer on the
                // socket: only wait on the socket when there are none.
                if lock(stream).ssl().pending() == 0 {
                    // Data or an EOF: either way OpenSSL reads it next. A
                    // timeout returns "nothing yet" without having locked.
                    socket.peek(&mut [0u8; 1])?;
                }
                lock(stream).read(buf)
            }
        }
    }

    /// Writes all of `buf` and flushes, as one unit with respect to other
    /// writers of a TLS stream.
    pub(crate) fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => stream.write_all(buf).and_then(|()| stream.flush()),
            #[cfg(feature = "tls")]
            Transport::Tls { stream, .. } => {
                let mut stream = lock(stream);
                stream.write_all(buf).and_then(|()| stream.flush())
            }
        }
    }

    /// Half-closes (`Write`) or closes the connection. A TLS half-close
    /// sends close_notify first, so the peer sees a clean end of stream.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let (Transport::Tls { stream, .. }, Shutdown::Write) = (self, how) {
            // Best effort: a stream that already failed cannot say goodbye.
            let _ = lock(stream).shutdown();
        }
        // Closing both ways needs no lock: it wakes a reader blocked in
        // OpenSSL rather than waiting for it.
        self.socket().shutdown(how)
    }

    /// Bounds each read (see [`read`](Transport::read)).
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(timeout)
    }

    /// Bounds each write, so a peer that stops reading cannot block a writer
    /// (and everyone waiting for the same lock) forever.
    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_write_timeout(timeout)
    }

    /// Sends small messages at once instead of coalescing them.
    pub(crate) fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket().set_nodelay(nodelay)
    }

    /// The peer's address.
    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket().peer_addr()
    }

    /// The negotiated TLS version ("TLSv1.3"), or `None` over plain TCP.
    pub(crate) fn tls_version(&self) -> Option<&'static str> {
        match self {
            Transport::Tcp(_) => None,
            #[cfg(feature = "tls")]
            Transport::Tls { stream, .. } => Some(lock(stream).ssl().version_str()),
        }
    }
}

/// A poisoned lock only means another thread panicked mid-call; the stream
/// is still the best we have, and the session reports its own errors.
#[cfg(feature = "tls")]
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
