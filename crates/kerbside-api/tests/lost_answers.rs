//! The client resends a request that carries an idempotency key, with the same key, when the
//! connection drops after the request went out; it gives up after three attempts, and never
//! resends a request without a key.
//!
//! The far end is a bare TCP listener on 127.0.0.1:0 rather than the council: these tests need
//! to drop chosen connections and count attempts byte for byte. The same retry against the
//! real council, through a fault-injecting proxy, is proved in
//! crates/kerbside-council/tests/exactly_once.rs.

use kerbside_api::types::ProfileUpdate;
use kerbside_api::{CouncilClient, ErrorKind, IDEMPOTENCY_KEY_HEADER};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts connections; reads each request's head; drops the first `drop_first` connections
/// without answering and answers later ones with a 409 `{kind, message}`. Returns the URL and
/// the heads received.
async fn dropping_server(drop_first: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let count = {
                let mut seen = kept.lock().unwrap();
                seen.push(String::from_utf8_lossy(&head).into_owned());
                seen.len()
            };
            if count <= drop_first {
                drop(socket);
                continue;
            }
            let body = r#"{"kind":"conflict","message":"second attempt answered"}"#;
            let response = format!(
                "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (url, seen)
}

fn key_of(head: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER)
            .then(|| value.trim().to_string())
    })
}

#[tokio::test]
async fn a_lost_answer_is_asked_for_again_with_the_same_idempotency_key() {
    let (url, seen) = dropping_server(1).await;
    let client = CouncilClient::new(url).unwrap();
    let error = client
        .update_profile("token", &ProfileUpdate::default(), "key-123")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "second attempt answered",
        "the second attempt's answer reaches the caller"
    );
    assert_eq!(error.kind(), ErrorKind::Conflict);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "sent twice: {seen:?}");
    for head in &seen {
        assert!(head.starts_with("PATCH /api/v1/me "), "{head}");
        assert_eq!(key_of(head).as_deref(), Some("key-123"));
    }
}

#[tokio::test]
async fn after_three_lost_answers_the_resident_is_told_the_council_is_offline() {
    let (url, seen) = dropping_server(usize::MAX).await;
    let client = CouncilClient::new(url).unwrap();
    let error = client
        .update_profile("token", &ProfileUpdate::default(), "key-456")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Offline);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "one send and two resends: {seen:?}");
    assert!(seen.iter().all(|h| key_of(h).as_deref() == Some("key-456")));
}

#[tokio::test]
async fn a_request_without_an_idempotency_key_is_not_resent() {
    let (url, seen) = dropping_server(usize::MAX).await;
    let client = CouncilClient::new(url).unwrap();
    let error = client.profile("token").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Offline);
    assert_eq!(seen.lock().unwrap().len(), 1);
}
