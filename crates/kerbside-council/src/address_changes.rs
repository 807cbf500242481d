//! Change of address with evidence: the resident creates a change (new address and kind of
//! document), adds pages of evidence, and submits it; a council officer approves it (the
//! account's address becomes the new one) or rejects it with a reason the resident sees.
//! Every decision is written to `audit_log` in the same transaction.
//!
//! Permits keep the address they were bought for: after a move the resident is shown which
//! live or upcoming permits belong to another household, and cancels them themselves.

use crate::error::{Error, Result};
use crate::evidence::{self, FileKind};
use crate::service::{self, parse_address, AccountRow};
use crate::sql::{from_sqlite_columns, query, query_as, query_scalar, Queries};
use crate::store::{from_millis, millis, new_id};
use crate::AppState;
use axum::body::Body;
use chrono::{DateTime, Utc};
use kerbside_api::types::*;
use kerbside_rules::{permits_to_surrender, Address, EvidenceDocument, PermitStatus, Postcode};
use sqlx::FromRow;
use std::path::PathBuf;

/// Longest reason an officer may give for a rejection.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(FromRow, Clone, Debug)]
struct ChangeRow {
    id: String,
    account_id: String,
    address_line1: String,
    address_street: String,
    address_town: String,
    address_postcode: String,
    household_key: String,
    document_kind: String,
    status: String,
    officer_reason: Option<String>,
    decided_at: Option<i64>,
    submitted_at: Option<i64>,
    created_at: i64,
}

from_sqlite_columns!(ChangeRow {
    id,
    account_id,
    address_line1,
    address_street,
    address_town,
    address_postcode,
    household_key,
    document_kind,
    status,
    officer_reason,
    decided_at,
    submitted_at,
    created_at,
});

const CHANGE_SELECT: &str = "SELECT id, account_id, address_line1, address_street, address_town, \
    address_postcode, household_key, document_kind, status, officer_reason, decided_at, \
    submitted_at, created_at FROM address_changes";

impl ChangeRow {
    fn status(&self) -> Result<AddressChangeStatus> {
        AddressChangeStatus::from_code(&self.status)
            .ok_or_else(|| Error::Internal(format!("unknown stored change status {}", self.status)))
    }

    fn document(&self) -> Result<EvidenceDocument> {
        EvidenceDocument::ALL
            .into_iter()
            .find(|d| document_code(*d) == self.document_kind)
            .ok_or_else(|| {
                Error::Internal(format!("unknown stored document {}", self.document_kind))
            })
    }

    fn postal_address(&self) -> PostalAddress {
        PostalAddress {
            line1: self.address_line1.clone(),
            street: self.address_street.clone(),
            town: self.address_town.clone(),
            postcode: self.address_postcode.clone(),
        }
    }
}

#[derive(FromRow, Clone, Debug)]
pub struct FileRow {
    pub id: String,
    pub change_id: String,
    pub stored_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub page_number: i64,
    pub created_at: i64,
}

from_sqlite_columns!(FileRow {
    id,
    change_id,
    stored_name,
    content_type,
    size_bytes,
    page_number,
    created_at,
});

const FILE_SELECT: &str = "SELECT id, change_id, stored_name, content_type, size_bytes, \
    page_number, created_at FROM evidence_files";

fn document_code(document: EvidenceDocument) -> &'static str {
    match document {
        EvidenceDocument::CouncilTaxBill => "council_tax_bill",
        EvidenceDocument::TenancyAgreement => "tenancy_agreement",
        EvidenceDocument::CompletionStatement => "completion_statement",
    }
}

fn change_not_found() -> Error {
    Error::NotFound("No change of address with that reference was found on your account.".into())
}

fn officer_change_not_found() -> Error {
    Error::NotFound("There is no change of address with that reference.".into())
}

// ---------------------------------------------------------------- reading

async fn change_of(conn: &mut impl Queries, account_id: &str, id: &str) -> Result<ChangeRow> {
    query_as::<ChangeRow>(&format!(
        "{CHANGE_SELECT} WHERE id = $1 AND account_id = $2"
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(change_not_found)
}

async fn change_by_id(conn: &mut impl Queries, id: &str) -> Result<ChangeRow> {
    query_as::<ChangeRow>(&format!("{CHANGE_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(officer_change_not_found)
}

async fn files_of(conn: &mut impl Queries, change_id: &str) -> Result<Vec<FileRow>> {
    Ok(query_as::<FileRow>(&format!(
        "{FILE_SELECT} WHERE change_id = $1 ORDER BY page_number"
    ))
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}

fn file_view(row: &FileRow) -> EvidenceFile {
    EvidenceFile {
        id: row.id.clone(),
        page_number: u32::try_from(row.page_number).unwrap_or(0),
        content_type: row.content_type.clone(),
        size_bytes: u64::try_from(row.size_bytes).unwrap_or(0),
        uploaded_at: from_millis(row.created_at),
    }
}

fn change_view(
    row: &ChangeRow,
    files: &[FileRow],
    surrender: Vec<String>,
) -> Result<AddressChange> {
    let status = row.status()?;
    let document = row.document()?;
    Ok(AddressChange {
        id: row.id.clone(),
        address: row.postal_address(),
        document,
        document_label: document.label().to_string(),
        document_must_show: document.must_show().to_string(),
        status,
        status_label: status.label().to_string(),
        officer_reason: row.officer_reason.clone(),
        files: files.iter().map(file_view).collect(),
        created_at: from_millis(row.created_at),
        submitted_at: row.submitted_at.map(from_millis),
        decided_at: row.decided_at.map(from_millis),
        permits_to_surrender: surrender,
    })
}

async fn resident_view(state: &AppState, account_id: &str, id: &str) -> Result<AddressChange> {
    let mut conn = state.store.reader().await?;
    let row = change_of(&mut conn, account_id, id).await?;
    let files = files_of(&mut conn, &row.id).await?;
    change_view(&row, &files, Vec::new())
}

/// The account's live or upcoming permits for a household other than `new_address`'s.
async fn permits_to_give_up(
    state: &AppState,
    account_id: &str,
    new_address: &Address,
) -> Result<Vec<String>> {
    let (_, today) = service::today(state);
    let (permits, _) = service::permits_for(state, account_id).await?;
    let mut held = Vec::new();
    for permit in &permits {
        if matches!(
            permit.status(today)?,
            PermitStatus::Active | PermitStatus::Upcoming
        ) {
            held.push((
                permit.id.as_str(),
                Address {
                    line1: permit.address_line1.clone(),
                    street: permit.address_street.clone(),
                    town: permit.address_town.clone(),
                    postcode: Postcode::parse(&permit.address_postcode)?,
                },
            ));
        }
    }
    Ok(
        permits_to_surrender(held.iter().map(|(id, a)| (*id, a)), new_address)
            .into_iter()
            .map(str::to_string)
            .collect(),
    )
}

pub async fn list_for_resident(
    state: &AppState,
    account: &AccountRow,
) -> Result<AddressChangeList> {
    let mut conn = state.store.reader().await?;
    let rows = query_as::<ChangeRow>(&format!(
        "{CHANGE_SELECT} WHERE account_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(&account.id)
    .fetch_all(&mut conn)
    .await?;
    let files = query_as::<FileRow>(
        "SELECT f.id, f.change_id, f.stored_name, f.content_type, f.size_bytes, f.page_number, \
         f.created_at FROM evidence_files f JOIN address_changes c ON c.id = f.change_id \
         WHERE c.account_id = $1 ORDER BY f.page_number",
    )
    .bind(&account.id)
    .fetch_all(&mut conn)
    .await?;
    drop(conn);
    // Only the latest approved move says which permits to give up: it is the address now.
    let latest_approved = rows
        .iter()
        .filter(|r| r.status == AddressChangeStatus::Approved.code())
        .max_by_key(|r| (r.decided_at, r.created_at))
        .map(|r| r.id.clone());
    let mut changes = Vec::with_capacity(rows.len());
    for row in &rows {
        let surrender = if Some(&row.id) == latest_approved.as_ref() {
            permits_to_give_up(state, &account.id, &parse_address(&row.postal_address())?).await?
        } else {
            Vec::new()
        };
        let mine: Vec<FileRow> = files
            .iter()
            .filter(|f| f.change_id == row.id)
            .cloned()
            .collect();
        changes.push(change_view(row, &mine, surrender)?);
    }
    Ok(AddressChangeList {
        changes,
        as_of: state.clock.now(),
    })
}

// ---------------------------------------------------------------- resident actions

pub async fn create(
    state: &AppState,
    account: &AccountRow,
    req: &AddressChangeRequest,
) -> Result<AddressChange> {
    let (now, _) = service::today(state);
    let address = parse_address(&req.address)?;
    if address.household_key() == account.household_key {
        return Err(Error::Validation(
            "This is already the address on your account. Enter the address you are moving to."
                .into(),
        ));
    }
    let id = new_id();
    let statement = query(
        "INSERT INTO address_changes (id, account_id, address_line1, address_street, address_town, \
         address_postcode, household_key, document_kind, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(&account.id)
    .bind(&address.line1)
    .bind(&address.street)
    .bind(&address.town)
    .bind(address.postcode.to_string())
    .bind(address.household_key())
    .bind(document_code(req.document))
    .bind(AddressChangeStatus::AwaitingFiles.code())
    .bind(millis(now));
    state.store.execute_write(statement).await?;
    resident_view(state, &account.id, &id).await
}

fn not_awaiting_files(status: AddressChangeStatus) -> Error {
    Error::Conflict(match status {
        AddressChangeStatus::AwaitingFiles => "This change of address is being updated. Try again in a moment.".into(),
        AddressChangeStatus::Submitted => "This change of address has already been sent to the council, so no more pages can be added.".into(),
        AddressChangeStatus::Approved | AddressChangeStatus::Rejected => "This change of address has already been decided. Start a new one to send different evidence.".into(),
    })
}

fn too_many_pages() -> Error {
    Error::Conflict(format!(
        "A change of address can have at most {MAX_EVIDENCE_PAGES} pages of evidence, and this one has that many already. Submit it as it is."
    ))
}

/// Adds one page: the body is streamed to a temporary file (see [`evidence::receive`]), then
/// the row is inserted and the file renamed to its generated name in one transaction. If
/// anything fails, the file is deleted and the row rolled back.
pub async fn upload(
    state: &AppState,
    account: &AccountRow,
    change_id: &str,
    declared_type: Option<&str>,
    content_length: Option<u64>,
    body: Body,
) -> Result<(bool, AddressChange)> {
    // Refuse before reading anything if the change cannot take a page.
    {
        let mut conn = state.store.reader().await?;
        let row = change_of(&mut conn, &account.id, change_id).await?;
        let status = row.status()?;
        if status != AddressChangeStatus::AwaitingFiles {
            return Err(not_awaiting_files(status));
        }
        if files_of(&mut conn, change_id).await?.len() >= MAX_EVIDENCE_PAGES as usize {
            return Err(too_many_pages());
        }
    }
    let received =
        evidence::receive(&state.evidence_dir, declared_type, content_length, body).await?;
    // From here on, run to the end even if the resident's app goes away: the rename and the
    // commit must not be cut in half.
    let state2 = state.clone();
    let account_id = account.id.clone();
    let change_id = change_id.to_string();
    tokio::spawn(async move { store_page(&state2, &account_id, &change_id, received).await })
        .await
        .map_err(|e| Error::Internal(format!("storing evidence: {e}")))?
}

async fn store_page(
    state: &AppState,
    account_id: &str,
    change_id: &str,
    received: evidence::Received,
) -> Result<(bool, AddressChange)> {
    let (now, _) = service::today(state);
    let mut tx = state.store.begin_write().await?;
    // The first statement writes: it serialises uploads to one change on both databases.
    let locked = query(
        "UPDATE address_changes SET status = status WHERE id = $1 AND account_id = $2 AND status = $3",
    )
    .bind(change_id)
    .bind(account_id)
    .bind(AddressChangeStatus::AwaitingFiles.code())
    .execute(&mut tx)
    .await?;
    if locked != 1 {
        let row = change_of(&mut tx, account_id, change_id).await?;
        return Err(not_awaiting_files(row.status()?));
    }
    let existing: Option<String> =
        query_scalar("SELECT id FROM evidence_files WHERE change_id = $1 AND sha256 = $2")
            .bind(change_id)
            .bind(&received.sha256)
            .fetch_optional(&mut tx)
            .await?;
    if existing.is_some() {
        // The same bytes again (a retry): one page, not two. `received` is dropped: deleted.
        tx.commit().await?;
        return Ok((false, resident_view(state, account_id, change_id).await?));
    }
    let pages: i64 = query_scalar("SELECT COUNT(*) FROM evidence_files WHERE change_id = $1")
        .bind(change_id)
        .fetch_one(&mut tx)
        .await?;
    if pages >= i64::from(MAX_EVIDENCE_PAGES) {
        return Err(too_many_pages());
    }
    let file_id = new_id();
    let kind: FileKind = received.kind;
    let stored_name = format!("{}.{}", new_id(), kind.extension());
    query(
        "INSERT INTO evidence_files (id, change_id, stored_name, content_type, size_bytes, sha256, \
         page_number, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&file_id)
    .bind(change_id)
    .bind(&stored_name)
    .bind(kind.content_type())
    .bind(i64::try_from(received.size).unwrap_or(i64::MAX))
    .bind(&received.sha256)
    .bind(pages + 1)
    .bind(millis(now))
    .execute(&mut tx)
    .await?;
    let final_path = state.evidence_dir.join(&stored_name);
    received
        .keep_as(&final_path)
        .await
        .map_err(|e| Error::Internal(format!("storing evidence: {e}")))?;
    if let Err(e) = tx.commit().await {
        evidence::remove(&final_path).await;
        return Err(e.into());
    }
    Ok((true, resident_view(state, account_id, change_id).await?))
}

pub async fn submit(
    state: &AppState,
    account: &AccountRow,
    change_id: &str,
) -> Result<AddressChange> {
    let (now, _) = service::today(state);
    let mut tx = state.store.begin_write().await?;
    let updated = query(
        "UPDATE address_changes SET status = $1, submitted_at = $2 \
         WHERE id = $3 AND account_id = $4 AND status = $5 \
         AND EXISTS (SELECT 1 FROM evidence_files f WHERE f.change_id = address_changes.id)",
    )
    .bind(AddressChangeStatus::Submitted.code())
    .bind(millis(now))
    .bind(change_id)
    .bind(&account.id)
    .bind(AddressChangeStatus::AwaitingFiles.code())
    .execute(&mut tx)
    .await;
    let updated = match updated {
        Ok(done) => done,
        Err(e) if crate::store::is_unique_violation(&e) => {
            return Err(Error::Conflict(
                "You already have a change of address waiting for the council to check. Wait for its answer before sending another.".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if updated != 1 {
        let row = change_of(&mut tx, &account.id, change_id).await?;
        return Err(match row.status()? {
            AddressChangeStatus::AwaitingFiles => Error::Validation(format!(
                "Add at least one page of evidence ({}) before sending the change of address.",
                row.document()?.must_show()
            )),
            AddressChangeStatus::Submitted => Error::Conflict(
                "This change of address has already been sent to the council.".into(),
            ),
            _ => Error::Conflict("This change of address has already been decided.".into()),
        });
    }
    audit(
        &mut tx,
        now,
        Some(&account.id),
        "address_change_submitted",
        change_id,
        "Submitted by the resident.",
    )
    .await?;
    tx.commit().await?;
    resident_view(state, &account.id, change_id).await
}

// ---------------------------------------------------------------- officers

async fn audit(
    conn: &mut impl Queries,
    at: DateTime<Utc>,
    actor: Option<&str>,
    action: &str,
    subject_id: &str,
    detail: &str,
) -> Result<()> {
    query(
        "INSERT INTO audit_log (id, at, actor_account_id, action, subject_id, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(millis(at))
    .bind(actor)
    .bind(action)
    .bind(subject_id)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

async fn officer_view_of(state: &AppState, row: ChangeRow) -> Result<OfficerAddressChange> {
    let mut conn = state.store.reader().await?;
    let files = files_of(&mut conn, &row.id).await?;
    drop(conn);
    let resident = service::account_by_id(state, &row.account_id).await?;
    Ok(OfficerAddressChange {
        change: change_view(&row, &files, Vec::new())?,
        resident: ResidentSummary {
            id: resident.id.clone(),
            name: resident.name.clone(),
            email: resident.email.clone(),
            address: resident.postal_address(),
        },
    })
}

pub async fn officer_list(
    state: &AppState,
    status: AddressChangeStatus,
) -> Result<OfficerAddressChangeList> {
    let rows = query_as::<ChangeRow>(&format!(
        "{CHANGE_SELECT} WHERE status = $1 ORDER BY submitted_at, created_at, id LIMIT 500"
    ))
    .bind(status.code())
    .fetch_all(&mut state.store.reader().await?)
    .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        changes.push(officer_view_of(state, row).await?);
    }
    Ok(OfficerAddressChangeList {
        changes,
        as_of: state.clock.now(),
    })
}

pub async fn officer_get(state: &AppState, change_id: &str) -> Result<OfficerAddressChange> {
    let mut conn = state.store.reader().await?;
    let row = change_by_id(&mut conn, change_id).await?;
    drop(conn);
    officer_view_of(state, row).await
}

/// A stored page and where it is on disk.
pub async fn officer_file(
    state: &AppState,
    change_id: &str,
    file_id: &str,
) -> Result<(FileRow, PathBuf)> {
    let row = query_as::<FileRow>(&format!("{FILE_SELECT} WHERE id = $1 AND change_id = $2"))
        .bind(file_id)
        .bind(change_id)
        .fetch_optional(&mut state.store.reader().await?)
        .await?
        .ok_or_else(|| Error::NotFound("There is no such page of evidence.".into()))?;
    let path = state.evidence_dir.join(&row.stored_name);
    Ok((row, path))
}

fn not_decidable(status: AddressChangeStatus) -> Error {
    Error::Conflict(match status {
        AddressChangeStatus::AwaitingFiles => {
            "The resident has not sent this change of address yet.".into()
        }
        AddressChangeStatus::Approved => "This change of address has already been approved.".into(),
        AddressChangeStatus::Rejected => "This change of address has already been rejected.".into(),
        AddressChangeStatus::Submitted => "This change of address is being decided.".into(),
    })
}

/// Marks the change decided (only if still submitted); the first statement, so two officers
/// deciding at once cannot both win.
async fn decide(
    conn: &mut impl Queries,
    officer: &AccountRow,
    change_id: &str,
    to: AddressChangeStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<ChangeRow> {
    let updated = query(
        "UPDATE address_changes SET status = $1, officer_reason = $2, decided_by = $3, decided_at = $4 \
         WHERE id = $5 AND status = $6",
    )
    .bind(to.code())
    .bind(reason)
    .bind(&officer.id)
    .bind(millis(now))
    .bind(change_id)
    .bind(AddressChangeStatus::Submitted.code())
    .execute(&mut *conn)
    .await?;
    let row = change_by_id(conn, change_id).await?;
    if updated != 1 {
        return Err(not_decidable(row.status()?));
    }
    Ok(row)
}

pub async fn approve(
    state: &AppState,
    officer: &AccountRow,
    change_id: &str,
) -> Result<OfficerAddressChange> {
    let (now, _) = service::today(state);
    let mut tx = state.store.begin_write().await?;
    let row = decide(
        &mut tx,
        officer,
        change_id,
        AddressChangeStatus::Approved,
        None,
        now,
    )
    .await?;
    let old: (String, String, String, String) = query_as(
        "SELECT address_line1, address_street, address_town, address_postcode FROM accounts WHERE id = $1",
    )
    .bind(&row.account_id)
    .fetch_one(&mut tx)
    .await?;
    query(
        "UPDATE accounts SET address_line1 = $1, address_street = $2, address_town = $3, \
         address_postcode = $4, household_key = $5 WHERE id = $6",
    )
    .bind(&row.address_line1)
    .bind(&row.address_street)
    .bind(&row.address_town)
    .bind(&row.address_postcode)
    .bind(&row.household_key)
    .bind(&row.account_id)
    .execute(&mut tx)
    .await?;
    audit(
        &mut tx,
        now,
        Some(&officer.id),
        "address_change_approved",
        change_id,
        &format!(
            "Approved by {}: address changed from {}, {}, {} {} to {}, {}, {} {}.",
            officer.email,
            old.0,
            old.1,
            old.2,
            old.3,
            row.address_line1,
            row.address_street,
            row.address_town,
            row.address_postcode
        ),
    )
    .await?;
    tx.commit().await?;
    officer_get(state, change_id).await
}

pub async fn reject(
    state: &AppState,
    officer: &AccountRow,
    change_id: &str,
    req: &RejectionRequest,
) -> Result<OfficerAddressChange> {
    let (now, _) = service::today(state);
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(Error::Validation(
            "Give the reason for rejecting the change of address: the resident sees it.".into(),
        ));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::Validation(format!(
            "Keep the reason to {MAX_REASON_CHARS} characters or fewer."
        )));
    }
    let mut tx = state.store.begin_write().await?;
    decide(
        &mut tx,
        officer,
        change_id,
        AddressChangeStatus::Rejected,
        Some(reason),
        now,
    )
    .await?;
    audit(
        &mut tx,
        now,
        Some(&officer.id),
        "address_change_rejected",
        change_id,
        &format!("Rejected by {}: {reason}", officer.email),
    )
    .await?;
    tx.commit().await?;
    officer_get(state, change_id).await
}

/// Creates an officer account from the command line (`kerbside-council officer add`). The
/// account has no postal address; it is audited with no actor.
pub async fn add_officer(
    store: &crate::Store,
    email: &str,
    name: &str,
    password: String,
    now: DateTime<Utc>,
) -> Result<String> {
    let email = service::normalise_email(email, "the officer's email address")?;
    let length = password.chars().count();
    if !(10..=128).contains(&length) {
        return Err(Error::Validation(
            "The officer's password must be 10 to 128 characters long.".into(),
        ));
    }
    let hash = crate::auth::hash_password(password).await?;
    let id = new_id();
    let mut tx = store.begin_write().await?;
    let inserted = query(
        "INSERT INTO accounts (id, email, password_hash, name, address_line1, address_street, \
         address_town, address_postcode, household_key, role, created_at) \
         VALUES ($1, $2, $3, $4, '', '', '', '', $5, 'officer', $6)",
    )
    .bind(&id)
    .bind(&email)
    .bind(&hash)
    .bind(name.trim())
    .bind(format!("officer:{id}"))
    .bind(millis(now))
    .execute(&mut tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::store::is_unique_violation(&e) => {
            return Err(Error::Conflict(format!(
                "There is already an account for {email}."
            )))
        }
        Err(e) => return Err(e.into()),
    }
    audit(
        &mut tx,
        now,
        None,
        "officer_added",
        &id,
        &format!("Officer account {email} added from the command line."),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
