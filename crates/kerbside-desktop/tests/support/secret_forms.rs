//! Searching files and logs for a secret in every form a leak would take. Shared by
//! tests/secrets_scan.rs here and the end-to-end tests/e2e_secrets.rs at the workspace root
//! (which includes this file by path), so both search for the same forms.
#![allow(dead_code)]

use std::path::Path;

/// A named encoding of a secret, e.g. ("UTF-16LE", bytes).
pub type Form = (String, Vec<u8>);
/// A named place searched, e.g. (a file's path, its bytes).
pub type Place = (String, Vec<u8>);

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64(bytes: &[u8], url: bool) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            let c = B64[((n >> (18 - 6 * i)) & 63) as usize];
            out.push(match (url, c) {
                (true, b'+') => '-',
                (true, b'/') => '_',
                _ => c as char,
            });
        }
    }
    out
}

pub fn base64url_decode(text: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = match c {
            b'-' => 62,
            b'_' => 63,
            _ => B64.iter().position(|b| *b == c).expect("base64url") as u32,
        };
        bits = (bits << 6) | v;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    out
}

/// The forms a leaked secret would take, each with a name for the failure message.
pub fn forms(secret: &str) -> Vec<Form> {
    let mut forms = vec![
        ("UTF-8".to_string(), secret.as_bytes().to_vec()),
        (
            "UTF-16LE".into(),
            secret.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        (
            "UTF-16BE".into(),
            secret.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
    ];
    // Inside a longer base64 text the secret's encoding depends on its offset modulo 3: encode
    // it after 0, 1 and 2 filler bytes and keep the groups made of the secret's bytes alone.
    for url in [false, true] {
        for offset in 0..3 {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = base64(&bytes, url);
            let skip = if offset == 0 { 0 } else { 4 };
            let core = &encoded[skip..encoded.len() - 4];
            let name = if url { "base64url" } else { "base64" };
            forms.push((
                format!("{name} at offset {offset}"),
                core.as_bytes().to_vec(),
            ));
        }
    }
    forms
}

/// The token is base64url of 32 random bytes: those bytes, and their hex, are leaks too.
pub fn token_forms(token: &str) -> Vec<Form> {
    let raw = base64url_decode(token);
    assert_eq!(raw.len(), 32, "the token carries 256 bits");
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut all = forms(token);
    all.push(("raw bytes".into(), raw));
    all.push(("hex".into(), hex.clone().into_bytes()));
    all.push(("HEX".into(), hex.to_uppercase().into_bytes()));
    all
}

pub fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir`, recursively, with its bytes (symlinks, sockets and pipes
/// are skipped: a pipe would block the read).
pub fn files_under(dir: &Path) -> Vec<Place> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files.extend(files_under(&path));
        } else if kind.is_file() {
            if let Ok(bytes) = std::fs::read(&path) {
                files.push((path.display().to_string(), bytes));
            }
        }
    }
    files
}

/// Where any form of any secret was found, as "what (form) in where".
pub fn leaks(places: &[Place], secrets: &[(&str, Vec<Form>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, bytes) in places {
        for (what, forms) in secrets {
            for (form, needle) in forms {
                if find(bytes, needle) {
                    found.push(format!("the {what} ({form}) in {place}"));
                }
            }
        }
    }
    found
}
