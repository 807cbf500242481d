//! Expiry emails: one per permit per term when the renewal window opens, never twice (also
//! with two instances on one PostgreSQL database), as .eml files or over real SMTP.

mod support;

use chrono::{Duration, NaiveDate};
use kerbside_api::types::*;
use kerbside_council::{send_expiry_reminders, CouncilConfig, SmtpConfig, SmtpTls};
use kerbside_rules::{format_uk_date, PermitType};
use support::{files_in, fresh_postgres_database, Db, SmtpSink, TestCouncil};

fn emails(council: &TestCouncil) -> Vec<String> {
    files_in(&council.outbox)
        .into_iter()
        .filter(|n| n.ends_with(".eml"))
        .collect()
}

/// 09:00 UK time on `date` (GMT in winter, so 09:00Z).
fn morning(date: NaiveDate) -> String {
    format!("{date}T09:00:00Z")
}

#[tokio::test]
async fn each_permit_gets_one_email_when_its_renewal_window_opens() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let alice = council.resident("alice@example.org").await;
    let visitor = council
        .buy_and_pay(&alice, PermitType::AnnualVisitor, "AB12 CDE")
        .await;
    let care = council
        .buy_and_pay(&alice, PermitType::Care, "LM68 XYZ")
        .await;
    // A resident who asked for no emails gets none.
    let quiet = council
        .resident_at("quiet@example.org", "3", "Westcotes Drive", "LE3 0QT", None)
        .await;
    council
        .client
        .update_profile(
            &quiet,
            &ProfileUpdate {
                reminder_email: Some(None),
                ..ProfileUpdate::default()
            },
            "no-email",
        )
        .await
        .unwrap();
    council
        .buy_and_pay(&quiet, PermitType::AnnualVisitor, "NE13 TTT")
        .await;

    let state = &council.server.state;
    let opens = visitor.renewal_opens_on;
    council.set_clock(&morning(opens - Duration::days(1)));
    assert_eq!(
        send_expiry_reminders(state).await.unwrap().sent,
        0,
        "too early"
    );
    assert!(emails(&council).is_empty());

    council.set_clock(&morning(opens));
    let run = send_expiry_reminders(state).await.unwrap();
    assert_eq!(run.sent, 2, "{run:?}");
    let names = emails(&council);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&format!(
        "expiry-{}-{}.eml",
        visitor.reference, visitor.expires_on
    )));
    assert!(names.contains(&format!(
        "expiry-{}-{}.eml",
        care.reference, care.expires_on
    )));

    let eml = std::fs::read_to_string(council.outbox.join(format!(
        "expiry-{}-{}.eml",
        visitor.reference, visitor.expires_on
    )))
    .unwrap();
    let expiry = format_uk_date(visitor.expires_on);
    for expected in [
        "To: \"Test Resident\" <alice@example.org>",
        &format!("Subject: Your Annual Visitor Permit for AB12 CDE expires on {expiry}"),
        "Content-Transfer-Encoding: 7bit",
        "Registration:   AB12 CDE",
        &format!("Reference:      {}", visitor.reference),
        &format!(
            "Zone:           {} ({})",
            visitor.zone.code, visitor.zone.name
        ),
        &format!("Last valid day: {expiry}"),
        "Open Kerbside and choose Renew on the permit.",
    ] {
        assert!(eml.contains(expected), "missing {expected:?} in:\n{eml}");
    }
    assert!(
        eml.contains("Date: ") && eml.contains("Message-ID: "),
        "{eml}"
    );

    // Later runs, on the same day or later in the window, send nothing more.
    assert_eq!(send_expiry_reminders(state).await.unwrap().sent, 0);
    council.set_clock(&morning(opens + Duration::days(10)));
    assert_eq!(send_expiry_reminders(state).await.unwrap().sent, 0);
    assert_eq!(emails(&council).len(), 2);
    assert_eq!(
        council.count("SELECT COUNT(*) FROM reminder_emails").await,
        2
    );

    // A renewed permit's next term gets its own email when that window opens, once.
    council.set_clock(&morning(opens + Duration::days(11)));
    let alice = council.sign_in("alice@example.org").await;
    let renewal = council
        .client
        .renew(
            &alice,
            &visitor.id,
            &RenewalRequest { return_url: None },
            "renew-1",
        )
        .await
        .unwrap();
    council
        .pay(renewal.payment.as_ref().unwrap(), "4444333322221111")
        .await;
    council.set_clock(&morning(renewal.permit.renewal_opens_on));
    let run = send_expiry_reminders(state).await.unwrap();
    assert_eq!(run.sent, 1, "only the renewal's term: {run:?}");
    assert_eq!(emails(&council).len(), 3);
}

#[tokio::test]
async fn the_due_query_uses_the_state_and_expiry_index() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
        "EXPLAIN QUERY PLAN {}",
        kerbside_council::mail::DUE_REMINDERS_SQL
    ))
    .bind("2027-03-01")
    .bind("2027-03-31")
    .fetch_all(council.server.state.store.pool())
    .await
    .unwrap();
    let text: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
    assert!(
        text.iter()
            .any(|d| d.contains("SEARCH p USING INDEX permits_by_state_expiry")),
        "{text:#?}"
    );
    assert!(!text.iter().any(|d| d.starts_with("SCAN p")), "{text:#?}");
}

/// Inserts `n` active permits for the account of `email`, all ending on `expires_on`.
async fn bulk_permits(council: &TestCouncil, email: &str, n: usize, expires_on: NaiveDate) {
    let pool = council.server.state.store.pool();
    let account_id: String = sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap();
    let starts_on = expires_on - Duration::days(364);
    for i in 0..n {
        sqlx::query(
            "INSERT INTO permits (id, reference, account_id, permit_type, registration, address_line1, \
             address_street, address_town, address_postcode, household_key, zone_code, zone_name, starts_on, \
             expires_on, state, price_pence, created_at, updated_at) \
             VALUES ($1, $2, $3, 'annual_visitor', $4, '12', 'Hazel Street', 'Leicester', 'LE2 7JN', $5, 'B', 'Zone B', $6, $7, 'active', 3000, 0, 0)",
        )
        .bind(format!("bulk{i:05}"))
        .bind(format!("KP-BULK{i:05}"))
        .bind(&account_id)
        .bind(format!("AB{:02}CDE", i % 100))
        .bind(format!("bulk-household-{i}"))
        .bind(starts_on.to_string())
        .bind(expires_on.to_string())
        .execute(pool)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn two_instances_on_one_postgres_send_each_email_exactly_once() {
    let url = fresh_postgres_database().await;
    let outbox = tempfile::tempdir().unwrap();
    let mut council = CouncilConfig::leicester_demo();
    council.mail.outbox = Some(outbox.path().to_path_buf());
    let a = TestCouncil::start_with(&url, "2027-03-01T09:00:00Z", None, council.clone()).await;
    let b = TestCouncil::start_with(&url, "2027-03-01T09:00:00Z", None, council).await;
    a.resident("alice@example.org").await;
    let expires_on = NaiveDate::from_ymd_opt(2027, 3, 20).unwrap();
    bulk_permits(&a, "alice@example.org", 60, expires_on).await;

    let mut sent = 0;
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(
            send_expiry_reminders(&a.server.state),
            send_expiry_reminders(&b.server.state)
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.failed + rb.failed, 0);
        sent += ra.sent + rb.sent;
    }
    assert_eq!(sent, 60, "one email per permit across both instances");
    assert_eq!(emails(&a).len(), 60);
    assert_eq!(a.count("SELECT COUNT(*) FROM reminder_emails").await, 60);
}

#[tokio::test]
async fn emails_go_out_over_a_real_smtp_conversation() {
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("council.db").display());
    let mut council = CouncilConfig::leicester_demo();
    council.mail.from = "Leicester permits <permits@leicester.example>".into();
    council.mail.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port,
        tls: SmtpTls::None,
        user: None,
        password: None,
    });
    let council = TestCouncil::start_with(&url, "2027-03-01T09:00:00Z", Some(dir), council).await;
    let alice = council.resident("alice@example.org").await;
    let permit = council
        .buy_and_pay(&alice, PermitType::AnnualVisitor, "AB12 CDE")
        .await;
    council.set_clock(&morning(permit.renewal_opens_on + Duration::days(2)));

    let run = send_expiry_reminders(&council.server.state).await.unwrap();
    assert_eq!(run.sent, 1, "{run:?}");
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(message.mail_from, "MAIL FROM:<permits@leicester.example>");
    assert_eq!(
        message.rcpt_to,
        vec!["RCPT TO:<alice@example.org>".to_string()]
    );
    for expected in [
        "From: \"Leicester permits\" <permits@leicester.example>",
        &format!("expires on {}", format_uk_date(permit.expires_on)),
        &format!("Reference:      {}", permit.reference),
        "Open Kerbside and choose Renew on the permit.",
    ] {
        assert!(
            message.data.contains(expected),
            "missing {expected:?} in:\n{}",
            message.data
        );
    }
    assert!(emails(&council).is_empty(), "SMTP, not the outbox");
    assert_eq!(
        send_expiry_reminders(&council.server.state)
            .await
            .unwrap()
            .sent,
        0
    );
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_by_a_later_run() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    let alice = council.resident("alice@example.org").await;
    let permit = council
        .buy_and_pay(&alice, PermitType::AnnualVisitor, "AB12 CDE")
        .await;
    council.set_clock(&morning(permit.renewal_opens_on));
    // The outbox cannot be written (a file stands where the folder should be).
    std::fs::remove_dir_all(&council.outbox).unwrap();
    std::fs::write(&council.outbox, b"not a folder").unwrap();
    let run = send_expiry_reminders(&council.server.state).await.unwrap();
    assert_eq!((run.sent, run.failed), (0, 1));
    assert_eq!(
        council.count("SELECT COUNT(*) FROM reminder_emails").await,
        0,
        "claim released"
    );

    std::fs::remove_file(&council.outbox).unwrap();
    let run = send_expiry_reminders(&council.server.state).await.unwrap();
    assert_eq!((run.sent, run.failed), (1, 0));
    assert_eq!(emails(&council).len(), 1);
}

#[tokio::test]
async fn the_job_keeps_up_with_many_permits() {
    let council = TestCouncil::start(Db::Sqlite, "2027-03-01T09:00:00Z").await;
    council.resident("alice@example.org").await;
    let expires_on = NaiveDate::from_ymd_opt(2027, 3, 25).unwrap();
    bulk_permits(&council, "alice@example.org", 500, expires_on).await;
    let started = std::time::Instant::now();
    let run = send_expiry_reminders(&council.server.state).await.unwrap();
    let first = started.elapsed();
    assert_eq!(run.sent, 500);
    let started = std::time::Instant::now();
    assert_eq!(
        send_expiry_reminders(&council.server.state)
            .await
            .unwrap()
            .sent,
        0
    );
    let second = started.elapsed();
    eprintln!(
        "expiry emails: 500 permits filed in {first:?}; the next run found none due in {second:?}"
    );
    assert!(first < std::time::Duration::from_secs(60), "{first:?}");
}
