//! Evidence files: received as a stream, recognised by their first bytes, capped at 10 MB
//! while they arrive, and written to the evidence folder under a generated name only.
//!
//! A file is first written to a hidden temporary file (`.upload-<id>.part`) that is deleted if
//! anything goes wrong, including the resident's app going away mid-upload (the guard's `Drop`);
//! the caller renames it to its final name only inside the transaction that records it.

use crate::error::{Error, Result};
use axum::body::Body;
use futures_util::StreamExt;
use kerbside_api::types::MAX_EVIDENCE_BYTES;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// After a refusal, keep reading (and discarding) up to this much more of the body, so the
/// resident's app has finished sending and reads the answer instead of a reset connection.
const DRAIN_BYTES: u64 = 16 * 1024 * 1024;

/// The only kinds of file accepted as evidence, known from their magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Pdf,
    Jpeg,
    Png,
}

impl FileKind {
    /// The kind the first bytes show, if it is one we accept.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        if head.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
            Some(FileKind::Png)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileKind::Pdf => "pdf",
            FileKind::Jpeg => "jpg",
            FileKind::Png => "png",
        }
    }

    pub fn from_content_type(content_type: &str) -> Option<FileKind> {
        match content_type {
            "application/pdf" => Some(FileKind::Pdf),
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Some(FileKind::Jpeg),
            "image/png" => Some(FileKind::Png),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FileKind::Pdf => "a PDF",
            FileKind::Jpeg => "a JPEG image",
            FileKind::Png => "a PNG image",
        }
    }
}

pub fn not_accepted() -> Error {
    Error::UnsupportedMediaType(
        "This file is not a PDF, JPEG or PNG, so it cannot be used as evidence. Scan or photograph the document and send it as one of those."
            .into(),
    )
}

pub fn too_large() -> Error {
    Error::TooLarge(format!(
        "This file is larger than {} MB. Send a smaller scan or photo of the document (a lower resolution, or one page per file).",
        MAX_EVIDENCE_BYTES / (1024 * 1024)
    ))
}

/// A received file waiting in its temporary file. Dropped without [`Received::keep_as`], the
/// temporary file is deleted.
pub struct Received {
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
    temp: TempFile,
}

impl Received {
    /// Moves the file to `final_path`. On success the caller owns the final file.
    pub async fn keep_as(mut self, final_path: &Path) -> std::io::Result<()> {
        tokio::fs::rename(&self.temp.path, final_path).await?;
        self.temp.armed = false;
        Ok(())
    }
}

struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            if let Err(error) = std::fs::remove_file(&self.path) {
                if error.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(path = %self.path.display(), %error, "could not delete a partial upload");
                }
            }
        }
    }
}

/// The declared media type without parameters, lower case; `None` when absent or generic.
fn declared_kind(declared: Option<&str>) -> std::result::Result<Option<FileKind>, ()> {
    let Some(declared) = declared else {
        return Ok(None);
    };
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() || essence == "application/octet-stream" {
        return Ok(None);
    }
    FileKind::from_content_type(&essence).map(Some).ok_or(())
}

/// Reads `body` into a temporary file in `dir`, refusing as early as possible: a declared
/// type we do not take, a `Content-Length` over the cap, first bytes that are not a PDF, JPEG
/// or PNG (or disagree with the declared type), or more than 10 MB actually sent.
pub async fn receive(
    dir: &Path,
    declared: Option<&str>,
    content_length: Option<u64>,
    body: Body,
) -> Result<Received> {
    let mut stream = body.into_data_stream();
    let mut seen: u64 = 0;
    let declared = match declared_kind(declared) {
        Ok(kind) => kind,
        Err(()) => {
            drain(&mut stream, seen, content_length).await;
            return Err(not_accepted());
        }
    };
    if content_length.is_some_and(|n| n > MAX_EVIDENCE_BYTES) {
        drain(&mut stream, seen, content_length).await;
        return Err(too_large());
    }

    // The first bytes decide the kind; nothing touches the disk before that.
    let mut head: Vec<u8> = Vec::with_capacity(64 * 1024);
    while head.len() < 8 {
        match stream.next().await {
            Some(Ok(chunk)) => {
                seen += chunk.len() as u64;
                head.extend_from_slice(&chunk);
            }
            Some(Err(e)) => return Err(body_error(e)),
            None => break,
        }
    }
    if head.is_empty() {
        return Err(Error::Validation(
            "The file is empty. Choose the scan or photo of your document again.".into(),
        ));
    }
    let Some(kind) = FileKind::sniff(&head) else {
        drain(&mut stream, seen, content_length).await;
        return Err(not_accepted());
    };
    if let Some(declared) = declared {
        if declared != kind {
            drain(&mut stream, seen, content_length).await;
            return Err(Error::UnsupportedMediaType(format!(
                "This file says it is {} but its content is {}, so it cannot be used as evidence. Send the original scan or photo of the document.",
                declared.describe(),
                kind.describe()
            )));
        }
    }
    if seen > MAX_EVIDENCE_BYTES {
        drain(&mut stream, seen, content_length).await;
        return Err(too_large());
    }

    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Error::Internal(format!("evidence folder {}: {e}", dir.display())))?;
    let temp = TempFile {
        path: dir.join(format!(".upload-{}.part", crate::store::new_id())),
        armed: true,
    };
    let io = |e: std::io::Error| Error::Internal(format!("writing evidence: {e}"));
    let mut file = tokio::fs::File::create(&temp.path).await.map_err(io)?;
    let mut hasher = Sha256::new();
    hasher.update(&head);
    file.write_all(&head).await.map_err(io)?;
    drop(head);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(body_error)?;
        seen += chunk.len() as u64;
        if seen > MAX_EVIDENCE_BYTES {
            drop(file);
            drop(temp); // deletes the partial file now, before draining
            drain(&mut stream, seen, content_length).await;
            return Err(too_large());
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Received {
        kind,
        size: seen,
        sha256,
        temp,
    })
}

fn body_error(error: axum::Error) -> Error {
    Error::BadRequest(format!(
        "The file did not arrive completely ({error}). Try sending it again."
    ))
}

/// Discards the rest of a refused body, up to [`DRAIN_BYTES`] more (none if the declared
/// length says it would be longer), so the client can read the refusal.
async fn drain(
    stream: &mut axum::body::BodyDataStream,
    mut seen: u64,
    content_length: Option<u64>,
) {
    let limit = MAX_EVIDENCE_BYTES + DRAIN_BYTES;
    if content_length.is_some_and(|n| n > limit) {
        return;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while seen <= limit {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(chunk))) => seen += chunk.len() as u64,
            _ => return,
        }
    }
}

/// Deletes a stored file, logging (not failing) if it cannot.
pub async fn remove(path: &Path) {
    if let Err(error) = tokio::fs::remove_file(path).await {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::error!(path = %path.display(), %error, "could not delete an evidence file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_bytes() {
        assert_eq!(FileKind::sniff(b"%PDF-1.7\n"), Some(FileKind::Pdf));
        assert_eq!(
            FileKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(FileKind::Jpeg)
        );
        assert_eq!(
            FileKind::sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some(FileKind::Png)
        );
        assert_eq!(FileKind::sniff(b"\x7fELF\x02\x01\x01"), None);
        assert_eq!(FileKind::sniff(b"MZ\x90\x00"), None);
        assert_eq!(FileKind::sniff(b"%PD"), None);
    }

    #[test]
    fn declared_types_are_read_without_parameters() {
        assert_eq!(
            declared_kind(Some("application/PDF; charset=binary")),
            Ok(Some(FileKind::Pdf))
        );
        assert_eq!(declared_kind(Some("application/octet-stream")), Ok(None));
        assert_eq!(declared_kind(None), Ok(None));
        assert_eq!(declared_kind(Some("application/x-executable")), Err(()));
    }
}
