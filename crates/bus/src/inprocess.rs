//! The in-process bus: bounded channels, so a slow stage slows the one before it instead
//! of growing memory.

use thiserror::Error;
use tokio::sync::mpsc;

#[derive(Debug, Error)]
#[error("bus closed: the receiving stage has stopped")]
pub struct Closed;

pub struct Sender<T>(mpsc::Sender<T>);
pub struct Receiver<T>(mpsc::Receiver<T>);

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender(self.0.clone())
    }
}

/// A bounded channel holding at most `capacity` messages in flight.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (Sender(tx), Receiver(rx))
}

impl<T> Sender<T> {
    pub async fn send(&self, msg: T) -> Result<(), Closed> {
        self.0.send(msg).await.map_err(|_| Closed)
    }

    pub fn blocking_send(&self, msg: T) -> Result<(), Closed> {
        self.0.blocking_send(msg).map_err(|_| Closed)
    }
}

impl<T> Receiver<T> {
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await
    }

    pub fn into_inner(self) -> mpsc::Receiver<T> {
        self.0
    }
}
