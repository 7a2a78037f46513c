//! Fencing of a partition's owner through the shared state directory.
//!
//! The group protocol alone does not keep two processes from acting as owner of one
//! `flowlogd.partials` partition: a member paused past its session timeout (a zombie) runs
//! on, and some brokers (tansu 0.6.0 after a `kill -9`) briefly assign a partition twice.
//! Two owners that emit revisions from different amounts of state can leave a row built
//! from less data as the latest revision of its key. So a process that takes a partition
//! writes a fresh token to `p<N>.owner` and restores the checkpoint while holding that
//! file's lock; every emit-and-save holds the lock too and first checks that the token is
//! still its own. Owners are thereby serialized: each one starts from the state its
//! predecessor last saved, and a process whose token was replaced emits nothing more.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often a waiting process retries the lock (it is held for one emit-and-save).
const RETRY: Duration = Duration::from_millis(10);

/// This process's claim on one partition.
pub struct Fence {
    path: PathBuf,
    token: String,
}

/// The partition's lock, held while a still-valid owner emits and saves; released on drop.
pub struct Held {
    _file: File,
}

impl Fence {
    /// Takes the partition: replaces the owner token and runs `restore` before anyone else
    /// may emit or save it, so the state restored includes every earlier owner's last save.
    pub async fn take<T>(path: PathBuf, restore: impl FnOnce() -> T) -> io::Result<(Fence, T)> {
        let mut file = lock(&path).await?;
        let token = new_token();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(token.as_bytes())?;
        file.sync_data()?;
        let restored = restore();
        drop(file);
        Ok((Fence { path, token }, restored))
    }

    /// Locks the partition if this process still owns it; `None` when it was fenced off.
    pub async fn hold(&self) -> io::Result<Option<Held>> {
        let mut file = lock(&self.path).await?;
        let mut current = String::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_string(&mut current)?;
        Ok((current == self.token).then_some(Held { _file: file }))
    }
}

async fn lock(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) => tokio::time::sleep(RETRY).await,
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Unique across processes and hosts sharing the directory, and across takes in one process.
fn new_token() -> String {
    static TAKES: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        TAKES.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_later_take_fences_the_earlier_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p0.owner");
        let (first, ()) = Fence::take(path.clone(), || ()).await.unwrap();
        assert!(first.hold().await.unwrap().is_some());
        let (second, ()) = Fence::take(path.clone(), || ()).await.unwrap();
        assert!(
            first.hold().await.unwrap().is_none(),
            "old owner still valid"
        );
        assert!(second.hold().await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_take_waits_for_the_owner_to_finish_its_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p1.owner");
        let (owner, ()) = Fence::take(path.clone(), || ()).await.unwrap();
        let held = owner.hold().await.unwrap().expect("owner");
        let saved = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = saved.clone();
        let taker = tokio::spawn(async move {
            Fence::take(path, move || seen.load(Ordering::SeqCst))
                .await
                .unwrap()
                .1
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        saved.store(true, Ordering::SeqCst);
        drop(held);
        assert!(taker.await.unwrap(), "restored before the owner's save");
        assert!(owner.hold().await.unwrap().is_none());
    }
}
