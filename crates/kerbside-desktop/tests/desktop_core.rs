//! The app's core against a real council server on 127.0.0.1:0, a real SQLite cache file and
//! the real OS keyring (Secret Service; scripts/test.sh runs the tests inside a D-Bus session
//! with an unlocked gnome-keyring).

use kerbside_api::types::*;
use kerbside_api::{CouncilClient, ErrorKind, FixedClock};
use kerbside_council::RunningServer;
use kerbside_desktop::{
    Kerbside, KeyringSecrets, Notifier, PermitFilter, RenewalNotice, SecretStore, StartOptions,
};
use kerbside_rules::{PermitStatus, PermitType};
use std::path::Path;
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "a long enough password";

mod support;
use support::world::{at, start_app, start_council, unique_keyring_service};

struct World {
    council: Option<RunningServer>,
    council_url: String,
    council_dir: tempfile::TempDir,
    clock: Arc<FixedClock>,
    app_dir: tempfile::TempDir,
    keyring_service: String,
}

impl World {
    async fn new(now: &str) -> World {
        let council_dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(at(now)));
        let council = start_council(council_dir.path(), clock.clone(), None).await;
        World {
            council_url: council.url.clone(),
            council: Some(council),
            council_dir,
            clock,
            app_dir: tempfile::tempdir().unwrap(),
            keyring_service: unique_keyring_service(),
        }
    }

    fn secrets(&self) -> Arc<KeyringSecrets> {
        Arc::new(KeyringSecrets::new(&self.keyring_service))
    }

    async fn app(&self) -> Kerbside {
        start_app(
            self.app_dir.path(),
            self.clock.clone(),
            &self.council_url,
            &self.keyring_service,
        )
        .await
    }

    async fn stop_council(&mut self) {
        self.council.take().unwrap().stop().await;
    }

    async fn restart_council(&mut self) {
        let port = self
            .council_url
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        self.council =
            Some(start_council(self.council_dir.path(), self.clock.clone(), Some(port)).await);
    }

    fn keyring_token(&self) -> Option<String> {
        self.secrets()
            .get(&format!("session:{}", self.council_url))
            .unwrap()
    }
}

fn registration(email: &str) -> RegisterRequest {
    support::world::registration(email, PASSWORD, "Alex Resident")
}

fn visitor_permit(reg: &str) -> PermitRequest {
    PermitRequest {
        permit_type: PermitType::AnnualVisitor,
        registration: reg.into(),
        carer_evidence: None,
        return_url: None,
    }
}

fn care_permit(reg: &str) -> PermitRequest {
    PermitRequest {
        permit_type: PermitType::Care,
        registration: reg.into(),
        carer_evidence: Some("Daily visits from Acme Care".into()),
        return_url: None,
    }
}

async fn pay(payment: &Payment, card: &str) {
    let page = reqwest::Client::new()
        .post(payment.next_url.as_ref().unwrap())
        .form(&[
            ("card_number", card),
            ("expiry_month", "12"),
            ("expiry_year", "2035"),
            ("cardholder_name", "Alex Resident"),
            ("security_code", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert!(page.status().is_success());
}

/// Every file in the app data folder, as bytes (the SQLite file, its WAL, anything else).
fn everything_on_disk(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[derive(Default)]
/// Records notifications instead of showing them: the real desktop notification is observed
/// on the session bus by the end-to-end suite; here we count what the scheduler raises.
struct RecordingNotifier(Mutex<Vec<String>>);

impl Notifier for RecordingNotifier {
    fn notify(&self, notice: &RenewalNotice) -> Result<(), String> {
        let (title, body) = (&notice.title, &notice.body);
        self.0.lock().unwrap().push(format!("{title} | {body}"));
        Ok(())
    }
}

#[tokio::test]
async fn the_session_token_lives_only_in_the_keyring_and_sign_out_removes_everything() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    let profile = app
        .register(registration("alex@example.org"))
        .await
        .unwrap();
    assert_eq!(profile.email, "alex@example.org");
    app.buy(care_permit("AB12CDE")).await.unwrap();
    app.sync().await.unwrap();

    let token = world.keyring_token().expect("the token is in the keyring");
    let disk = everything_on_disk(world.app_dir.path());
    assert!(!contains(&disk, &token), "the token must not be on disk");
    assert!(
        !contains(&disk, PASSWORD),
        "the password must not be on disk"
    );
    assert_eq!(
        app.snapshot().await.unwrap().signed_in_email.as_deref(),
        Some("alex@example.org")
    );

    assert_eq!(app.sign_out().await.unwrap(), None);
    assert_eq!(world.keyring_token(), None, "the keyring entry is deleted");
    assert_eq!(
        app.cache().cached_permit_count().await.unwrap(),
        0,
        "the cache is wiped"
    );
    let revoked = CouncilClient::new(world.council_url.clone())
        .unwrap()
        .permits(&token)
        .await
        .unwrap_err();
    assert_eq!(
        revoked.kind(),
        ErrorKind::Unauthorised,
        "the council revoked the token"
    );
    assert_eq!(app.snapshot().await.unwrap().signed_in_email, None);
}

#[tokio::test]
async fn a_paid_permit_is_live_only_after_the_council_confirms_the_payment() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("buyer@example.org"))
        .await
        .unwrap();
    let purchase = app.buy(visitor_permit(" ab12  cde")).await.unwrap();
    let cached = app.cached_permits().await.unwrap();
    assert_eq!(cached.permits[0].status, PermitStatus::AwaitingPayment);
    assert_eq!(cached.permits[0].status_label, "Awaiting payment");
    let payment = purchase.payment.unwrap();
    assert_eq!(
        app.payment(&payment.id).await.unwrap().status,
        PaymentStatus::Created
    );

    pay(&payment, "4444333322221111").await;
    assert_eq!(
        app.payment(&payment.id).await.unwrap().status,
        PaymentStatus::Succeeded
    );
    let card = &app.cached_permits().await.unwrap().permits[0];
    assert_eq!(card.status_label, "Live");
    assert_eq!(card.permit.registration, "AB12 CDE");
    assert_eq!(
        card.renewal_note.as_deref(),
        Some("Renewal opens on 30 January 2028")
    );
    assert!(!card.can_renew && card.can_cancel && card.can_edit_registration);
}

#[tokio::test]
async fn a_declined_card_leaves_no_live_permit_and_says_why() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("declined@example.org"))
        .await
        .unwrap();
    let purchase = app.buy(visitor_permit("AB12CDE")).await.unwrap();
    let payment = purchase.payment.unwrap();
    pay(&payment, "4000000000000002").await;
    let failed = app.payment(&payment.id).await.unwrap();
    assert_eq!(failed.status, PaymentStatus::Failed);
    assert!(failed
        .failure_reason
        .unwrap()
        .to_lowercase()
        .contains("declined"));
    let card = &app.cached_permits().await.unwrap().permits[0];
    assert_eq!(card.status, PermitStatus::PaymentFailed);
}

#[tokio::test]
async fn invalid_registrations_are_refused_with_the_reason_before_anything_is_sent() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("typo@example.org"))
        .await
        .unwrap();
    let err = app.buy(care_permit("AB00 CDE")).await.unwrap_err().to_ui();
    assert_eq!(err.kind, ErrorKind::Validation);
    assert!(err.message.contains("00"), "{}", err.message);
    assert_eq!(app.check_registration(" ab12cde ").unwrap(), "AB12 CDE");
    assert!(app.check_registration("AB12-CDE").is_err());
    assert_eq!(
        app.sync().await.unwrap().permits.len(),
        0,
        "nothing was bought"
    );
}

#[tokio::test]
async fn offline_the_cached_permits_are_shown_with_their_sync_time_and_the_app_recovers() {
    let mut world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("offline@example.org"))
        .await
        .unwrap();
    app.buy(care_permit("AB12CDE")).await.unwrap();
    let synced = app.sync().await.unwrap();
    let synced_at = synced.last_synced_at.expect("a sync time is recorded");

    world.stop_council().await;
    let err = app.sync().await.unwrap_err().to_ui();
    assert_eq!(err.kind, ErrorKind::Offline);
    assert!(err.message.contains("cannot be reached"), "{}", err.message);
    assert_eq!(app.snapshot().await.unwrap().online, Some(false));
    let cached = app.cached_permits().await.unwrap();
    assert_eq!(cached.permits.len(), 1);
    assert_eq!(cached.last_synced_at, Some(synced_at));
    let buy = app.buy(care_permit("XY34ZZZ")).await.unwrap_err();
    assert_eq!(
        buy.kind(),
        ErrorKind::Offline,
        "nothing is queued to happen later"
    );

    // Restarting the app while offline: the permits are still there.
    drop(app);
    let app = world.app().await;
    assert_eq!(app.cached_permits().await.unwrap().permits.len(), 1);
    let detail = app.permit(&cached.permits[0].permit.id).await.unwrap();
    assert_eq!(detail.permit.registration, "AB12 CDE");

    // The council comes back: the next sync works without a restart.
    world.restart_council().await;
    assert_eq!(app.sync().await.unwrap().permits.len(), 1);
    assert_eq!(app.snapshot().await.unwrap().online, Some(true));
}

#[tokio::test]
async fn one_renewal_notification_per_permit_per_term_even_across_restarts() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("remind@example.org"))
        .await
        .unwrap();
    app.buy(care_permit("AB12CDE")).await.unwrap();
    app.sync().await.unwrap();
    let notifier = RecordingNotifier::default();
    assert_eq!(
        app.run_renewal_reminders(&notifier).await.unwrap(),
        0,
        "window not open yet"
    );

    // 30 days before the last day (29 Feb 2028) the window opens: 30 January 2028.
    world.clock.set(at("2028-01-30T08:00:00Z"));
    assert_eq!(app.run_renewal_reminders(&notifier).await.unwrap(), 1);
    assert_eq!(app.run_renewal_reminders(&notifier).await.unwrap(), 0);
    drop(app);
    let app = world.app().await;
    assert_eq!(
        app.run_renewal_reminders(&notifier).await.unwrap(),
        0,
        "a restart raises no second one"
    );
    let raised = notifier.0.lock().unwrap().clone();
    assert_eq!(raised.len(), 1);
    assert!(
        raised[0].contains("AB12 CDE") && raised[0].contains("29 February 2028"),
        "{raised:?}"
    );
}

#[tokio::test]
async fn an_expired_session_asks_to_sign_in_again_and_keeps_the_cached_permits() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("expiry@example.org"))
        .await
        .unwrap();
    app.buy(care_permit("AB12CDE")).await.unwrap();
    app.sync().await.unwrap();
    world.clock.set(at("2027-04-05T09:00:00Z"));
    let err = app.sync().await.unwrap_err().to_ui();
    assert_eq!(err.kind, ErrorKind::Unauthorised);
    assert_eq!(world.keyring_token(), None, "the dead token is dropped");
    assert_eq!(app.cached_permits().await.unwrap().permits.len(), 1);
    app.sign_in(SignInRequest {
        email: "expiry@example.org".into(),
        password: PASSWORD.into(),
    })
    .await
    .unwrap();
    assert_eq!(app.sync().await.unwrap().permits.len(), 1);
}

#[tokio::test]
async fn the_carers_permit_type_choice_is_remembered_across_restarts() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("carer@example.org"))
        .await
        .unwrap();
    app.buy(care_permit("AB12CDE")).await.unwrap();
    let visitor = app.buy(visitor_permit("XY34ZZZ")).await.unwrap();
    pay(visitor.payment.as_ref().unwrap(), "4444333322221111").await;
    assert_eq!(app.sync().await.unwrap().permits.len(), 2);
    let care = app.set_permit_filter(PermitFilter::Care).await.unwrap();
    assert_eq!(care.permits.len(), 1);
    assert_eq!(care.permits[0].permit.permit_type, PermitType::Care);
    assert_eq!(care.hidden_by_filter, 1);
    drop(app);
    let app = world.app().await;
    let view = app.cached_permits().await.unwrap();
    assert_eq!(view.filter, PermitFilter::Care);
    assert_eq!(view.permits.len(), 1);
    let all = app.set_permit_filter(PermitFilter::All).await.unwrap();
    assert_eq!(all.permits.len(), 2);
}

#[tokio::test]
async fn edit_registration_renew_and_cancel_go_through_the_council() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("flows@example.org"))
        .await
        .unwrap();
    let purchase = app.buy(visitor_permit("AB12CDE")).await.unwrap();
    pay(purchase.payment.as_ref().unwrap(), "4444333322221111").await;
    let id = purchase.permit.id.clone();
    let edited = app.edit_registration(&id, "xy34 zzz").await.unwrap();
    assert_eq!(edited.permit.registration, "XY34 ZZZ");
    assert!(edited
        .permit
        .history
        .iter()
        .any(|h| h.detail.contains("XY34 ZZZ")));

    let early = app.renew(&id).await.unwrap_err().to_ui();
    assert_eq!(early.message, "Renewal opens on 30 January 2028.");

    world.clock.set(at("2027-03-20T09:00:00Z"));
    let quote = app.refund_quote(&id).await.unwrap();
    let cancelled = app.cancel(&id, quote.refund_pence).await.unwrap();
    assert_eq!(cancelled.refund_pence, quote.refund_pence);
    assert!(quote.refund_pence > 0);
    assert_eq!(cancelled.permit.status, PermitStatus::Cancelled);
    let card = &app.cached_permits().await.unwrap().permits[0];
    assert_eq!(card.status_label, "Cancelled");
}

/// The app with no council URL: it starts the embedded demo council in `dir`.
async fn start_embedded(dir: &Path, service: &str, now: &str) -> Kerbside {
    Kerbside::start(
        StartOptions {
            data_dir: dir.to_path_buf(),
            clock: Arc::new(FixedClock::new(at(now))),
            clock_is_set: true,
            council_url: None,
            keyring_service: service.to_string(),
        },
        Arc::new(KeyringSecrets::new(service)),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_embedded_demo_council_starts_in_process_with_the_demo_resident() {
    let dir = tempfile::tempdir().unwrap();
    let service = format!("uk.kerbside.test.{}", uuid::Uuid::new_v4().simple());
    let app = start_embedded(dir.path(), &service, "2026-11-26T10:00:00Z").await;
    let snapshot = app.snapshot().await.unwrap();
    assert!(snapshot.embedded_council);
    assert!(snapshot.council_url.starts_with("http://127.0.0.1:"));
    let email = snapshot.demo_email.unwrap();
    app.sign_in(SignInRequest {
        email,
        password: snapshot.demo_password.unwrap(),
    })
    .await
    .unwrap();
    let view = app.sync().await.unwrap();
    assert_eq!(
        view.permits.len(),
        2,
        "the demo resident has a visitor and a care permit"
    );
    assert!(dir.path().join("demo-council.db").exists());
    app.shutdown().await;

    // The demo care permit's renewal window is open: the demo council has written exactly one
    // expiry email to the outbox in the data folder, and a restart writes no second one.
    let emails = || {
        std::fs::read_dir(dir.path().join("outbox"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(emails(), 1);
    let again = start_embedded(dir.path(), &service, "2026-11-26T11:00:00Z").await;
    again.shutdown().await;
    assert_eq!(
        emails(),
        1,
        "one email per permit per term, across restarts"
    );
}

#[tokio::test]
async fn wiping_the_local_copy_leaves_nothing_behind_but_the_council_keeps_the_permits() {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("wipe@example.org"))
        .await
        .unwrap();
    app.buy(care_permit("AB12CDE")).await.unwrap();
    app.sync().await.unwrap();
    let summary = app.wipe_local_data().await.unwrap();
    assert_eq!(summary.cached_permits, 0);
    assert!(!summary.signed_in);
    assert_eq!(world.keyring_token(), None);
    let disk = everything_on_disk(world.app_dir.path());
    assert!(
        !contains(&disk, "AB12 CDE"),
        "no permit data remains in the cache files"
    );
    app.sign_in(SignInRequest {
        email: "wipe@example.org".into(),
        password: PASSWORD.into(),
    })
    .await
    .unwrap();
    assert_eq!(app.sync().await.unwrap().permits.len(), 1);
}

#[tokio::test]
async fn a_change_of_address_with_a_pdf_bill_is_approved_and_the_old_permits_are_listed_for_cancelling(
) {
    let mut world = World::new("2027-03-01T09:00:00Z").await;
    let council = world.council.as_ref().unwrap();
    kerbside_council::seed::seed_demo(&council.state)
        .await
        .unwrap();
    let app = world.app().await;
    // Not number 12: the seeded demo resident lives there and already has a care permit.
    let mut mover = registration("mover@example.org");
    mover.address.line1 = "16".into();
    app.register(mover).await.unwrap();
    let care = app.buy(care_permit("AB12CDE")).await.unwrap();

    let change = app
        .start_address_change(AddressChangeRequest {
            address: PostalAddress {
                line1: "3".into(),
                street: "Westcotes Drive".into(),
                town: "Leicester".into(),
                postcode: "LE3 0QT".into(),
            },
            document: kerbside_rules::EvidenceDocument::CouncilTaxBill,
        })
        .await
        .unwrap();
    // A file that is not a PDF, JPEG or PNG is refused whatever it claims to be.
    let elf = b"\x7fELF\x02\x01\x01\x00 not a bill".to_vec();
    let refused = app
        .upload_evidence(&change.id, elf, "application/pdf")
        .await
        .unwrap_err()
        .to_ui();
    assert!(refused.message.contains("PDF"), "{}", refused.message);
    let too_big = vec![b'%'; kerbside_desktop::EVIDENCE_MAX_BYTES + 1];
    assert!(app
        .upload_evidence(&change.id, too_big, "application/pdf")
        .await
        .is_err());
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".to_vec();
    let with_page = app
        .upload_evidence(&change.id, pdf, "application/pdf")
        .await
        .unwrap();
    assert_eq!(with_page.files.len(), 1, "only the PDF was kept");
    let submitted = app.submit_address_change(&change.id).await.unwrap();
    assert_eq!(submitted.status, AddressChangeStatus::Submitted);

    let officer = CouncilClient::new(world.council_url.clone()).unwrap();
    let officer_token = officer
        .sign_in(&SignInRequest {
            email: kerbside_council::seed::OFFICER_EMAIL.into(),
            password: kerbside_council::seed::OFFICER_PASSWORD.into(),
        })
        .await
        .unwrap()
        .token;
    officer
        .approve_address_change(&officer_token, &change.id, "approve-1")
        .await
        .unwrap();

    let changes = app.address_changes().await.unwrap();
    assert_eq!(changes.changes[0].status, AddressChangeStatus::Approved);
    assert_eq!(
        changes.changes[0].permits_to_surrender,
        vec![care.permit.id.clone()]
    );
    assert_eq!(
        app.profile().await.unwrap().address.street,
        "Westcotes Drive"
    );

    // The request's status is still shown offline, from the cache.
    world.stop_council().await;
    let offline = app.address_changes().await.unwrap();
    assert_eq!(offline.changes[0].status, AddressChangeStatus::Approved);
}

#[tokio::test]
async fn changing_the_password_keeps_this_computer_signed_in_with_a_new_token_and_ends_the_others()
{
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    app.register(registration("change@example.org"))
        .await
        .unwrap();
    let old_token = world.keyring_token().expect("signed in");
    let council = CouncilClient::new(world.council_url.clone()).unwrap();
    let phone = council
        .sign_in(&SignInRequest {
            email: "change@example.org".into(),
            password: PASSWORD.into(),
        })
        .await
        .unwrap()
        .token;

    let wrong = app
        .change_password(PasswordChange {
            current_password: "not my password".into(),
            new_password: "a new long password".into(),
        })
        .await
        .unwrap_err()
        .to_ui();
    assert_eq!(wrong.kind, ErrorKind::Validation);
    assert_eq!(
        world.keyring_token(),
        Some(old_token.clone()),
        "nothing changed"
    );

    let profile = app
        .change_password(PasswordChange {
            current_password: PASSWORD.into(),
            new_password: "a new long password".into(),
        })
        .await
        .unwrap();
    assert_eq!(profile.email, "change@example.org");
    let new_token = world.keyring_token().expect("still signed in here");
    assert_ne!(
        new_token, old_token,
        "the keyring holds the new session's token"
    );
    assert!(app.sync().await.is_ok(), "this computer carries on");
    for token in [&old_token, &phone] {
        let ended = council.permits(token).await.unwrap_err();
        assert_eq!(ended.kind(), ErrorKind::Unauthorised);
    }
}

#[tokio::test]
async fn the_first_screen_comes_in_one_call_with_the_cached_permits_and_never_from_a_stale_keyring_read(
) {
    let world = World::new("2027-03-01T09:00:00Z").await;
    let app = world.app().await;
    // Signed in before the window asked: the keyring read begun at start-up (which found no
    // token) must not answer for the keyring after the token was stored.
    app.register(registration("alex@example.org"))
        .await
        .unwrap();
    let first = app.start_view().await.unwrap();
    assert_eq!(
        first.snapshot.signed_in_email.as_deref(),
        Some("alex@example.org")
    );
    assert_eq!(first.permits.map(|p| p.permits.len()), Some(0));
    app.buy(care_permit("AB12CDE")).await.unwrap();
    app.sync().await.unwrap();
    drop(app);

    // Started again on the same folder: signed in, with the cached permit exactly as the
    // permits screen would read it.
    let again = world.app().await;
    let first = again.start_view().await.unwrap();
    assert_eq!(
        first.snapshot.signed_in_email.as_deref(),
        Some("alex@example.org")
    );
    let permits = first
        .permits
        .expect("the cached permits come with the first screen");
    assert_eq!(permits.permits.len(), 1);
    assert_eq!(permits, again.cached_permits().await.unwrap());
    again.sign_out().await.unwrap();
    drop(again);

    let signed_out = world.app().await.start_view().await.unwrap();
    assert_eq!(signed_out.snapshot.signed_in_email, None);
    assert_eq!(signed_out.permits, None, "no permits for nobody");
}
