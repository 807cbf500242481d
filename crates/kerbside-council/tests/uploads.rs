//! Evidence uploads against a real council over HTTP: files are judged by their bytes (never by
//! the name or type the app claims), a body far over 10 MB is refused after reading only a
//! bounded part of it, images over 10,000 pixels a side or 40 megapixels and damaged images are
//! refused with a reason, and the copy the council keeps (under a generated name) has no
//! metadata: no Exif GPS position, no text or time chunks.

mod support;

use kerbside_api::types::*;
use kerbside_api::{CouncilClient, ErrorKind};
use kerbside_rules::EvidenceDocument;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use support::{files_in, leicester_address, Db, TestCouncil};

/// 8 × 8 pixels, written by ImageMagick: no metadata of its own.
const PAGE_JPEG: &[u8] = include_bytes!("fixtures/page.jpg");
/// 4 × 4 pixels, written by ImageMagick, with a tIME chunk and two tEXt chunks (dates).
const PAGE_PNG: &[u8] = include_bytes!("fixtures/page.png");

async fn start() -> TestCouncil {
    TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await
}

async fn new_change(council: &TestCouncil, token: &str) -> AddressChange {
    let request = AddressChangeRequest {
        address: leicester_address("3", "Westcotes Drive", "LE3 0QT"),
        document: EvidenceDocument::TenancyAgreement,
    };
    council
        .client
        .create_address_change(token, &request, &CouncilClient::new_idempotency_key())
        .await
        .expect("change created")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// An Exif APP1 segment as a phone writes it: a TIFF header, IFD0 pointing at a GPS IFD, and
/// the GPS IFD with latitude/longitude references and rationals (52°38'N, 1°8'W: Leicester).
fn exif_with_gps() -> Vec<u8> {
    let mut tiff: Vec<u8> = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    // IFD0: one entry, GPSInfo (0x8825, LONG) -> offset 26.
    tiff.extend_from_slice(&[0x00, 0x01, 0x88, 0x25, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 26]);
    // No next IFD.
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    // The GPS IFD at 26: four entries; their rationals follow at 26 + 2 + 4 * 12 + 4 = 80.
    tiff.extend_from_slice(&[0x00, 0x04]);
    tiff.extend_from_slice(&[0x00, 0x01, 0x00, 0x02, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&[0x00, 0x02, 0x00, 0x05, 0, 0, 0, 3, 0, 0, 0, 80]);
    tiff.extend_from_slice(&[0x00, 0x03, 0x00, 0x02, 0, 0, 0, 2, b'W', 0, 0, 0]);
    tiff.extend_from_slice(&[0x00, 0x04, 0x00, 0x05, 0, 0, 0, 3, 0, 0, 0, 104]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    for (degrees, minutes) in [(52u32, 38u32), (1, 8)] {
        for (numerator, denominator) in [(degrees, 1u32), (minutes, 1), (0, 1)] {
            tiff.extend_from_slice(&numerator.to_be_bytes());
            tiff.extend_from_slice(&denominator.to_be_bytes());
        }
    }
    let payload = [&b"Exif\x00\x00"[..], &tiff].concat();
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&payload);
    segment
}

/// The fixture JPEG as a phone would send it: Exif with GPS right after the start marker.
fn photo_with_gps() -> Vec<u8> {
    [&PAGE_JPEG[..2], &exif_with_gps(), &PAGE_JPEG[2..]].concat()
}

/// A PNG chunk with its length and CRC-32.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&(crc ^ 0xFFFF_FFFF).to_be_bytes());
    out
}

/// A PNG whose header says `width` × `height`, with a token IDAT (never decoded).
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    [
        &b"\x89PNG\r\n\x1a\n"[..],
        &chunk(b"IHDR", &ihdr),
        &chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
        &chunk(b"IEND", b""),
    ]
    .concat()
}

/// Stored evidence files with their contents.
fn stored_files(council: &TestCouncil) -> Vec<(String, Vec<u8>)> {
    files_in(&council.evidence_dir)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(council.evidence_dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

/// A name the council made up: 32 hex digits and the extension of the content's kind.
fn is_generated_name(name: &str, extension: &str) -> bool {
    match name.split_once('.') {
        Some((stem, ext)) => {
            ext == extension
                && stem.len() == 32
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }
        None => false,
    }
}

#[tokio::test]
async fn a_photo_with_a_gps_position_is_stored_without_its_exif() {
    let council = start().await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    let photo = photo_with_gps();
    assert!(contains(&photo, b"Exif\0\0MM"));

    let added = council
        .client
        .upload_evidence(&alice, &change.id, photo.clone(), "image/jpeg")
        .await
        .expect("a photo of the tenancy agreement is accepted");
    assert_eq!(added.files.len(), 1);
    assert_eq!(added.files[0].content_type, "image/jpeg");

    let stored = stored_files(&council);
    assert_eq!(stored.len(), 1, "{:?}", files_in(&council.evidence_dir));
    let (name, bytes) = &stored[0];
    assert!(is_generated_name(name, "jpg"), "{name}");
    assert!(!contains(bytes, b"Exif"), "the Exif segment is gone");
    assert!(!contains(bytes, &[0x88, 0x25]), "so is the GPS pointer");
    assert_eq!(
        bytes, PAGE_JPEG,
        "and only it: the picture is byte for byte the same"
    );
    assert_eq!(added.files[0].size_bytes, bytes.len() as u64);

    // Sending the same photo again (a retry) is still one page: it is known by what was sent,
    // not by the cleaned copy.
    let again = council
        .client
        .upload_evidence(&alice, &change.id, photo, "image/jpeg")
        .await
        .unwrap();
    assert_eq!(again.files.len(), 1);
    assert_eq!(stored_files(&council).len(), 1);

    // What the officer downloads is that clean copy.
    let officer = council.officer("officer@council.example").await;
    council
        .client
        .submit_address_change(&alice, &change.id, &CouncilClient::new_idempotency_key())
        .await
        .unwrap();
    let download = council
        .client
        .officer_evidence_file(&officer, &change.id, &added.files[0].id)
        .await
        .unwrap();
    assert_eq!(download.content_type, "image/jpeg");
    assert_eq!(download.bytes, PAGE_JPEG);
}

#[tokio::test]
async fn a_png_is_stored_without_its_text_and_time_chunks() {
    let council = start().await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    assert!(contains(PAGE_PNG, b"tIME") && contains(PAGE_PNG, b"date:create"));

    let added = council
        .client
        .upload_evidence(&alice, &change.id, PAGE_PNG.to_vec(), "image/png")
        .await
        .expect("a PNG scan is accepted");
    let stored = stored_files(&council);
    assert_eq!(stored.len(), 1);
    let (name, bytes) = &stored[0];
    assert!(is_generated_name(name, "png"), "{name}");
    for gone in [&b"tIME"[..], b"tEXt", b"date:create", b"date:modify"] {
        assert!(
            !contains(bytes, gone),
            "{} still stored",
            String::from_utf8_lossy(gone)
        );
    }
    for kept in [&b"IHDR"[..], b"PLTE", b"IDAT", b"IEND"] {
        assert!(contains(bytes, kept), "{}", String::from_utf8_lossy(kept));
    }
    assert_eq!(added.files[0].size_bytes, bytes.len() as u64);
    assert!(bytes.len() < PAGE_PNG.len());
}

#[tokio::test]
async fn images_over_the_pixel_limits_and_damaged_images_are_refused_with_a_reason() {
    let council = start().await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;

    let huge = council
        .client
        .upload_evidence(
            &alice,
            &change.id,
            png_claiming(20_000, 20_000),
            "image/png",
        )
        .await
        .unwrap_err();
    assert_eq!(huge.kind(), ErrorKind::Validation);
    assert_eq!(
        huge.to_string(),
        "This image is 20000 × 20000 pixels, which is more than the council accepts (10000 pixels on a side and 40 megapixels in all). Send a smaller photo or scan of the document."
    );

    // The same refusal over plain HTTP is a 422, as the OpenAPI document says.
    let response = council
        .http
        .post(council.url(&format!("/api/v1/address-changes/{}/files", change.id)))
        .bearer_auth(&alice)
        .header("content-type", "image/png")
        .body(png_claiming(9_000, 9_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "81 megapixels");

    // A photo cut off part-way (an interrupted copy from the phone).
    let cut = PAGE_JPEG[..PAGE_JPEG.len() - 20].to_vec();
    let damaged = council
        .client
        .upload_evidence(&alice, &change.id, cut, "image/jpeg")
        .await
        .unwrap_err();
    assert_eq!(damaged.kind(), ErrorKind::Validation);
    assert!(
        damaged
            .to_string()
            .starts_with("This image file is damaged (it ends part-way through)"),
        "{damaged}"
    );
    // A PNG with a corrupted byte fails its checksum.
    let mut corrupted = PAGE_PNG.to_vec();
    corrupted[42] ^= 0x55; // inside the gAMA chunk's data
    let damaged = council
        .client
        .upload_evidence(&alice, &change.id, corrupted, "image/png")
        .await
        .unwrap_err();
    assert!(
        damaged
            .to_string()
            .contains("a checksum inside it is wrong"),
        "{damaged}"
    );

    assert!(
        files_in(&council.evidence_dir).is_empty(),
        "no temporary files left: {:?}",
        files_in(&council.evidence_dir)
    );
    assert_eq!(
        council.count("SELECT COUNT(*) FROM evidence_files").await,
        0
    );
}

#[tokio::test]
async fn a_pdf_named_as_a_png_and_a_windows_program_named_as_a_pdf_are_refused() {
    let council = start().await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n".to_vec();

    let pdf_as_png = council
        .client
        .upload_evidence(&alice, &change.id, pdf, "image/png")
        .await
        .unwrap_err();
    assert_eq!(
        pdf_as_png.to_string(),
        "This file says it is a PNG image but its content is a PDF, so it cannot be used as evidence. Send the original scan or photo of the document."
    );

    // A Windows executable starts "MZ"; named scan.pdf, the app sends it as a PDF.
    let mut program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    program.extend_from_slice(b"This program cannot be run in DOS mode.\r\r\n$");
    let response = council
        .http
        .post(council.url(&format!("/api/v1/address-changes/{}/files", change.id)))
        .bearer_auth(&alice)
        .header("content-type", "application/pdf")
        .body(program)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let error: kerbside_api::ApiError = response.json().await.unwrap();
    assert!(
        error
            .message
            .starts_with("This file is not a PDF, JPEG or PNG"),
        "{}",
        error.message
    );
    assert!(files_in(&council.evidence_dir).is_empty());
}

/// 200 MB offered as a chunked body, from a generator (never in memory), on a raw socket.
const OFFERED: u64 = 200 * 1024 * 1024;

#[tokio::test]
async fn a_200_mb_body_is_refused_after_reading_only_a_bounded_part_of_it() {
    let council = start().await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    let addr = council.server.addr;
    let path = format!("/api/v1/address-changes/{}/files", change.id);

    let (response, sent_when_answered) = tokio::task::spawn_blocking(move || {
        let socket = std::net::TcpStream::connect(addr).unwrap();
        let mut writer = socket.try_clone().unwrap();
        let mut reader = socket.try_clone().unwrap();
        reader
            .set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let sending = std::thread::spawn({
            let sent = sent.clone();
            move || {
                write!(
                    writer,
                    "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {alice}\r\n\
                     Content-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                .unwrap();
                let mut piece = vec![b'0'; 256 * 1024];
                piece[..8].copy_from_slice(b"%PDF-1.7");
                while sent.load(Ordering::SeqCst) < OFFERED {
                    let ok = write!(writer, "{:x}\r\n", piece.len())
                        .and_then(|_| writer.write_all(&piece))
                        .and_then(|_| writer.write_all(b"\r\n"));
                    if ok.is_err() {
                        return; // the server closed the connection: it read no more
                    }
                    sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
                    piece[..8].copy_from_slice(b"00000000");
                }
                let _ = writer.write_all(b"0\r\n\r\n");
            }
        });
        // The answer is read while the body is still being offered.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && reader.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let sent_when_answered = sent.load(Ordering::SeqCst);
        let mut rest = vec![0u8; 4096];
        let n = reader.read(&mut rest).unwrap_or(0);
        head.extend_from_slice(&rest[..n]);
        // Stop offering; the sender sees the closed socket and ends.
        let _ = socket.shutdown(std::net::Shutdown::Both);
        sending.join().unwrap();
        (
            String::from_utf8_lossy(&head).into_owned(),
            sent_when_answered,
        )
    })
    .await
    .unwrap();

    eprintln!(
        "413 answered after {:.1} MB of the 200 MB were sent",
        sent_when_answered as f64 / (1024.0 * 1024.0)
    );
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("larger than 10 MB"), "{response}");
    // The server reads at most 10 MB plus a 16 MB drain (so the app can read the answer); the
    // rest of what was sent sat in socket buffers. Far less than the 200 MB offered.
    assert!(
        sent_when_answered < 64 * 1024 * 1024,
        "answered only after {} MB",
        sent_when_answered / (1024 * 1024)
    );
    assert!(
        files_in(&council.evidence_dir).is_empty(),
        "{:?}",
        files_in(&council.evidence_dir)
    );
    assert_eq!(
        council.count("SELECT COUNT(*) FROM evidence_files").await,
        0
    );
}
