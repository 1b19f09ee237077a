//! Writing to the carrier's socket without ever blocking the executor's loop: frames wait in
//! a queue, and a cancel-safe future moves them into the socket as it accepts them (a frame
//! leaves the queue only once the sink took it), then flushes. It is one branch of the
//! executor's `select!`, so the socket is read while a slow peer drains its side.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, ready};

use axum::extract::ws::{Message, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;

/// The carrier socket's sending half.
pub type Sink = SplitSink<WebSocket, Message>;

/// Frames that may wait for a carrier that does not read. The playback ledger sends about
/// twenty a second while the agent speaks (audio and marks), so this is half a minute of a
/// stalled peer: past it the peer is treated as gone rather than held in memory.
const MAX_QUEUED: usize = 600;

/// Frames waiting for the socket, in order.
#[derive(Debug, Default)]
pub struct Outgoing {
    queue: VecDeque<Message>,
    /// Frames were handed to the sink and not yet flushed.
    unflushed: bool,
}

impl Outgoing {
    /// Queues a frame; false (and the frame dropped) when the peer has stopped taking them.
    pub fn push(&mut self, m: Message) -> bool {
        if self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.queue.push_back(m);
        true
    }

    /// Whether there is anything to write or flush.
    pub fn is_pending(&self) -> bool {
        !self.queue.is_empty() || self.unflushed
    }

    /// Writes and flushes what is queued. Cancel-safe.
    pub async fn write(&mut self, sink: &mut Sink) -> Result<(), axum::Error> {
        poll_fn(|cx| {
            while !self.queue.is_empty() {
                ready!(sink.poll_ready_unpin(cx))?;
                if let Some(m) = self.queue.pop_front() {
                    sink.start_send_unpin(m)?;
                    self.unflushed = true;
                }
            }
            ready!(sink.poll_flush_unpin(cx))?;
            self.unflushed = false;
            Poll::Ready(Ok(()))
        })
        .await
    }
}
