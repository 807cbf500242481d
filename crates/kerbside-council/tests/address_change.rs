//! Change of address with evidence: uploads checked by their bytes and capped while streaming,
//! officers' decisions (audited), and who may see what.

mod support;

use kerbside_api::types::*;
use kerbside_api::{CouncilClient, ErrorKind};
use kerbside_rules::{EvidenceDocument, PermitType};
use std::io::{Read, Write};
use support::{files_in, leicester_address, Db, TestCouncil};

const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
];
const ELF: &[u8] = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00";

fn pdf(text: &str) -> Vec<u8> {
    format!("%PDF-1.7\n% {text}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
        .into_bytes()
}

fn westcotes() -> AddressChangeRequest {
    AddressChangeRequest {
        address: leicester_address("3", "Westcotes Drive", "LE3 0QT"),
        document: EvidenceDocument::CouncilTaxBill,
    }
}

fn key() -> String {
    CouncilClient::new_idempotency_key()
}

async fn start(db: Db) -> TestCouncil {
    TestCouncil::start(db, "2027-03-01T09:00:00Z").await
}

async fn new_change(council: &TestCouncil, token: &str) -> AddressChange {
    council
        .client
        .create_address_change(token, &westcotes(), &key())
        .await
        .expect("change created")
}

/// Stored evidence files (ignores nothing: a leftover `.part` file would show up too).
fn stored(council: &TestCouncil) -> Vec<String> {
    files_in(&council.evidence_dir)
}

#[tokio::test]
async fn a_pdf_is_accepted_stored_under_a_generated_name_and_submitted() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    assert_eq!(change.status, AddressChangeStatus::AwaitingFiles);
    assert_eq!(
        change.document_must_show,
        "a council tax bill for the new address"
    );

    let too_soon = council
        .client
        .submit_address_change(&alice, &change.id, &key())
        .await
        .unwrap_err();
    assert_eq!(too_soon.kind(), ErrorKind::Validation);
    assert!(
        too_soon.to_string().contains("Add at least one page"),
        "{too_soon}"
    );

    let with_page = council
        .client
        .upload_evidence(
            &alice,
            &change.id,
            pdf("council tax bill"),
            "application/pdf",
        )
        .await
        .expect("a PDF is accepted");
    assert_eq!(with_page.files.len(), 1);
    assert_eq!(with_page.files[0].content_type, "application/pdf");
    assert_eq!(with_page.files[0].page_number, 1);
    let names = stored(&council);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].ends_with(".pdf") && names[0].len() == 32 + 4,
        "{names:?}"
    );

    // The same bytes again (a retry after a lost answer) stay one page.
    let again = council
        .client
        .upload_evidence(
            &alice,
            &change.id,
            pdf("council tax bill"),
            "application/pdf",
        )
        .await
        .unwrap();
    assert_eq!(again.files.len(), 1);
    assert_eq!(stored(&council).len(), 1);

    // A JPEG declared generically is recognised from its bytes.
    let jpeg = include_bytes!("fixtures/page.jpg").to_vec();
    let two = council
        .client
        .upload_evidence(&alice, &change.id, jpeg, "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(two.files[1].content_type, "image/jpeg");
    assert_eq!(two.files[1].page_number, 2);

    let submitted = council
        .client
        .submit_address_change(&alice, &change.id, &key())
        .await
        .unwrap();
    assert_eq!(submitted.status, AddressChangeStatus::Submitted);
    let late = council
        .client
        .upload_evidence(&alice, &change.id, pdf("late page"), "application/pdf")
        .await
        .unwrap_err();
    assert_eq!(late.kind(), ErrorKind::Conflict);
    assert_eq!(stored(&council).len(), 2);
}

#[tokio::test]
async fn a_png_named_as_a_pdf_and_an_executable_are_refused_and_nothing_is_kept() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;

    // The app sends what the file's name (scan.pdf) suggests; the bytes are a PNG.
    let png_as_pdf = council
        .client
        .upload_evidence(&alice, &change.id, PNG.to_vec(), "application/pdf")
        .await
        .unwrap_err();
    assert_eq!(png_as_pdf.kind(), ErrorKind::Validation);
    assert!(
        png_as_pdf
            .to_string()
            .contains("says it is a PDF but its content is a PNG image"),
        "{png_as_pdf}"
    );

    for declared in [
        "application/pdf",
        "application/octet-stream",
        "application/x-executable",
    ] {
        let response = council
            .http
            .post(council.url(&format!("/api/v1/address-changes/{}/files", change.id)))
            .bearer_auth(&alice)
            .header("content-type", declared)
            .body(ELF.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{declared}");
        let error: kerbside_api::ApiError = response.json().await.unwrap();
        assert_eq!(error.kind, ErrorKind::Validation);
        assert_eq!(
            error.message,
            "This file is not a PDF, JPEG or PNG, so it cannot be used as evidence. Scan or photograph the document and send it as one of those."
        );
    }
    let empty = council
        .client
        .upload_evidence(&alice, &change.id, Vec::new(), "application/pdf")
        .await
        .unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::Validation);

    assert!(stored(&council).is_empty(), "{:?}", stored(&council));
    assert_eq!(
        council.count("SELECT COUNT(*) FROM evidence_files").await,
        0
    );
    let list = council.client.address_changes(&alice).await.unwrap();
    assert!(list.changes[0].files.is_empty());
}

#[tokio::test]
async fn a_file_over_10_mb_is_refused_with_413_and_leaves_nothing_behind() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    let mut big = pdf("huge scan");
    big.resize(11 * 1024 * 1024, b'0');

    // With a Content-Length (what the app's client sends): refused from the header.
    let error = council
        .client
        .upload_evidence(&alice, &change.id, big.clone(), "application/pdf")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Validation, "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("This file is larger than 10 MB."),
        "{error}"
    );

    // Chunked, with no length given: the cap is applied while the body streams in.
    let status_line = tokio::task::spawn_blocking({
        let addr = council.server.addr;
        let path = format!("/api/v1/address-changes/{}/files", change.id);
        let token = alice.clone();
        move || chunked_upload(addr, &path, &token, &big)
    })
    .await
    .unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    assert!(status_line.contains("larger than 10 MB"), "{status_line}");

    // Exactly 10 MB is still accepted.
    let mut limit = pdf("just fits");
    limit.resize(10 * 1024 * 1024, b'0');
    let ok = council
        .client
        .upload_evidence(&alice, &change.id, limit, "application/pdf")
        .await
        .expect("10 MB is allowed");
    assert_eq!(ok.files.len(), 1);
    assert_eq!(ok.files[0].size_bytes, 10 * 1024 * 1024);

    let names = stored(&council);
    assert_eq!(
        names.len(),
        1,
        "only the accepted file, no partial uploads: {names:?}"
    );
    assert!(!names[0].starts_with('.'));
    assert_eq!(
        council.count("SELECT COUNT(*) FROM evidence_files").await,
        1
    );
}

/// Sends `body` with `Transfer-Encoding: chunked` over a plain socket; returns the response.
fn chunked_upload(addr: std::net::SocketAddr, path: &str, token: &str, body: &[u8]) -> String {
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        socket,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/pdf\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    for chunk in body.chunks(256 * 1024) {
        let sent = write!(socket, "{:x}\r\n", chunk.len())
            .and_then(|_| socket.write_all(chunk))
            .and_then(|_| socket.write_all(b"\r\n"));
        if sent.is_err() {
            break; // the server stopped reading: its answer is waiting
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n");
    let mut response = Vec::new();
    let _ = socket.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_change_has_at_most_ten_pages() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let change = new_change(&council, &alice).await;
    for page in 1..=10 {
        council
            .client
            .upload_evidence(
                &alice,
                &change.id,
                pdf(&format!("page {page}")),
                "application/pdf",
            )
            .await
            .unwrap();
    }
    let eleventh = council
        .client
        .upload_evidence(&alice, &change.id, pdf("page 11"), "application/pdf")
        .await
        .unwrap_err();
    assert_eq!(eleventh.kind(), ErrorKind::Conflict);
    assert!(
        eleventh.to_string().contains("at most 10 pages"),
        "{eleventh}"
    );
    assert_eq!(stored(&council).len(), 10);
}

async fn submitted_change(council: &TestCouncil, token: &str) -> AddressChange {
    let change = new_change(council, token).await;
    council
        .client
        .upload_evidence(
            token,
            &change.id,
            pdf("council tax bill, 3 Westcotes Drive"),
            "application/pdf",
        )
        .await
        .unwrap();
    council
        .client
        .submit_address_change(token, &change.id, &key())
        .await
        .unwrap()
}

async fn approval_moves_the_account(db: Db) {
    let council = start(db).await;
    let alice = council.resident("alice@example.org").await;
    let permit = council
        .buy_and_pay(&alice, PermitType::AnnualVisitor, "AL11 CEE")
        .await;
    let change = submitted_change(&council, &alice).await;
    let officer = council.officer("officer@council.example").await;

    let queue = council
        .client
        .officer_address_changes(&officer, None)
        .await
        .unwrap();
    assert_eq!(queue.changes.len(), 1);
    assert_eq!(queue.changes[0].resident.email, "alice@example.org");
    assert_eq!(queue.changes[0].resident.address.street, "Hazel Street");
    let detail = council
        .client
        .officer_address_change(&officer, &change.id)
        .await
        .unwrap();
    let page = &detail.change.files[0];

    // The officer downloads the page as an attachment that a browser will not sniff.
    let response = council
        .http
        .get(council.url(&format!(
            "/api/v1/officer/address-changes/{}/files/{}",
            change.id, page.id
        )))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/pdf");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"evidence-1.pdf\""
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        response.bytes().await.unwrap().to_vec(),
        pdf("council tax bill, 3 Westcotes Drive")
    );
    let download = council
        .client
        .officer_evidence_file(&officer, &change.id, &page.id)
        .await
        .unwrap();
    assert_eq!(download.content_type, "application/pdf");

    let approved = council
        .client
        .approve_address_change(&officer, &change.id, &key())
        .await
        .unwrap();
    assert_eq!(approved.change.status, AddressChangeStatus::Approved);
    let twice = council
        .client
        .approve_address_change(&officer, &change.id, &key())
        .await
        .unwrap_err();
    assert_eq!(twice.kind(), ErrorKind::Conflict);

    let profile = council.client.profile(&alice).await.unwrap();
    assert_eq!(profile.address.street, "Westcotes Drive");
    assert_eq!(profile.address.postcode, "LE3 0QT");
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM accounts WHERE email = 'alice@example.org' AND household_key <> (SELECT household_key FROM permits LIMIT 1)")
            .await,
        1,
        "the household moved too"
    );
    let audit: (String, String, String) = sqlx::query_as(
        "SELECT l.actor_account_id, l.action, l.detail FROM audit_log l WHERE l.subject_id = $1 AND l.action = 'address_change_approved'",
    )
    .bind(&change.id)
    .fetch_one(council.server.state.store.pool())
    .await
    .unwrap();
    let officer_id = council.client.profile(&officer).await.unwrap().id;
    assert_eq!(audit.0, officer_id);
    assert!(
        audit.2.contains("Hazel Street") && audit.2.contains("Westcotes Drive"),
        "{}",
        audit.2
    );

    // Nothing was cancelled silently: the permit keeps its address; the resident is told.
    let kept = council.client.permit(&alice, &permit.id).await.unwrap();
    assert_eq!(kept.address.street, "Hazel Street");
    assert_eq!(kept.status, kerbside_rules::PermitStatus::Active);
    let mine = council.client.address_changes(&alice).await.unwrap();
    assert_eq!(mine.changes[0].status, AddressChangeStatus::Approved);
    assert_eq!(
        mine.changes[0].permits_to_surrender,
        vec![permit.id.clone()]
    );
    assert!(council
        .client
        .officer_address_changes(&officer, None)
        .await
        .unwrap()
        .changes
        .is_empty());
}

#[tokio::test]
async fn an_officer_approves_and_the_account_moves_but_permits_stay() {
    approval_moves_the_account(Db::Sqlite).await;
}

#[tokio::test]
async fn an_officer_approves_and_the_account_moves_on_postgres() {
    approval_moves_the_account(Db::Postgres).await;
}

#[tokio::test]
async fn a_rejection_and_its_reason_reach_the_resident() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let change = submitted_change(&council, &alice).await;
    let officer = council.officer("officer@council.example").await;

    for bad in ["   ".to_string(), "x".repeat(501)] {
        let refused = council
            .client
            .reject_address_change(
                &officer,
                &change.id,
                &RejectionRequest { reason: bad },
                &key(),
            )
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Validation);
    }
    let reason = "The bill is for 3 Westcotes Road, not Westcotes Drive. Send the bill for your new address.";
    council
        .client
        .reject_address_change(
            &officer,
            &change.id,
            &RejectionRequest {
                reason: reason.into(),
            },
            &key(),
        )
        .await
        .unwrap();
    let mine = council.client.address_changes(&alice).await.unwrap();
    assert_eq!(mine.changes[0].status, AddressChangeStatus::Rejected);
    assert_eq!(mine.changes[0].status_label, "Not accepted");
    assert_eq!(mine.changes[0].officer_reason.as_deref(), Some(reason));
    assert!(mine.changes[0].permits_to_surrender.is_empty());
    let profile = council.client.profile(&alice).await.unwrap();
    assert_eq!(
        profile.address.street, "Hazel Street",
        "a rejection moves nothing"
    );
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM audit_log WHERE action = 'address_change_rejected'")
            .await,
        1
    );
    // Resubmitting is a new change; the old one cannot be approved now.
    let late = council
        .client
        .approve_address_change(&officer, &change.id, &key())
        .await
        .unwrap_err();
    assert_eq!(late.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn residents_get_403_on_every_officer_endpoint() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let change = submitted_change(&council, &alice).await;
    let file_id = change.files[0].id.clone();
    let base = format!("/api/v1/officer/address-changes/{}", change.id);
    let gets = [
        "/api/v1/officer/address-changes".to_string(),
        base.clone(),
        format!("{base}/files/{file_id}"),
    ];
    for path in &gets {
        let r = council
            .http
            .get(council.url(path))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let anonymous = council.http.get(council.url(path)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    for path in [format!("{base}/approval"), format!("{base}/rejection")] {
        let r = council
            .http
            .post(council.url(&path))
            .bearer_auth(&alice)
            .json(&serde_json::json!({"reason": "I approve of myself"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let profile = council.client.profile(&alice).await.unwrap();
    assert_eq!(profile.address.street, "Hazel Street");
    assert_eq!(council.count("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'address_change_%ed' AND action <> 'address_change_submitted'").await, 0);
}

#[tokio::test]
async fn another_residents_change_is_not_found() {
    let council = start(Db::Sqlite).await;
    let alice = council.resident("alice@example.org").await;
    let bob = council
        .resident_at("bob@example.org", "5", "Hazel Street", "LE2 7JN", None)
        .await;
    let change = new_change(&council, &alice).await;

    let upload = council
        .client
        .upload_evidence(&bob, &change.id, pdf("bob's bill"), "application/pdf")
        .await
        .unwrap_err();
    assert_eq!(upload.kind(), ErrorKind::NotFound);
    let submit = council
        .client
        .submit_address_change(&bob, &change.id, &key())
        .await
        .unwrap_err();
    assert_eq!(submit.kind(), ErrorKind::NotFound);
    assert!(council
        .client
        .address_changes(&bob)
        .await
        .unwrap()
        .changes
        .is_empty());
    assert!(stored(&council).is_empty());
    assert_eq!(
        council
            .client
            .address_changes(&alice)
            .await
            .unwrap()
            .changes[0]
            .status,
        AddressChangeStatus::AwaitingFiles
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_new_endpoints() {
    let council = start(Db::Sqlite).await;
    let doc: serde_json::Value = council.openapi_document().await;
    for path in [
        "/api/v1/address-changes",
        "/api/v1/address-changes/{id}/files",
        "/api/v1/address-changes/{id}/submission",
        "/api/v1/officer/address-changes",
        "/api/v1/officer/address-changes/{id}",
        "/api/v1/officer/address-changes/{id}/files/{file_id}",
        "/api/v1/officer/address-changes/{id}/approval",
        "/api/v1/officer/address-changes/{id}/rejection",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["AddressChange"].is_object());
}
