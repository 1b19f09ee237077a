//! A TCP proxy the tests control, in front of a real server (PostgreSQL, Redis): `Cut` drops
//! every connection and refuses new ones, `Freeze` holds connections open and forwards
//! nothing (a frozen server or a black-holed network), `Pass` forwards again. Bytes are never
//! lost across a freeze: a socket read is cancel-safe, and what was read is written once the
//! freeze lifts.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Cut,
    Freeze,
}

/// A running proxy on 127.0.0.1; stops when dropped.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to `upstream`, passing traffic.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, watcher) = watch::channel(Mode::Pass);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if *watcher.borrow() == Mode::Cut {
                    continue; // refused: dropped at once
                }
                let watcher = watcher.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let up = tokio::spawn(pipe(cr, sw, watcher.clone()));
                    let down = tokio::spawn(pipe(sr, cw, watcher));
                    let _ = tokio::join!(up, down);
                });
            }
        });
        FaultProxy { addr, mode, task }
    }

    /// Changes what the proxy does from now on (a cut also drops open connections).
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// One direction of one connection, obeying the mode.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !wait_while_frozen(&mut mode).await {
            return;
        }
        tokio::select! {
            read = from.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if !wait_while_frozen(&mut mode).await {
                    return;
                }
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits out a freeze; false when the connection is cut (or the proxy is gone).
async fn wait_while_frozen(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        match *mode.borrow_and_update() {
            Mode::Pass => return true,
            Mode::Cut => return false,
            Mode::Freeze => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// `host:port` of a `scheme://[user@]host:port/...` URL, as a socket address.
pub fn socket_of(url: &str) -> SocketAddr {
    let u = url::Url::parse(url).unwrap();
    format!(
        "{}:{}",
        u.host_str().unwrap(),
        u.port_or_known_default().unwrap()
    )
    .parse()
    .unwrap()
}

/// A fresh test database on the real PostgreSQL with a proxy in front of it: the proxy, the
/// URL through it and the direct URL; `None` (the test is skipped) without
/// `TEST_DATABASE_URL`.
pub async fn proxied_database() -> Option<(FaultProxy, String, String)> {
    let Ok(pg) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return None;
    };
    let real = socket_of(&pg);
    let proxy = FaultProxy::start(real).await;
    let direct = crate::helpers::database_url().await;
    let via = direct.replacen(
        &format!("{}:{}", real.ip(), real.port()),
        &proxy.addr.to_string(),
        1,
    );
    assert!(via.contains(&proxy.addr.to_string()), "{via}");
    Some((proxy, via, direct))
}
