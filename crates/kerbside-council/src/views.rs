//! Stored rows → the wire types of `kerbside_api::types`, with status computed by the rules
//! crate from the council's clock at the moment of the answer.

use crate::error::Result;
use crate::service::{self, AccountRow, EventRow, PaymentRow, PermitRow};
use crate::store::from_millis;
use crate::AppState;
use chrono::{DateTime, Utc};
use kerbside_api::types::*;
use kerbside_rules::{renewal_opens_on, Address, PermitStatus};

pub fn postal(address: &Address) -> PostalAddress {
    PostalAddress {
        line1: address.line1.clone(),
        street: address.street.clone(),
        town: address.town.clone(),
        postcode: address.postcode.to_string(),
    }
}

pub fn profile(state: &AppState, account: &AccountRow) -> Profile {
    let zone = account
        .address()
        .ok()
        .and_then(|a| state.council.streets.zone_for(&a).ok())
        .map(|z| ZoneView {
            code: z.code,
            name: z.name,
        });
    Profile {
        id: account.id.clone(),
        email: account.email.clone(),
        name: account.name.clone(),
        address: account.postal_address(),
        zone,
        date_of_birth: account.date_of_birth().ok().flatten(),
        reminder_email: account.reminder_email.clone(),
        role: if account.role == "officer" {
            Role::Officer
        } else {
            Role::Resident
        },
    }
}

pub fn permit(state: &AppState, row: &PermitRow, events: &[EventRow]) -> Result<Permit> {
    let (now, today) = service::today(state);
    let permit_type = row.permit_type()?;
    let term = row.term()?;
    let status = row.status(today)?;
    let opens_on = renewal_opens_on(term.expires_on);
    let renewal_open = status == PermitStatus::Active
        && row.renewed_by.is_none()
        && today >= opens_on
        && today <= term.expires_on;
    let registration = kerbside_rules::Registration::parse(&row.registration)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| row.registration.clone());
    Ok(Permit {
        id: row.id.clone(),
        reference: row.reference.clone(),
        permit_type,
        permit_type_label: permit_type.label().to_string(),
        registration,
        address: PostalAddress {
            line1: row.address_line1.clone(),
            street: row.address_street.clone(),
            town: row.address_town.clone(),
            postcode: row.address_postcode.clone(),
        },
        zone: ZoneView {
            code: row.zone_code.clone(),
            name: row.zone_name.clone(),
        },
        starts_on: term.starts_on,
        expires_on: term.expires_on,
        status,
        status_label: status.label().to_string(),
        renewal_opens_on: opens_on,
        renewal_open,
        renewed_by: row.renewed_by.clone(),
        renewal_of: row.renewal_of.clone(),
        price_pence: row.price_pence,
        refund_pence: row.refund_pence,
        history: service::history(events, &row.id),
        as_of: now,
        open_payment: open_payment(state, row, now),
    })
}

/// The hosted page of a permit awaiting payment, only while its payment can still be made:
/// the one way back to the page when the answer to the purchase or renewal was lost.
fn open_payment(state: &AppState, row: &PermitRow, now: DateTime<Utc>) -> Option<PaymentLink> {
    if row.state != "awaiting_payment" {
        return None;
    }
    let (id, token, expires_at) = (
        row.open_payment_id.as_ref()?,
        row.open_payment_token.as_ref()?,
        row.open_payment_expires_at?,
    );
    let expires_at = from_millis(expires_at);
    (expires_at > now).then(|| PaymentLink {
        payment_id: id.clone(),
        next_url: pay_url(state, id, token),
        expires_at,
    })
}

fn pay_url(state: &AppState, payment_id: &str, page_token: &str) -> String {
    format!("{}/pay/{}/{}", state.public_url, payment_id, page_token)
}

pub fn payment(state: &AppState, row: &PaymentRow) -> Payment {
    let payable = row.status == "created";
    Payment {
        id: row.id.clone(),
        permit_id: row.permit_id.clone(),
        amount_pence: row.amount_pence,
        status: match row.status.as_str() {
            "succeeded" => PaymentStatus::Succeeded,
            "failed" => PaymentStatus::Failed,
            _ => PaymentStatus::Created,
        },
        next_url: payable.then(|| pay_url(state, &row.id, &row.page_token)),
        failure_reason: row.failure_reason.clone(),
        created_at: from_millis(row.created_at),
        expires_at: from_millis(row.expires_at),
    }
}
