//! End-to-end scenario 7 in the real app window: a change of address with a PDF council tax
//! bill, a refused non-PDF file named .pdf, approval by a council officer through the API, and
//! the app offering to cancel the old-address permits and buy new ones.

mod support;

use kerbside_api::types::SignInRequest;
use support::{App, AppDirs, Council};

#[tokio::test(flavor = "multi_thread")]
async fn scenario_7_change_of_address_with_a_pdf_bill_then_the_old_permits_are_offered_for_cancelling(
) {
    let _serial = support::one_at_a_time().await;
    let council = Council::start("2027-03-01T09:00:00Z").await;
    let dirs = AppDirs::new();
    let files = tempfile::tempdir().unwrap();
    let bill = files.path().join("council-tax-bill.pdf");
    std::fs::write(
        &bill,
        b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n",
    )
    .unwrap();
    let fake = files.path().join("not-really-a-bill.pdf");
    std::fs::write(&fake, b"\x7fELF\x02\x01\x01\x00 an executable, named .pdf").unwrap();

    let mut app = App::launch("s7-move", &dirs, &council.url, "2027-03-01T09:00:00Z").await;
    app.sign_in("demo@kerbside.example", "kerbside-demo-2026")
        .await;
    app.find("[data-testid=permit-card]").await;
    app.click("[data-testid=nav-move]").await;
    app.type_into("#move-line1", "3").await;
    app.type_into("#move-street", "Westcotes Drive").await;
    app.type_into("#move-town", "Leicester").await;
    app.type_into("#move-postcode", "LE3 0QT").await;
    let text = app.body_text().await;
    assert!(
        text.contains("names of the residents, the full address and the signatures of all parties"),
        "the evidence rule is explained: {text}"
    );
    // "Council tax bill" is the first choice and selected already.
    assert!(app
        .find("#doc-council_tax_bill")
        .await
        .is_selected()
        .await
        .unwrap());
    app.click("#start-move-button").await;
    app.find("#evidence-file").await;
    app.screen("move-evidence").await;

    // A file that is not a PDF, JPEG or PNG is refused, whatever its name says.
    app.find("#evidence-file")
        .await
        .send_keys(&fake.display().to_string())
        .await
        .unwrap();
    app.click("#upload-page-button").await;
    app.wait_for_text("cannot be used as evidence").await;
    let reason = app
        .find("[data-testid=upload-error]")
        .await
        .text()
        .await
        .unwrap();
    assert!(reason.contains("not a PDF, JPEG or PNG"), "{reason}");
    assert_eq!(
        council.count("SELECT COUNT(*) FROM evidence_files").await,
        0
    );

    app.find("#evidence-file")
        .await
        .send_keys(&bill.display().to_string())
        .await
        .unwrap();
    app.click("#upload-page-button").await;
    app.find("[data-testid=evidence-page]").await;
    assert_eq!(
        council.count("SELECT COUNT(*) FROM evidence_files").await,
        1
    );
    app.click("#submit-move-button").await;
    app.wait_for_text("Waiting for the council to check").await;
    app.screen("move-submitted").await;

    // A council officer approves it through the API.
    let officer = council.client();
    let token = officer
        .sign_in(&SignInRequest {
            email: kerbside_council::seed::OFFICER_EMAIL.into(),
            password: kerbside_council::seed::OFFICER_PASSWORD.into(),
        })
        .await
        .unwrap()
        .token;
    let pending = officer.officer_address_changes(&token, None).await.unwrap();
    assert_eq!(pending.changes.len(), 1);
    officer
        .approve_address_change(&token, &pending.changes[0].change.id, "e2e-approve")
        .await
        .unwrap();

    // The app now walks the resident through cancelling the old permits and buying new ones.
    app.click("[data-testid=nav-permits]").await;
    app.click("[data-testid=nav-move]").await;
    app.find("[data-testid=surrender-panel]").await;
    let text = app.wait_for_text("must be cancelled").await;
    assert!(
        text.contains("AB12 CDE") && text.contains("LM68 XYZ"),
        "{text}"
    );
    app.find("#buy-new-button").await;
    app.screen("move-approved").await;
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM permits WHERE state = 'cancelled'")
            .await,
        0,
        "nothing is cancelled without the resident confirming"
    );
    app.quit().await;
}
