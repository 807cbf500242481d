//! Sessions end when they should: at sign-out (that session only), 30 days after sign-in, and
//! for every session of an account when its password is changed (`PUT /api/v1/me/password`).
//!
//! It proves, on SQLite and on PostgreSQL: after a password change every earlier token gets
//! 401, the answer's new token works, the old password no longer signs in and the new one does;
//! a wrong current password is a validation error (422) that changes nothing and counts towards
//! the sign-in limit; the new password follows the registration rules; signing out revokes
//! only that session; a session works until 30 days after sign-in and not a moment longer.

mod support;

use kerbside_api::types::*;
use kerbside_api::{ClientError, ErrorKind};
use support::{Db, TestCouncil, PASSWORD};

const NEW_PASSWORD: &str = "a different long password";

async fn start(db: Db) -> TestCouncil {
    TestCouncil::start(db, "2027-03-01T09:00:00Z").await
}

async fn change(
    council: &TestCouncil,
    token: &str,
    current: &str,
    new: &str,
) -> Result<Session, ClientError> {
    council
        .client
        .change_password(
            token,
            &PasswordChange {
                current_password: current.into(),
                new_password: new.into(),
            },
        )
        .await
}

async fn sign_in_with(
    council: &TestCouncil,
    email: &str,
    password: &str,
) -> Result<Session, ClientError> {
    council
        .client
        .sign_in(&SignInRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
}

async fn assert_signed_out(council: &TestCouncil, token: &str, why: &str) {
    let refused = council.client.permits(token).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorised, "{why}");
}

async fn a_password_change_ends_every_earlier_session_and_returns_a_new_one(db: Db) {
    let council = start(db).await;
    let this_device = council.resident("sam@example.org").await;
    let laptop = council.sign_in("sam@example.org").await;
    let phone = council.sign_in("sam@example.org").await;

    let session = change(&council, &this_device, PASSWORD, NEW_PASSWORD)
        .await
        .expect("password changed");
    assert_eq!(session.profile.email, "sam@example.org");
    for (token, which) in [
        (&this_device, "the caller's own"),
        (&laptop, "the laptop's"),
        (&phone, "the phone's"),
    ] {
        assert_signed_out(&council, token, which).await;
    }
    assert!(
        council.client.permits(&session.token).await.is_ok(),
        "the new token works"
    );

    let old = sign_in_with(&council, "sam@example.org", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(
        old.kind(),
        ErrorKind::Unauthorised,
        "the old password no longer signs in"
    );
    assert!(sign_in_with(&council, "sam@example.org", NEW_PASSWORD)
        .await
        .is_ok());
    assert_eq!(
        council
            .count("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NULL")
            .await,
        2,
        "only the change's session and the new sign-in are live"
    );
}

async fn a_wrong_current_password_is_a_validation_error_and_changes_nothing(db: Db) {
    let council = start(db).await;
    let token = council.resident("sam@example.org").await;
    let refused = change(&council, &token, "not my password", NEW_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert_eq!(
        refused.to_string(),
        "Your current password is not right. Enter the password you sign in with now."
    );
    assert!(
        council.client.permits(&token).await.is_ok(),
        "still signed in"
    );
    assert!(sign_in_with(&council, "sam@example.org", PASSWORD)
        .await
        .is_ok());
    assert!(sign_in_with(&council, "sam@example.org", NEW_PASSWORD)
        .await
        .is_err());
}

async fn the_new_password_follows_the_rules_for_registration(db: Db) {
    let council = start(db).await;
    let token = council.resident("sam@example.org").await;
    let long = "x".repeat(129);
    for (new, message) in [
        (
            "too short",
            "Your new password must be at least 10 characters long.",
        ),
        (
            long.as_str(),
            "Your new password must be 128 characters or fewer.",
        ),
        (
            PASSWORD,
            "Your new password must be different from your current one.",
        ),
    ] {
        let refused = change(&council, &token, PASSWORD, new).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Validation);
        assert_eq!(refused.to_string(), message);
    }
    assert!(sign_in_with(&council, "sam@example.org", PASSWORD)
        .await
        .is_ok());
}

async fn wrong_current_passwords_count_towards_the_sign_in_limit(db: Db) {
    let council = start(db).await;
    let token = council.resident("sam@example.org").await;
    for _ in 0..5 {
        let refused = change(&council, &token, "a guess at it", NEW_PASSWORD)
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Validation);
    }
    let limited = change(&council, &token, PASSWORD, NEW_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(limited.kind(), ErrorKind::RateLimited, "{limited}");
    let limited = sign_in_with(&council, "sam@example.org", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(limited.kind(), ErrorKind::RateLimited, "{limited}");
    assert!(
        council.client.permits(&token).await.is_ok(),
        "the session itself is untouched"
    );
}

async fn signing_out_ends_only_that_session(db: Db) {
    let council = start(db).await;
    let laptop = council.resident("sam@example.org").await;
    let phone = council.sign_in("sam@example.org").await;
    council.client.sign_out(&laptop).await.expect("signed out");
    let refused = council.client.permits(&laptop).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorised);
    assert!(refused.to_string().contains("signed out"), "{refused}");
    assert!(
        council.client.permits(&phone).await.is_ok(),
        "the phone is still signed in"
    );
    let again = council.client.sign_out(&laptop).await.unwrap_err();
    assert_eq!(
        again.kind(),
        ErrorKind::Unauthorised,
        "a revoked token cannot sign out again"
    );
}

async fn a_session_lasts_thirty_days_and_not_a_moment_longer(db: Db) {
    let council = start(db).await;
    let token = council.resident("sam@example.org").await;
    council.set_clock("2027-03-31T08:59:59.999Z");
    assert!(
        council.client.permits(&token).await.is_ok(),
        "the last millisecond of day 30"
    );
    council.set_clock("2027-03-31T09:00:00Z");
    let refused = council.client.permits(&token).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unauthorised);
    assert!(refused.to_string().contains("expired"), "{refused}");
    let no_change = change(&council, &token, PASSWORD, NEW_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(
        no_change.kind(),
        ErrorKind::Unauthorised,
        "an expired token cannot change the password"
    );
}

macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Db::Sqlite).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Db::Postgres).await;
                }
            )*
        }
    };
}

on_both_databases!(
    a_password_change_ends_every_earlier_session_and_returns_a_new_one,
    a_wrong_current_password_is_a_validation_error_and_changes_nothing,
    the_new_password_follows_the_rules_for_registration,
    wrong_current_passwords_count_towards_the_sign_in_limit,
    signing_out_ends_only_that_session,
    a_session_lasts_thirty_days_and_not_a_moment_longer,
);
