//! Evidence files: received as a stream, recognised by their first bytes, capped at 10 MB
//! while they arrive, and written to the evidence folder under a generated name only.
//!
//! Images (PNG, JPEG) are then checked part by part — a damaged one, or one over 10,000 pixels
//! a side or 40 megapixels, is refused — and only a copy without their metadata (Exif with
//! the GPS position, XMP, IPTC, text and time chunks, comments) is kept.
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
    /// Of the stored copy (for an image, without its metadata).
    pub size: u64,
    /// Of the bytes as sent.
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
    // The hash is of the bytes as sent, so the same file sent again is known as one page.
    let sha256 = format!("{:x}", hasher.finalize());
    let (temp, size) = match kind {
        FileKind::Pdf => {
            file.sync_all().await.map_err(io)?;
            drop(file);
            (temp, seen)
        }
        // Images are kept only as a checked copy without their metadata.
        FileKind::Jpeg | FileKind::Png => {
            // tokio's File finishes its last write in the background: wait for it before the
            // file is read back.
            file.flush().await.map_err(io)?;
            drop(file);
            clean_image(dir, kind, temp).await?
        }
    };
    Ok(Received {
        kind,
        size,
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

/// Largest image accepted: at most this many pixels on either side…
pub const MAX_IMAGE_SIDE: u32 = 10_000;
/// …and at most this many in all (40 megapixels; a phone photo is 12 to 50).
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// Why an image was refused.
#[derive(Debug)]
pub enum ImageProblem {
    TooManyPixels {
        width: u32,
        height: u32,
    },
    /// Not a well-formed PNG or JPEG; says what was wrong, in a few words.
    Malformed(&'static str),
    /// Reading our own temporary file or writing the cleaned copy failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for ImageProblem {
    fn from(error: std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::UnexpectedEof {
            ImageProblem::Malformed("it ends part-way through")
        } else {
            ImageProblem::Io(error)
        }
    }
}

impl From<ImageProblem> for Error {
    fn from(problem: ImageProblem) -> Self {
        match problem {
            ImageProblem::TooManyPixels { width, height } => Error::Validation(format!(
                "This image is {width} × {height} pixels, which is more than the council accepts ({MAX_IMAGE_SIDE} pixels on a side and {} megapixels in all). Send a smaller photo or scan of the document.",
                MAX_IMAGE_PIXELS / 1_000_000
            )),
            ImageProblem::Malformed(what) => Error::Validation(format!(
                "This image file is damaged ({what}), so it cannot be used as evidence. Take the photo or scan again and send the new file."
            )),
            ImageProblem::Io(e) => Error::Internal(format!("cleaning an evidence image: {e}")),
        }
    }
}

/// The size of an image and how much metadata was taken out of it.
#[derive(Debug, PartialEq, Eq)]
pub struct CleanedImage {
    pub width: u32,
    pub height: u32,
    /// PNG chunks or JPEG segments left out of the stored copy.
    pub removed: usize,
}

fn check_pixels(width: u32, height: u32) -> std::result::Result<(), ImageProblem> {
    if width == 0 || height == 0 {
        return Err(ImageProblem::Malformed("it has no width or height"));
    }
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
    {
        return Err(ImageProblem::TooManyPixels { width, height });
    }
    Ok(())
}

/// PNG's CRC-32 (ISO 3309), table built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

fn crc_update(crc: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(crc, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// The end of a clean copy, for PNG and JPEG alike: the copy flushed, and what was found.
fn finish_cleaning(
    mut output: impl std::io::Write,
    size: Option<(u32, u32)>,
    removed: usize,
) -> std::result::Result<CleanedImage, ImageProblem> {
    output.flush()?;
    let (width, height) = size.unwrap_or_default();
    Ok(CleanedImage {
        width,
        height,
        removed,
    })
}

/// Ancillary PNG chunks that describe how to show the pixels, kept; every other ancillary
/// chunk (tEXt, zTXt, iTXt, eXIf, tIME and private ones) is left out, since those carry
/// metadata (camera, place, time, software) and nothing needed to show the page.
const PNG_KEPT_ANCILLARY: [&[u8; 4]; 13] = [
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"hIST", b"sPLT",
    b"cICP", b"mDCV", b"cLLI",
];

/// Copies a PNG from `input` to `output` chunk by chunk (never the whole file in memory),
/// checking its structure and every CRC, refusing it if it has too many pixels (from IHDR,
/// before any pixel data is read), and leaving out metadata chunks and anything after IEND.
pub fn clean_png(
    mut input: impl std::io::Read,
    mut output: impl std::io::Write,
) -> std::result::Result<CleanedImage, ImageProblem> {
    let mut signature = [0u8; 8];
    input.read_exact(&mut signature)?;
    if FileKind::sniff(&signature) != Some(FileKind::Png) {
        return Err(ImageProblem::Malformed("it does not start as a PNG does"));
    }
    output.write_all(&signature)?;
    let mut size = None;
    let mut removed = 0;
    let mut image_data = false;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let mut header = [0u8; 8];
        input.read_exact(&mut header)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        if length > 0x7FFF_FFFF || !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err(ImageProblem::Malformed(
                "a part of it has an impossible header",
            ));
        }
        let critical = kind[0].is_ascii_uppercase();
        match (&kind, size) {
            (b"IHDR", None) if length != 13 => {
                return Err(ImageProblem::Malformed("its header has the wrong length"))
            }
            (b"IHDR", None) => {}
            (_, None) => return Err(ImageProblem::Malformed("it does not start with a header")),
            (b"IHDR", Some(_)) => return Err(ImageProblem::Malformed("it has two headers")),
            (b"PLTE" | b"IDAT" | b"IEND", Some(_)) => {}
            _ if critical => {
                return Err(ImageProblem::Malformed(
                    "it has a part no PNG viewer understands",
                ))
            }
            _ => {}
        }
        let keep = critical || PNG_KEPT_ANCILLARY.contains(&&kind);
        if keep {
            output.write_all(&header)?;
        } else {
            removed += 1;
        }
        let mut crc = crc_update(0xFFFF_FFFF, &kind);
        let mut left = length as usize;
        while left > 0 {
            let piece = &mut buffer[..left.min(64 * 1024)];
            input.read_exact(piece)?;
            if size.is_none() {
                // IHDR: 13 bytes, read in one piece.
                let width = u32::from_be_bytes([piece[0], piece[1], piece[2], piece[3]]);
                let height = u32::from_be_bytes([piece[4], piece[5], piece[6], piece[7]]);
                check_pixels(width, height)?;
                size = Some((width, height));
            }
            crc = crc_update(crc, piece);
            if keep {
                output.write_all(piece)?;
            }
            left -= piece.len();
        }
        let mut stored_crc = [0u8; 4];
        input.read_exact(&mut stored_crc)?;
        if u32::from_be_bytes(stored_crc) != crc ^ 0xFFFF_FFFF {
            return Err(ImageProblem::Malformed("a checksum inside it is wrong"));
        }
        if keep {
            output.write_all(&stored_crc)?;
        }
        match &kind {
            b"IDAT" => image_data = true,
            b"IEND" if !image_data => {
                return Err(ImageProblem::Malformed("it has no picture in it"))
            }
            // Anything after the end is not part of the picture (and could hide another file).
            b"IEND" => break,
            _ => {}
        }
    }
    finish_cleaning(output, size, removed)
}

/// Which JPEG segments carry metadata rather than the picture: APP1 (Exif, with the camera,
/// time and GPS position; XMP), APP13 (IPTC), comments, and every other application segment
/// except APP0 (JFIF), APP2 holding an ICC colour profile, and APP14 (Adobe colour transform),
/// which decoders need to show the colours right.
fn jpeg_metadata(marker: u8, payload: &[u8]) -> bool {
    match marker {
        0xE0 | 0xEE => false,
        0xE2 => !payload.starts_with(b"ICC_PROFILE\0"),
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => true,
        _ => false,
    }
}

fn read_u8(input: &mut impl std::io::BufRead) -> std::io::Result<u8> {
    let mut byte = [0u8; 1];
    input.read_exact(&mut byte)?;
    Ok(byte[0])
}

/// Copies a JPEG from `input` to `output` segment by segment, checking its structure, refusing
/// it if its frame header (SOFn) gives too many pixels, leaving out metadata segments (see
/// [`jpeg_metadata`]) and anything after the end-of-image marker (where phones put extra
/// images with their own Exif). The compressed picture itself is copied byte for byte.
pub fn clean_jpeg(
    mut input: impl std::io::BufRead,
    mut output: impl std::io::Write,
) -> std::result::Result<CleanedImage, ImageProblem> {
    let mut start = [0u8; 2];
    input.read_exact(&mut start)?;
    if start != [0xFF, 0xD8] {
        return Err(ImageProblem::Malformed("it does not start as a JPEG does"));
    }
    output.write_all(&start)?;
    let mut size = None;
    let mut scanned = false;
    let mut removed = 0;
    // A marker already read at the end of compressed data.
    let mut pending: Option<u8> = None;
    loop {
        let marker = match pending.take() {
            Some(marker) => marker,
            None => {
                if read_u8(&mut input)? != 0xFF {
                    return Err(ImageProblem::Malformed(
                        "it has stray bytes between its parts",
                    ));
                }
                let mut marker = read_u8(&mut input)?;
                while marker == 0xFF {
                    marker = read_u8(&mut input)?; // fill bytes
                }
                marker
            }
        };
        match marker {
            0xD9 => {
                if !scanned {
                    return Err(ImageProblem::Malformed("it has no picture in it"));
                }
                output.write_all(&[0xFF, 0xD9])?;
                break;
            }
            0x01 | 0xD0..=0xD7 => {
                output.write_all(&[0xFF, marker])?;
                continue;
            }
            0x00 | 0xD8 => return Err(ImageProblem::Malformed("it has a misplaced marker")),
            _ => {}
        }
        let mut length = [0u8; 2];
        input.read_exact(&mut length)?;
        let length = usize::from(u16::from_be_bytes(length));
        if length < 2 {
            return Err(ImageProblem::Malformed(
                "a part of it has an impossible length",
            ));
        }
        let mut payload = vec![0u8; length - 2];
        input.read_exact(&mut payload)?;
        // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            if payload.len() < 6 {
                return Err(ImageProblem::Malformed("its frame header is cut short"));
            }
            let height = u32::from(u16::from_be_bytes([payload[1], payload[2]]));
            let width = u32::from(u16::from_be_bytes([payload[3], payload[4]]));
            check_pixels(width, height)?;
            size = Some((width, height));
        }
        if jpeg_metadata(marker, &payload) {
            removed += 1;
        } else {
            output.write_all(&[0xFF, marker])?;
            output.write_all(&(length as u16).to_be_bytes())?;
            output.write_all(&payload)?;
        }
        if marker != 0xDA {
            continue;
        }
        // Start of scan: compressed data follows, up to the next marker that is neither a
        // stuffed 0xFF00 nor a restart marker.
        if size.is_none() {
            return Err(ImageProblem::Malformed(
                "its picture comes before its frame header",
            ));
        }
        scanned = true;
        loop {
            let buffer = input.fill_buf()?;
            if buffer.is_empty() {
                return Err(ImageProblem::Malformed("it ends part-way through"));
            }
            match buffer.iter().position(|&b| b == 0xFF) {
                None => {
                    output.write_all(buffer)?;
                    let n = buffer.len();
                    input.consume(n);
                }
                Some(at) => {
                    output.write_all(&buffer[..at])?;
                    input.consume(at + 1);
                    let mut next = read_u8(&mut input)?;
                    while next == 0xFF {
                        next = read_u8(&mut input)?;
                    }
                    if next == 0x00 || (0xD0..=0xD7).contains(&next) {
                        output.write_all(&[0xFF, next])?;
                    } else {
                        pending = Some(next);
                        break;
                    }
                }
            }
        }
    }
    finish_cleaning(output, size, removed)
}

/// Writes the cleaned copy of the image in `received` to a new temporary file beside it and
/// returns that file and its size; the original (with its metadata) is deleted when its guard
/// is dropped. Runs on a blocking thread: it is plain file I/O, up to 10 MB.
async fn clean_image(dir: &Path, kind: FileKind, received: TempFile) -> Result<(TempFile, u64)> {
    let cleaned = TempFile {
        path: dir.join(format!(".upload-{}.part", crate::store::new_id())),
        armed: true,
    };
    tokio::task::spawn_blocking(move || -> std::result::Result<_, ImageProblem> {
        let input =
            std::io::BufReader::with_capacity(64 * 1024, std::fs::File::open(&received.path)?);
        let mut output =
            std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(&cleaned.path)?);
        let image = match kind {
            FileKind::Png => clean_png(input, &mut output)?,
            FileKind::Jpeg => clean_jpeg(input, &mut output)?,
            FileKind::Pdf => unreachable!("only images are cleaned"),
        };
        let target = output
            .into_inner()
            .map_err(|e| ImageProblem::Io(e.into_error()))?;
        target.sync_all()?;
        let size = target.metadata()?.len();
        tracing::debug!(
            width = image.width,
            height = image.height,
            removed = image.removed,
            "evidence image checked and cleaned"
        );
        drop(received); // deletes the original, metadata and all
        Ok((cleaned, size))
    })
    .await
    .map_err(|e| Error::Internal(format!("cleaning an evidence image: {e}")))?
    .map_err(Error::from)
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

    const PAGE_PNG: &[u8] = include_bytes!("../tests/fixtures/page.png");
    const PAGE_JPEG: &[u8] = include_bytes!("../tests/fixtures/page.jpg");

    /// A PNG chunk with its length and CRC.
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc_update(crc_update(0xFFFF_FFFF, kind), data) ^ 0xFFFF_FFFF;
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    fn png_of(width: u32, height: u32, extra: &[Vec<u8>]) -> Vec<u8> {
        let mut ihdr = width.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        for c in extra {
            png.extend_from_slice(c);
        }
        png.extend(chunk(b"IDAT", b"\x78\x9c\x63\x60\x00\x00\x00\x02\x00\x01"));
        png.extend(chunk(b"IEND", b""));
        png
    }

    fn png(input: &[u8]) -> std::result::Result<(CleanedImage, Vec<u8>), ImageProblem> {
        let mut out = Vec::new();
        clean_png(input, &mut out).map(|i| (i, out))
    }

    fn jpeg(input: &[u8]) -> std::result::Result<(CleanedImage, Vec<u8>), ImageProblem> {
        let mut out = Vec::new();
        clean_jpeg(input, &mut out).map(|i| (i, out))
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// A JPEG segment: marker, length, payload.
    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0xFF, marker];
        out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The fixture JPEG with `segments` inserted after its APP0 (JFIF) segment.
    fn jpeg_with(segments: &[Vec<u8>]) -> Vec<u8> {
        let app0_end = 4 + usize::from(u16::from_be_bytes([PAGE_JPEG[4], PAGE_JPEG[5]]));
        let mut out = PAGE_JPEG[..app0_end].to_vec();
        for s in segments {
            out.extend_from_slice(s);
        }
        out.extend_from_slice(&PAGE_JPEG[app0_end..]);
        out
    }

    #[test]
    fn a_png_keeps_its_picture_and_loses_its_text_and_time_chunks() {
        // The fixture, written by ImageMagick, has tIME and two tEXt chunks (dates).
        assert!(contains(PAGE_PNG, b"tIME") && contains(PAGE_PNG, b"tEXt"));
        let (image, out) = png(PAGE_PNG).unwrap();
        assert_eq!((image.width, image.height, image.removed), (4, 4, 3));
        for gone in [&b"tIME"[..], b"tEXt", b"date:create"] {
            assert!(!contains(&out, gone), "{}", String::from_utf8_lossy(gone));
        }
        for kept in [
            &b"IHDR"[..],
            b"gAMA",
            b"cHRM",
            b"PLTE",
            b"bKGD",
            b"IDAT",
            b"IEND",
        ] {
            assert!(contains(&out, kept), "{}", String::from_utf8_lossy(kept));
        }
        // Cleaning twice changes nothing more.
        assert_eq!(png(&out).unwrap().1, out);
    }

    #[test]
    fn png_exif_international_text_and_private_chunks_are_removed() {
        let gps = b"Exif GPS 52.6309N 1.1398W";
        let input = png_of(
            3,
            2,
            &[
                chunk(b"eXIf", gps),
                chunk(b"iTXt", b"Author\0\0\0en\0\0Sam"),
                chunk(b"zTXt", b"Comment\0\0x"),
                chunk(b"prVt", b"private"),
                chunk(b"pHYs", &[0, 0, 11, 19, 0, 0, 11, 19, 1]),
            ],
        );
        let (image, out) = png(&input).unwrap();
        assert_eq!(image.removed, 4);
        assert!(!contains(&out, gps));
        assert!(!contains(&out, b"Sam") && !contains(&out, b"private"));
        assert!(contains(&out, b"pHYs"));
        assert_eq!(
            out,
            png_of(3, 2, &[chunk(b"pHYs", &[0, 0, 11, 19, 0, 0, 11, 19, 1])])
        );
    }

    #[test]
    fn a_png_over_the_pixel_limits_is_refused_from_its_header() {
        let header_only = &png_of(20_000, 20_000, &[])[..33];
        assert!(matches!(
            png(header_only),
            Err(ImageProblem::TooManyPixels {
                width: 20_000,
                height: 20_000
            })
        ));
        // 10,001 wide is too wide; 10,000 × 4,000 is exactly 40 megapixels and allowed;
        // 8,000 × 5,001 is within each side but over 40 megapixels.
        assert!(matches!(
            png(&png_of(10_001, 1, &[])),
            Err(ImageProblem::TooManyPixels { .. })
        ));
        assert!(png(&png_of(10_000, 4_000, &[])).is_ok());
        assert!(matches!(
            png(&png_of(8_000, 5_001, &[])),
            Err(ImageProblem::TooManyPixels { .. })
        ));
        let refused: Error = png(header_only).unwrap_err().into();
        assert_eq!(
            refused.status_and_body().0,
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(
            refused
                .to_string()
                .starts_with("This image is 20000 × 20000 pixels"),
            "{refused}"
        );
    }

    #[test]
    fn malformed_pngs_are_refused_with_a_reason() {
        let good = png_of(2, 2, &[]);
        let mut bad_crc = good.clone();
        bad_crc[29] ^= 0xFF; // inside IHDR's CRC
        let no_ihdr = [&good[..8], &chunk(b"IDAT", b"x")[..], &chunk(b"IEND", b"")].concat();
        let no_idat = [&good[..33], &chunk(b"IEND", b"")[..]].concat();
        let unknown_critical = png_of(2, 2, &[chunk(b"ABCD", b"")]);
        let truncated = &good[..good.len() - 6];
        let zero_wide = png_of(0, 5, &[]);
        let mut bad_length = good.clone();
        bad_length[8..12].copy_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
        for (name, input) in [
            ("bad crc", &bad_crc[..]),
            ("no header", &no_ihdr),
            ("no picture", &no_idat),
            ("unknown critical chunk", &unknown_critical),
            ("cut short", truncated),
            ("zero width", &zero_wide),
            ("impossible length", &bad_length),
            ("just the signature", &good[..8]),
        ] {
            match png(input) {
                Err(ImageProblem::Malformed(why)) => {
                    let message = Error::from(ImageProblem::Malformed(why)).to_string();
                    assert!(
                        message.starts_with("This image file is damaged ("),
                        "{name}: {message}"
                    );
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn anything_after_a_png_ends_is_dropped() {
        let good = png_of(2, 2, &[]);
        let with_tail = [&good[..], b"%PDF-1.7 hidden"].concat();
        assert_eq!(png(&with_tail).unwrap().1, good);
    }

    #[test]
    fn a_jpeg_keeps_its_picture_byte_for_byte() {
        let (image, out) = jpeg(PAGE_JPEG).unwrap();
        assert_eq!((image.width, image.height, image.removed), (8, 8, 0));
        assert_eq!(out, PAGE_JPEG);
    }

    #[test]
    fn jpeg_exif_xmp_iptc_and_comments_are_removed_and_nothing_else() {
        let exif = [&b"Exif\0\0MM\0\x2a\0\0\0\x08"[..], b"GPSLatitude 52.6309 N"].concat();
        let input = jpeg_with(&[
            segment(0xE1, &exif),
            segment(
                0xE1,
                b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Sam's phone</x:xmpmeta>",
            ),
            segment(0xED, b"Photoshop 3.0\0IPTC by-line"),
            segment(0xFE, b"taken at 12 Hazel Street"),
            segment(0xE2, b"MPF\0secondary image index"),
            segment(0xE2, b"ICC_PROFILE\0\x01\x01profile"),
            segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
        ]);
        let (image, out) = jpeg(&input).unwrap();
        assert_eq!(image.removed, 5);
        for gone in [
            &b"Exif"[..],
            b"GPSLatitude",
            b"xmpmeta",
            b"IPTC",
            b"Hazel",
            b"MPF",
        ] {
            assert!(!contains(&out, gone), "{}", String::from_utf8_lossy(gone));
        }
        let expected = jpeg_with(&[
            segment(0xE2, b"ICC_PROFILE\0\x01\x01profile"),
            segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
        ]);
        assert_eq!(out, expected, "only the metadata segments are gone");
    }

    #[test]
    fn what_follows_a_jpeg_end_is_dropped_with_its_own_exif() {
        // Phones append a second image (MPF) with its own Exif after the first one ends.
        let extra = [
            &PAGE_JPEG[..2],
            &segment(0xE1, b"Exif\0\0GPS")[..],
            &PAGE_JPEG[2..],
        ]
        .concat();
        let input = [PAGE_JPEG, &extra].concat();
        assert_eq!(jpeg(&input).unwrap().1, PAGE_JPEG);
    }

    #[test]
    fn a_jpeg_over_the_pixel_limits_is_refused_from_its_frame_header() {
        let sof = PAGE_JPEG
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .unwrap();
        let sized = |width: u16, height: u16| {
            let mut j = PAGE_JPEG.to_vec();
            j[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
            j[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
            j
        };
        assert!(matches!(
            jpeg(&sized(20_000, 20_000)),
            Err(ImageProblem::TooManyPixels {
                width: 20_000,
                height: 20_000
            })
        ));
        assert!(matches!(
            jpeg(&sized(9_000, 5_000)),
            Err(ImageProblem::TooManyPixels { .. })
        ));
        assert_eq!(jpeg(&sized(4_000, 3_000)).unwrap().0.width, 4_000);
        assert!(matches!(
            jpeg(&sized(0, 8)),
            Err(ImageProblem::Malformed(_))
        ));
    }

    #[test]
    fn malformed_jpegs_are_refused_with_a_reason() {
        let eoi = PAGE_JPEG.len() - 2;
        let sos = PAGE_JPEG
            .windows(2)
            .position(|w| w == [0xFF, 0xDA])
            .unwrap();
        let sof = PAGE_JPEG
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .unwrap();
        let sof_len = 2 + usize::from(u16::from_be_bytes([PAGE_JPEG[sof + 2], PAGE_JPEG[sof + 3]]));
        let without_sof = [&PAGE_JPEG[..sof], &PAGE_JPEG[sof + sof_len..]].concat();
        let mut zero_length = PAGE_JPEG.to_vec();
        zero_length[4..6].copy_from_slice(&[0, 1]);
        let stray = [&PAGE_JPEG[..20], b"junk", &PAGE_JPEG[20..]].concat();
        let header_only = [&PAGE_JPEG[..sos], &[0xFF, 0xD9][..]].concat();
        for (name, input) in [
            ("no end", &PAGE_JPEG[..eoi]),
            ("cut in a segment", &PAGE_JPEG[..100]),
            ("scan before frame", &without_sof[..]),
            ("impossible length", &zero_length),
            ("stray bytes", &stray),
            ("no picture", &header_only),
            (
                "second start",
                &[&PAGE_JPEG[..2], &[0xFF, 0xD8][..]].concat(),
            ),
            ("just the start", &PAGE_JPEG[..3]),
        ] {
            match jpeg(input) {
                Err(ImageProblem::Malformed(_)) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_image_parsers_never_panic_on_cut_or_corrupted_input() {
        // Every prefix, and every single-byte change of the fixtures: an answer, never a panic.
        for fixture in [PAGE_PNG, PAGE_JPEG] {
            for end in 0..fixture.len() {
                let _ = png(&fixture[..end]);
                let _ = jpeg(&fixture[..end]);
            }
            for at in 0..fixture.len() {
                for flip in [0x01u8, 0x80, 0xFF] {
                    let mut changed = fixture.to_vec();
                    changed[at] ^= flip;
                    let _ = png(&changed);
                    let _ = jpeg(&changed);
                }
            }
        }
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
