//! `--seed-demo`: the demo resident and permits the README describes, dated from the clock so
//! the demo always shows a permit that can be renewed and one that cannot yet.

use crate::error::Result;
use crate::service::{self, NewAccount};
use crate::sql::{query, query_scalar};
use crate::store::{date_text, millis, new_id};
use crate::AppState;
use chrono::{Duration, NaiveDate};
use kerbside_rules::{uk_local_date, Address, PermitType, Postcode, Term};

pub const DEMO_EMAIL: &str = "demo@kerbside.example";
pub const DEMO_PASSWORD: &str = "kerbside-demo-2026";
pub const OFFICER_EMAIL: &str = "officer@kerbside.example";
pub const OFFICER_PASSWORD: &str = "kerbside-officer-2026";

/// Creates the demo resident (12 Hazel Street, zone B) with a live Annual Visitor permit whose
/// renewal opens in about a month and a Care permit already inside its renewal window, plus a
/// council officer. Does nothing if the demo resident exists.
pub async fn seed_demo(state: &AppState) -> Result<bool> {
    let exists: Option<String> = query_scalar("SELECT id FROM accounts WHERE email = $1")
        .bind(DEMO_EMAIL)
        .fetch_optional(&mut state.store.reader().await?)
        .await?;
    if exists.is_some() {
        return Ok(false);
    }
    let now = state.clock.now();
    let today = uk_local_date(now);
    let address = Address {
        line1: "12".into(),
        street: "Hazel Street".into(),
        town: "Leicester".into(),
        postcode: Postcode::parse("LE2 7JN")?,
    };
    let zone = state.council.streets.zone_for(&address)?;
    let resident = service::insert_account(
        state,
        NewAccount {
            email: DEMO_EMAIL.into(),
            password_hash: crate::auth::hash_password(DEMO_PASSWORD.into()).await?,
            name: "Sam Patel".into(),
            address: address.clone(),
            date_of_birth: NaiveDate::from_ymd_opt(1958, 3, 14),
            reminder_email: Some(DEMO_EMAIL.into()),
            role: "resident",
            created_at: now,
        },
    )
    .await?;
    service::insert_account(
        state,
        NewAccount {
            email: OFFICER_EMAIL.into(),
            password_hash: crate::auth::hash_password(OFFICER_PASSWORD.into()).await?,
            name: "Council Officer".into(),
            address: Address {
                line1: "City Hall".into(),
                street: "Charles Street".into(),
                town: "Leicester".into(),
                postcode: Postcode::parse("LE1 1FZ")?,
            },
            date_of_birth: None,
            reminder_email: None,
            role: "officer",
            created_at: now,
        },
    )
    .await?;

    // Started 10 months ago: renewal opens in about a month.
    let visitor_start = today - Duration::days(304);
    // Started 11 months and ~10 days ago: inside its renewal window now.
    let care_start = today - Duration::days(345);
    // Fixed references: one derived from the random id could repeat (it did, one start in a few
    // thousand), and a repeat broke seeding and so the demo app's first start.
    let demo_permits = [
        (
            PermitType::AnnualVisitor,
            "KP-DEMOVST",
            "AB12CDE",
            visitor_start,
            None,
        ),
        (
            PermitType::Care,
            "KP-DEMOCAR",
            "LM68XYZ",
            care_start,
            Some("Leicester Home Care, client ref 4471"),
        ),
    ];
    for (permit_type, reference, registration, start, carer) in demo_permits {
        let Some(terms) = state.council.tariff.terms(permit_type) else {
            continue;
        };
        let term = Term::starting(start, terms.term_months);
        let id = new_id();
        let mut tx = state.store.begin_write().await?;
        query(
            "INSERT INTO permits (id, reference, account_id, permit_type, registration, address_line1, \
             address_street, address_town, address_postcode, household_key, zone_code, zone_name, starts_on, \
             expires_on, state, price_pence, carer_evidence, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'active', $15, $16, $17, $17)",
        )
        .bind(&id)
        .bind(reference)
        .bind(&resident.id)
        .bind(permit_type.code())
        .bind(registration)
        .bind(&address.line1)
        .bind(&address.street)
        .bind(&address.town)
        .bind(address.postcode.to_string())
        .bind(address.household_key())
        .bind(&zone.code)
        .bind(&zone.name)
        .bind(date_text(term.starts_on))
        .bind(date_text(term.expires_on))
        .bind(terms.price.pence())
        .bind(carer)
        .bind(millis(now))
        .execute(&mut tx)
        .await?;
        if terms.price.pence() > 0 {
            query(
                "INSERT INTO payments (id, permit_id, account_id, amount_pence, status, page_token, \
                 created_at, expires_at, completed_at, card_last4) VALUES ($1, $2, $3, $4, 'succeeded', $5, $6, $6, $6, '1111')",
            )
            .bind(new_id())
            .bind(&id)
            .bind(&resident.id)
            .bind(terms.price.pence())
            .bind(crate::auth::new_token())
            .bind(millis(now))
            .execute(&mut tx)
            .await?;
        }
        query("INSERT INTO permit_events (id, permit_id, at, kind, detail) VALUES ($1, $2, $3, 'issued', $4)")
            .bind(new_id())
            .bind(&id)
            .bind(millis(now))
            .bind("Issued (demo data).")
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kerbside_api::FixedClock;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_demo_permits_have_distinct_references_and_seeding_twice_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::Store::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
                .await
                .unwrap();
        let clock = Arc::new(FixedClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        ));
        // The state alone: seeding needs no server listening.
        let state = crate::prepare(
            ([127, 0, 0, 1], 0).into(),
            store,
            clock,
            crate::CouncilConfig::leicester_demo(),
            None,
        )
        .unwrap();
        assert!(seed_demo(&state).await.unwrap());
        assert!(!seed_demo(&state).await.unwrap());
        let references: Vec<String> =
            query_scalar("SELECT reference FROM permits ORDER BY reference")
                .fetch_all(&mut state.store.reader().await.unwrap())
                .await
                .unwrap();
        assert_eq!(references.len(), 2, "{references:?}");
        assert_ne!(references[0], references[1]);
    }
}
