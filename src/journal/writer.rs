//! The repair file's one writer: a thread of its own that owns the database, fed by messages,
//! so that no async task ever waits on SQLite's fsyncs and every write goes through one place.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::{Done, JournalError, RepairFile};
use crate::model::{ComponentId, Drive};

enum Message {
    Intent(Vec<ComponentId>, oneshot::Sender<Result<(), JournalError>>),
    Done(Vec<Done>, oneshot::Sender<Result<(), JournalError>>),
    /// The storage's CRC-64 of chunks of a blob (component index, CRC).
    ChunkCrcs(
        u32,
        Vec<(u32, u64)>,
        oneshot::Sender<Result<(), JournalError>>,
    ),
    /// The recorded chunk CRCs of a blob under its current ETag.
    KnownChunkCrcs(
        u32,
        oneshot::Sender<Result<HashMap<u32, u64>, JournalError>>,
    ),
    /// The storage's length of a blob's file (see `RepairFile::record_storage_length`).
    StorageLength(u32, u64, oneshot::Sender<Result<(), JournalError>>),
    /// Verdicts taken back (see `RepairFile::record_reopened`).
    Reopen(Vec<ComponentId>, oneshot::Sender<Result<(), JournalError>>),
    /// Whether the run stopped short (see `RepairFile::record_stopped_short`).
    StoppedShort(bool, oneshot::Sender<Result<(), JournalError>>),
    /// Close the file (its lock and rollback journal go with it) and answer.
    Close(oneshot::Sender<()>),
}

/// A handle to the writer thread; the thread ends (and the file closes) on [`Self::close`] or
/// when the last handle is dropped.
#[derive(Clone)]
pub struct JournalWriter {
    messages: mpsc::Sender<Message>,
    path: Arc<str>,
}

impl JournalWriter {
    /// Moves `file` to a thread of its own that records components of `drive`.
    pub fn spawn(file: RepairFile, drive: Arc<Drive>) -> std::io::Result<Self> {
        let (messages, inbox) = mpsc::channel::<Message>();
        let path: Arc<str> = file.path().into();
        std::thread::Builder::new()
            .name("repair-file".into())
            .spawn(move || {
                let mut file = Some(file);
                for message in inbox {
                    let closed = || Err(JournalError::WriterGone);
                    match message {
                        Message::Intent(ids, reply) => {
                            let recorded = file
                                .as_mut()
                                .map_or_else(closed, |file| file.record_intent(&drive, &ids));
                            let _ = reply.send(recorded);
                        }
                        Message::Done(done, reply) => {
                            let recorded = file
                                .as_mut()
                                .map_or_else(closed, |file| file.record_done(&drive, &done));
                            let _ = reply.send(recorded);
                        }
                        Message::ChunkCrcs(blob, crcs, reply) => {
                            let recorded = file.as_mut().map_or_else(closed, |file| {
                                file.record_chunk_crcs(&drive, blob, &crcs)
                            });
                            let _ = reply.send(recorded);
                        }
                        Message::KnownChunkCrcs(blob, reply) => {
                            let known = file.as_ref().map_or_else(
                                || Err(JournalError::WriterGone),
                                |file| file.chunk_crcs(&drive, blob),
                            );
                            let _ = reply.send(known);
                        }
                        Message::StorageLength(blob, length, reply) => {
                            let recorded = file.as_mut().map_or_else(closed, |file| {
                                file.record_storage_length(&drive, blob, length)
                            });
                            let _ = reply.send(recorded);
                        }
                        Message::Reopen(ids, reply) => {
                            let recorded = file
                                .as_mut()
                                .map_or_else(closed, |file| file.record_reopened(&drive, &ids));
                            let _ = reply.send(recorded);
                        }
                        Message::StoppedShort(stopped_short, reply) => {
                            let recorded = file.as_mut().map_or_else(closed, |file| {
                                file.record_stopped_short(stopped_short)
                            });
                            let _ = reply.send(recorded);
                        }
                        Message::Close(reply) => {
                            drop(file.take());
                            let _ = reply.send(());
                        }
                    }
                }
            })?;
        Ok(Self { messages, path })
    }

    /// The repair file's path, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Records that `ids` are about to be written; returns once that is durable.
    pub async fn intent(&self, ids: Vec<ComponentId>) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::Intent(ids, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// Records verdicts; returns once they are durable.
    pub async fn done(&self, done: Vec<Done>) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::Done(done, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// [`Self::done`] for a thread that is not async (the verifier's).
    pub fn done_blocking(&self, done: Vec<Done>) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::Done(done, reply))?;
        answer
            .blocking_recv()
            .map_err(|_| JournalError::WriterGone)?
    }

    /// Records the storage's CRC-64 of chunks of `blob`; returns once that is durable.
    pub async fn chunk_crcs(&self, blob: u32, crcs: Vec<(u32, u64)>) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::ChunkCrcs(blob, crcs, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// The chunk CRCs recorded for `blob` under its current ETag, by component index.
    pub async fn known_chunk_crcs(&self, blob: u32) -> Result<HashMap<u32, u64>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::KnownChunkCrcs(blob, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// Records the storage's length of `blob`'s file.
    pub async fn storage_length(&self, blob: u32, length: u64) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::StorageLength(blob, length, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// Takes back the verdicts of components this run looks at again; returns once that is
    /// durable.
    pub async fn reopen(&self, ids: Vec<ComponentId>) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::Reopen(ids, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// Records whether the run stopped short; returns once that is durable.
    pub async fn stopped_short(&self, stopped_short: bool) -> Result<(), JournalError> {
        let (reply, answer) = oneshot::channel();
        self.send(Message::StoppedShort(stopped_short, reply))?;
        answer.await.map_err(|_| JournalError::WriterGone)?
    }

    /// Closes the repair file; returns once it is closed (its rollback journal removed).
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.send(Message::Close(reply)).is_ok() {
            let _ = answer.await;
        }
    }

    fn send(&self, message: Message) -> Result<(), JournalError> {
        self.messages
            .send(message)
            .map_err(|_| JournalError::WriterGone)
    }
}
