//! The permit service's operations: each one checks the rules (from `kerbside-rules`) and
//! writes in a single transaction, taking the household's lock first so concurrent requests
//! for one household run one after another on both SQLite and PostgreSQL.

use crate::auth;
use crate::error::{Error, Result};
use crate::sql::{
    from_sqlite_columns, from_sqlite_row_and_columns, query, query_as, query_scalar, Queries, Row,
};
use crate::store::{
    date_text, from_millis, is_unique_violation, millis, new_id, parse_date, Backend,
    WriteTransaction,
};
use crate::views;
use crate::AppState;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kerbside_api::types::*;
use kerbside_rules::{
    check_action, check_eligibility, check_household_limit, check_renewal, permit_status,
    quote_refund, uk_local_date, Address, Money, PermitAction, PermitEvent, PermitState,
    PermitStatus, PermitType, PermitTypeTerms, Postcode, Registration, Term, Zone,
};
use rand::Rng;
use sqlx::FromRow;
use std::sync::LazyLock;

/// How long a hosted payment page stays payable.
pub const PAYMENT_MINUTES: i64 = 90;

#[derive(FromRow, Clone, Debug)]
pub struct AccountRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub name: String,
    pub address_line1: String,
    pub address_street: String,
    pub address_town: String,
    pub address_postcode: String,
    pub household_key: String,
    pub date_of_birth: Option<String>,
    pub reminder_email: Option<String>,
    pub role: String,
}

impl AccountRow {
    pub fn postal_address(&self) -> PostalAddress {
        PostalAddress {
            line1: self.address_line1.clone(),
            street: self.address_street.clone(),
            town: self.address_town.clone(),
            postcode: self.address_postcode.clone(),
        }
    }

    pub fn address(&self) -> Result<Address> {
        parse_address(&self.postal_address())
    }

    pub fn date_of_birth(&self) -> Result<Option<NaiveDate>> {
        self.date_of_birth.as_deref().map(parse_date).transpose()
    }
}

#[derive(FromRow, Clone, Debug)]
pub struct PermitRow {
    pub id: String,
    pub reference: String,
    pub account_id: String,
    pub permit_type: String,
    pub registration: String,
    pub address_line1: String,
    pub address_street: String,
    pub address_town: String,
    pub address_postcode: String,
    pub zone_code: String,
    pub zone_name: String,
    pub starts_on: String,
    pub expires_on: String,
    pub state: String,
    pub price_pence: i64,
    pub renewal_of: Option<String>,
    pub carer_evidence: Option<String>,
    pub refund_pence: Option<i64>,
    /// The paid renewal of this permit, if any (joined in [`PERMIT_LOOKUPS`]).
    pub renewed_by: Option<String>,
    /// The permit's payment still waiting for the card (joined in [`PERMIT_LOOKUPS`]): its
    /// id, page token and deadline. Whether it can still be paid is judged at answer time.
    pub open_payment_id: Option<String>,
    pub open_payment_token: Option<String>,
    pub open_payment_expires_at: Option<i64>,
}

impl PermitRow {
    /// Waiting for a payment whose page has closed. Before such a permit is shown its payment
    /// is failed (as `payment_view` does), so it never reads "awaiting payment" once it can no
    /// longer be paid; the check reads the row already fetched, so the usual read costs no
    /// extra query.
    pub fn payment_overdue(&self, now: DateTime<Utc>) -> bool {
        self.state == "awaiting_payment"
            && self
                .open_payment_expires_at
                .is_some_and(|deadline| deadline <= millis(now))
    }

    pub fn permit_type(&self) -> Result<PermitType> {
        parse_permit_type(&self.permit_type)
    }

    pub fn state(&self) -> Result<PermitState> {
        serde_json::from_value(serde_json::Value::String(self.state.clone()))
            .map_err(|_| Error::Internal(format!("unknown stored permit state {}", self.state)))
    }

    pub fn term(&self) -> Result<Term> {
        Ok(Term {
            starts_on: parse_date(&self.starts_on)?,
            expires_on: parse_date(&self.expires_on)?,
        })
    }

    pub fn status(&self, today: NaiveDate) -> Result<PermitStatus> {
        Ok(permit_status(
            self.state()?,
            &self.term()?,
            today,
            self.renewed_by.is_some(),
        ))
    }
}

#[derive(FromRow, Clone, Debug)]
pub struct EventRow {
    pub permit_id: String,
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

#[derive(FromRow, Clone, Debug)]
pub struct PaymentRow {
    pub id: String,
    pub permit_id: String,
    pub account_id: String,
    pub amount_pence: i64,
    pub status: String,
    pub page_token: String,
    pub return_url: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl PaymentRow {
    /// Still waiting for the card after its page has closed: it is failed before it is shown.
    pub fn past_its_deadline(&self, now: DateTime<Utc>) -> bool {
        self.status == "created" && self.expires_at <= millis(now)
    }
}

from_sqlite_columns!(PaymentRow {
    id,
    permit_id,
    account_id,
    amount_pence,
    status,
    page_token,
    return_url,
    failure_reason,
    created_at,
    expires_at,
});

/// A permit row's columns ([`PermitRow`]), for [`permit_select`].
const PERMIT_COLUMNS: &str =
    "SELECT p.id, p.reference, p.account_id, p.permit_type, p.registration, \
    p.address_line1, p.address_street, p.address_town, p.address_postcode, p.household_key, \
    p.zone_code, p.zone_name, p.starts_on, p.expires_on, p.state, p.price_pence, p.renewal_of, \
    p.carer_evidence, p.refund_pence, p.cancelled_on, p.created_at, p.updated_at, \
    r.id AS renewed_by, y.id AS open_payment_id, y.page_token AS open_payment_token, \
    y.expires_at AS open_payment_expires_at";
/// The permit's paid renewal (at most one: `permits_one_live_renewal`) and its payment still
/// waiting for the card (at most one: a permit's only payment is made with it), joined once
/// per permit. They were four correlated subqueries, each an index search of its own per
/// permit: 18 % of PostgreSQL's CPU in the mix (docs/BENCHMARKS.md, fix 27).
const PERMIT_LOOKUPS: &str = "LEFT JOIN permits r ON r.renewal_of = p.id AND r.state = 'active' \
    LEFT JOIN payments y ON y.permit_id = p.id AND y.status = 'created'";

/// A statement reading [`PermitRow`]s: `from` is `permits p`, alone or inner-joined with the
/// table its conditions start from (written before the `LEFT JOIN`s: SQLite never moves a
/// table written after a `LEFT JOIN` to an outer loop), `then` the conditions and order.
fn permit_select(from: &str, then: &str) -> String {
    format!("{PERMIT_COLUMNS} FROM {from} {PERMIT_LOOKUPS} {then}")
}

/// [`permit_select`] with each permit's history in a column of its own, `history`: a JSON
/// array of `[at, kind, detail]`, oldest first ([`PermitWithHistory`]). Through the pool, so on
/// PostgreSQL, the permits and their history are then one statement, one round trip, instead
/// of two (docs/BENCHMARKS.md, fix 29). The two databases name their JSON functions
/// differently; both order the aggregate (SQLite since 3.44).
fn permit_select_with_history(backend: Backend, from: &str, then: &str) -> String {
    let history = match backend {
        Backend::Postgres => {
            "COALESCE(json_agg(json_build_array(e.at, e.kind, e.detail) ORDER BY e.at, e.id), \
             '[]')::text"
        }
        Backend::Sqlite => {
            "json_group_array(json_array(e.at, e.kind, e.detail) ORDER BY e.at, e.id)"
        }
    };
    format!(
        "{PERMIT_COLUMNS}, (SELECT {history} FROM permit_events e WHERE e.permit_id = p.id) \
         AS history FROM {from} {PERMIT_LOOKUPS} {then}"
    )
}

/// A statement for each backend, where their SQL differs.
struct PerBackend {
    sqlite: String,
    postgres: String,
}

impl PerBackend {
    fn new(sql: impl Fn(Backend) -> String) -> PerBackend {
        PerBackend {
            sqlite: sql(Backend::Sqlite),
            postgres: sql(Backend::Postgres),
        }
    }

    fn of(&self, backend: Backend) -> &str {
        match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        }
    }
}

/// A [`PermitRow`] read with its history (see [`permit_select_with_history`]).
#[derive(FromRow)]
struct PermitWithHistory {
    #[sqlx(flatten)]
    permit: PermitRow,
    history: String,
}

from_sqlite_row_and_columns!(PermitWithHistory {
    permit: PermitRow,
    history
});

impl PermitWithHistory {
    /// The permit, and its history as [`EventRow`]s, oldest first.
    fn into_parts(self) -> Result<(PermitRow, Vec<EventRow>)> {
        let history: Vec<(i64, String, String)> = serde_json::from_str(&self.history)
            .map_err(|e| Error::Internal(format!("a permit's history did not parse: {e}")))?;
        let events = history
            .into_iter()
            .map(|(at, kind, detail)| EventRow {
                permit_id: self.permit.id.clone(),
                at,
                kind,
                detail,
            })
            .collect();
        Ok((self.permit, events))
    }

    /// The permits, and their history as [`EventRow`]s: each permit's oldest first.
    fn split(rows: Vec<PermitWithHistory>) -> Result<(Vec<PermitRow>, Vec<EventRow>)> {
        let mut events = Vec::new();
        let mut permits = Vec::with_capacity(rows.len());
        for row in rows {
            let (permit, history) = row.into_parts()?;
            permits.push(permit);
            events.extend(history);
        }
        Ok((permits, events))
    }
}

/// `$table` (`""`, or an alias and a dot, as `"y."`) before each column, comma-separated: a
/// macro, so statements built from it stay `concat!` constants.
macro_rules! columns_of {
    ($table:literal; $first:ident $(, $column:ident)* $(,)?) => {
        concat!($table, stringify!($first) $(, ", ", $table, stringify!($column))*)
    };
}

/// A payment's columns, as [`PaymentRow`] reads them, each after `$table` (`columns_of!`).
macro_rules! payment_columns {
    ($table:literal) => {
        columns_of!($table; id, permit_id, account_id, amount_pence, status, page_token,
            return_url, failure_reason, card_last4, created_at, expires_at, completed_at)
    };
}
const PAYMENT_SELECT: &str = concat!("SELECT ", payment_columns!(""), " FROM payments");

fn state_code(state: PermitState) -> &'static str {
    match state {
        PermitState::AwaitingPayment => "awaiting_payment",
        PermitState::Active => "active",
        PermitState::PaymentFailed => "payment_failed",
        PermitState::Cancelled => "cancelled",
    }
}

pub fn today(state: &AppState) -> (DateTime<Utc>, NaiveDate) {
    let now = state.clock.now();
    (now, uk_local_date(now))
}

// ---------------------------------------------------------------- accounts and sessions

pub fn parse_address(input: &PostalAddress) -> Result<Address> {
    let field = |value: &str, name: &str| -> Result<String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(Error::Validation(format!(
                "Enter the {name} of your address."
            )));
        }
        if trimmed.chars().count() > 100 {
            return Err(Error::Validation(format!(
                "The {name} of your address must be 100 characters or fewer."
            )));
        }
        refuse_control_characters(trimmed, &format!("The {name} of your address"))?;
        Ok(trimmed.to_string())
    };
    Ok(Address {
        line1: field(&input.line1, "house number or name")?,
        street: field(&input.street, "street")?,
        town: field(&input.town, "town")?,
        postcode: Postcode::parse(&input.postcode)?,
    })
}

pub fn normalise_email(input: &str, what: &str) -> Result<String> {
    let email = input.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err(Error::Validation(format!(
            "Enter {what} in the correct format, like name@example.com."
        )))
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Validation("Enter your full name.".into()));
    }
    if name.chars().count() > 100 {
        return Err(Error::Validation(
            "Your name must be 100 characters or fewer.".into(),
        ));
    }
    refuse_control_characters(name, "Your name")?;
    Ok(name.to_string())
}

/// Names and addresses are printed on permits and letters, so each stays on one line.
fn refuse_control_characters(text: &str, subject: &str) -> Result<()> {
    if text.chars().any(char::is_control) {
        return Err(Error::Validation(format!(
            "{subject} contains a tab, line break or other control character. Type it on one \
             line."
        )));
    }
    Ok(())
}

fn check_date_of_birth(dob: Option<NaiveDate>, today: NaiveDate) -> Result<Option<NaiveDate>> {
    match dob {
        Some(d) if d > today => Err(Error::Validation(
            "Your date of birth must be in the past.".into(),
        )),
        Some(d) if today.years_since(d).unwrap_or(0) > 130 => Err(Error::Validation(
            "Check your date of birth: it is more than 130 years ago.".into(),
        )),
        other => Ok(other),
    }
}

/// The rules for a new password, on registration and on a change. `what` names it in the
/// message ("Your password", "Your new password").
fn check_new_password(password: &str, what: &str) -> Result<()> {
    let length = password.chars().count();
    if length < 10 {
        return Err(Error::Validation(format!(
            "{what} must be at least 10 characters long."
        )));
    }
    if length > 128 {
        return Err(Error::Validation(format!(
            "{what} must be 128 characters or fewer."
        )));
    }
    Ok(())
}

pub async fn register(state: &AppState, req: RegisterRequest) -> Result<AccountRow> {
    let (now, today) = today(state);
    let email = normalise_email(&req.email, "an email address")?;
    check_new_password(&req.password, "Your password")?;
    let name = check_name(&req.name)?;
    let address = parse_address(&req.address)?;
    let date_of_birth = check_date_of_birth(req.date_of_birth, today)?;
    let reminder_email = req
        .reminder_email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(|e| normalise_email(e, "the email address for reminders"))
        .transpose()?;
    let password_hash = auth::hash_password(req.password).await?;
    insert_account(
        state,
        NewAccount {
            email,
            password_hash,
            name,
            address,
            date_of_birth,
            reminder_email,
            role: "resident",
            created_at: now,
        },
    )
    .await
}

pub struct NewAccount {
    pub email: String,
    pub password_hash: String,
    pub name: String,
    pub address: Address,
    pub date_of_birth: Option<NaiveDate>,
    pub reminder_email: Option<String>,
    pub role: &'static str,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_account(state: &AppState, new: NewAccount) -> Result<AccountRow> {
    let id = new_id();
    let statement = query(
        "INSERT INTO accounts (id, email, password_hash, name, address_line1, address_street, \
         address_town, address_postcode, household_key, date_of_birth, reminder_email, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(&new.email)
    .bind(&new.password_hash)
    .bind(&new.name)
    .bind(&new.address.line1)
    .bind(&new.address.street)
    .bind(&new.address.town)
    .bind(new.address.postcode.to_string())
    .bind(new.address.household_key())
    .bind(new.date_of_birth.map(date_text))
    .bind(new.reminder_email.clone())
    .bind(new.role)
    .bind(millis(new.created_at));
    let inserted = state.store.execute_write(statement).await;
    match inserted {
        Ok(_) => account_by_id(state, &id).await,
        Err(e) if is_unique_violation(&e) => Err(Error::Conflict(
            "There is already an account with that email address. Sign in instead.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

const ACCOUNT_SELECT: &str =
    "SELECT id, email, password_hash, name, address_line1, address_street, \
    address_town, address_postcode, household_key, date_of_birth, reminder_email, role, created_at \
    FROM accounts";

pub async fn account_by_id(state: &AppState, id: &str) -> Result<AccountRow> {
    query_as::<AccountRow>(&format!("{ACCOUNT_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut state.store.reader().await?)
        .await?
        .ok_or_else(|| Error::Unauthorised("Your account no longer exists.".into()))
}

/// Signs in, within the limits on failed attempts (see [`auth::begin_attempt`]): a refused
/// attempt is answered before any password hashing.
pub async fn sign_in(
    state: &AppState,
    req: SignInRequest,
    client: &auth::ClientAddress,
) -> Result<Session> {
    let (now, _) = today(state);
    let email = req.email.trim().to_lowercase();
    let attempt = auth::begin_attempt(state, &auth::account_key(&email), client).await?;
    let account = query_as::<AccountRow>(&format!("{ACCOUNT_SELECT} WHERE email = $1"))
        .bind(&email)
        .fetch_optional(&mut state.store.reader().await?)
        .await?;
    let ok = auth::verify_password(
        req.password,
        account.as_ref().map(|a| a.password_hash.clone()),
    )
    .await?;
    let wrong = || {
        Error::Unauthorised(
            "The email address or password is not right. Check them and try again.".into(),
        )
    };
    let account = match (ok, account) {
        (true, Some(account)) => account,
        _ => {
            attempt.failed(state).await;
            return Err(wrong());
        }
    };
    let mut tx = state.store.begin_write().await?;
    // Only if the password is still the one just verified: a password change that committed
    // meanwhile (and revoked every session) must not be outrun by a sign-in with the old one.
    // On PostgreSQL this waits for such a change's row lock, then sees its new hash.
    let unchanged = query(
        "UPDATE accounts SET password_hash = password_hash WHERE id = $1 AND password_hash = $2",
    )
    .bind(&account.id)
    .bind(&account.password_hash)
    .execute(&mut tx)
    .await?;
    if unchanged != 1 {
        tx.rollback().await?;
        attempt.failed(state).await;
        return Err(wrong());
    }
    let (token, expires_at) = new_session(&mut tx, &account.id, now).await?;
    tx.commit().await?;
    attempt.succeeded(state).await?;
    Ok(Session {
        token,
        expires_at,
        profile: views::profile(state, &account),
    })
}

/// A new session for the account: the token (returned once, stored only as its hash) and
/// when it expires.
async fn new_session(
    conn: &mut impl Queries,
    account_id: &str,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>)> {
    let token = auth::new_token();
    let expires_at = now + Duration::days(auth::SESSION_DAYS);
    query(
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(auth::token_hash(&token))
    .bind(account_id)
    .bind(millis(now))
    .bind(millis(expires_at))
    .execute(&mut *conn)
    .await?;
    Ok((token, expires_at))
}

/// Changes the password of the signed-in account after checking its current one (a wrong one
/// counts against the sign-in limits, so a stolen token cannot be used to guess it), then
/// revokes every session of the account, the caller's included, and returns a new one: after a
/// change, only whoever made it is signed in.
pub async fn change_password(
    state: &AppState,
    account: &AccountRow,
    req: PasswordChange,
    client: &auth::ClientAddress,
) -> Result<Session> {
    let (now, _) = today(state);
    check_new_password(&req.new_password, "Your new password")?;
    if req.new_password == req.current_password {
        return Err(Error::Validation(
            "Your new password must be different from your current one.".into(),
        ));
    }
    let attempt = auth::begin_attempt(state, &auth::account_key(&account.email), client).await?;
    let ok =
        auth::verify_password(req.current_password, Some(account.password_hash.clone())).await?;
    if !ok {
        attempt.failed(state).await;
        return Err(Error::Validation(
            "Your current password is not right. Enter the password you sign in with now.".into(),
        ));
    }
    let new_hash = auth::hash_password(req.new_password).await?;
    let mut tx = state.store.begin_write().await?;
    // The first statement writes (the account's row lock on PostgreSQL, the write lock on
    // SQLite), and only if the password is still the one just verified: of two changes made
    // at once, one wins and the other is told.
    let changed =
        query("UPDATE accounts SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
            .bind(&new_hash)
            .bind(&account.id)
            .bind(&account.password_hash)
            .execute(&mut tx)
            .await?;
    if changed != 1 {
        tx.rollback().await?;
        return Err(Error::Conflict(
            "Your password was changed a moment ago from somewhere else. Sign in again with the new password.".into(),
        ));
    }
    query("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
        .bind(millis(now))
        .bind(&account.id)
        .execute(&mut tx)
        .await?;
    let (token, expires_at) = new_session(&mut tx, &account.id, now).await?;
    tx.commit().await?;
    attempt.succeeded(state).await?;
    tracing::info!(account = %account.id, "password changed; every other session revoked");
    let account = account_by_id(state, &account.id).await?;
    Ok(Session {
        token,
        expires_at,
        profile: views::profile(state, &account),
    })
}

/// A session with its account, read in one query: every signed-in request starts with it.
#[derive(FromRow)]
struct SessionRow {
    session_expires_at: i64,
    session_revoked_at: Option<i64>,
    #[sqlx(flatten)]
    account: AccountRow,
}

const SESSION_SELECT: &str =
    "SELECT s.expires_at AS session_expires_at, s.revoked_at AS session_revoked_at, \
     a.id, a.email, a.password_hash, a.name, a.address_line1, a.address_street, \
     a.address_town, a.address_postcode, a.household_key, a.date_of_birth, \
     a.reminder_email, a.role \
     FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1";

pub async fn account_for_token(state: &AppState, token_hash: &str) -> Result<AccountRow> {
    let (now, _) = today(state);
    let session = match state.store.sqlite_reads() {
        Some(reads) => reads.read(|conn| {
            query(SESSION_SELECT)
                .bind(token_hash)
                .fetch_optional_sqlite(conn)
        })?,
        None => {
            query_as::<SessionRow>(SESSION_SELECT)
                .bind(token_hash)
                .fetch_optional(&mut state.store.reader().await?)
                .await?
        }
    };
    check_session(
        session.map(|s| (s.session_expires_at, s.session_revoked_at, s.account)),
        now,
    )
}

/// [`account_for_token`] and, for a session that still holds, the reservation of an
/// idempotency key scoped to its account (as `idempotency::reserve` makes it), in one
/// statement: on PostgreSQL every change a resident makes then starts with one round trip, not
/// two (docs/BENCHMARKS.md, fix 31). Returns the account, and whether the key is new (else it
/// was there before: a repeat, or another request's). A session that has ended reserves
/// nothing and gets its reason, as from [`account_for_token`]. PostgreSQL only: SQLite has no
/// `INSERT` inside `WITH` (and there the key joins the writers' batch instead).
pub async fn account_reserving_key(
    state: &AppState,
    token_hash: &str,
    key: &str,
    fingerprint: &str,
) -> Result<(AccountRow, bool)> {
    static ACCOUNT_RESERVING_KEY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH account AS ({SESSION_SELECT}), \
             reserved AS (INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) \
               SELECT id, $2, $3, $4 FROM account \
               WHERE session_revoked_at IS NULL AND session_expires_at > $4 \
               ON CONFLICT (scope, key) DO NOTHING RETURNING 1) \
             SELECT account.*, (SELECT COUNT(*) FROM reserved) AS reserved FROM account"
        )
    });
    let (now, _) = today(state);
    let found = query_as::<SessionReservingKey>(&ACCOUNT_RESERVING_KEY)
        .bind(token_hash)
        .bind(key)
        .bind(fingerprint)
        .bind(millis(now))
        .fetch_optional(&mut state.store.reader().await?)
        .await?;
    let reserved = found.as_ref().is_some_and(|f| f.reserved == 1);
    let account = check_session(
        found.map(|f| {
            let s = f.session;
            (s.session_expires_at, s.session_revoked_at, s.account)
        }),
        now,
    )?;
    Ok((account, reserved))
}

/// A [`SessionRow`] and whether [`account_reserving_key`] reserved its key.
#[derive(FromRow)]
struct SessionReservingKey {
    #[sqlx(flatten)]
    session: SessionRow,
    reserved: i64,
}

from_sqlite_row_and_columns!(SessionReservingKey {
    session: SessionRow,
    reserved
});

/// A session's expiry and revocation times and its account's id, read by its token's hash.
const SESSION_OF_TOKEN: &str =
    "SELECT expires_at, revoked_at, account_id FROM sessions WHERE token_hash = $1";

/// The one judgement of a bearer token's session, for every signed-in request: its expiry and
/// revocation times, if the token has one, and what it signs in (`signs_in`, an account or its
/// id), returned if the session still holds; otherwise the reason a resident is shown.
fn check_session<T>(session: Option<(i64, Option<i64>, T)>, now: DateTime<Utc>) -> Result<T> {
    match session {
        None => Err(Error::Unauthorised(
            "You are not signed in, or your session has ended. Sign in again.".into(),
        )),
        Some((_, Some(_revoked_at), _)) => Err(Error::Unauthorised(
            "You signed out of this session. Sign in again to continue.".into(),
        )),
        Some((expires_at, None, _)) if expires_at <= millis(now) => Err(Error::Unauthorised(
            "Your session has expired. Sign in again to continue.".into(),
        )),
        Some((_, None, signs_in)) => Ok(signs_in),
    }
}

/// For a read by session that found nothing: the session read on its own, through a SQLite
/// reading connection. `Ok` if it still holds (there was nothing to show), or why it ended.
fn sqlite_session_holds(
    conn: &rusqlite::Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Result<()>> {
    let session = query(SESSION_OF_TOKEN)
        .bind(token_hash)
        .fetch_optional_sqlite(conn)?;
    Ok(check_session::<String>(session, now).map(drop))
}

/// One row of the account whose session `token_hash` names, read by `sql` (`$1` the row's id,
/// `$2` the token's hash, `$3` now) with the session checked in the same read. Only when it
/// finds nothing is the session read on its own, to tell a session that has ended (401) from
/// a row that is not the account's (`not_found`).
async fn one_of_session<T: Row>(
    state: &AppState,
    sql: &str,
    id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
    not_found: fn() -> Error,
) -> Result<T> {
    let mut conn = state.store.reader().await?;
    let row = query_as::<T>(sql)
        .bind(id)
        .bind(token_hash)
        .bind(millis(now))
        .fetch_optional(&mut conn)
        .await?;
    match row {
        Some(row) => Ok(row),
        None => {
            session_holds(&mut conn, token_hash, now).await?;
            Err(not_found())
        }
    }
}

/// [`sqlite_session_holds`] through a pool connection.
async fn session_holds(
    conn: &mut impl Queries,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let session = query_as::<(i64, Option<i64>, String)>(SESSION_OF_TOKEN)
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    check_session(session, now).map(drop)
}

pub async fn sign_out(state: &AppState, token_hash: &str) -> Result<()> {
    let (now, _) = today(state);
    state
        .store
        .execute_write(
            query(
                "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL",
            )
            .bind(millis(now))
            .bind(token_hash),
        )
        .await?;
    Ok(())
}

pub async fn update_profile(
    state: &AppState,
    account: &AccountRow,
    update: ProfileUpdate,
) -> Result<AccountRow> {
    let (_, today) = today(state);
    let name = match update.name {
        Some(n) => check_name(&n)?,
        None => account.name.clone(),
    };
    let date_of_birth = match update.date_of_birth {
        Some(d) => check_date_of_birth(Some(d), today)?.map(date_text),
        None => account.date_of_birth.clone(),
    };
    let reminder_email = match update.reminder_email {
        Some(Some(e)) if !e.trim().is_empty() => {
            Some(normalise_email(&e, "the email address for reminders")?)
        }
        Some(_) => None,
        None => account.reminder_email.clone(),
    };
    let statement = query(
        "UPDATE accounts SET name = $1, date_of_birth = $2, reminder_email = $3 WHERE id = $4",
    )
    .bind(name)
    .bind(date_of_birth)
    .bind(reminder_email)
    .bind(&account.id);
    state.store.execute_write(statement).await?;
    account_by_id(state, &account.id).await
}

// ---------------------------------------------------------------- permits

const ACCOUNT_PERMITS: &str =
    "WHERE p.account_id = $1 ORDER BY p.starts_on DESC, p.created_at DESC";
static PERMITS_OF_ACCOUNT: LazyLock<String> =
    LazyLock::new(|| permit_select("permits p", ACCOUNT_PERMITS));
const EVENTS_OF_ACCOUNT: &str = "SELECT e.permit_id, e.at, e.kind, e.detail FROM permit_events e \
    JOIN permits p ON p.id = e.permit_id WHERE p.account_id = $1 ORDER BY e.at, e.id";
const ACCOUNT_PERMIT: &str = "WHERE p.id = $1 AND p.account_id = $2";
static PERMIT_OF_ACCOUNT: LazyLock<String> =
    LazyLock::new(|| permit_select("permits p", ACCOUNT_PERMIT));
const EVENTS_OF_PERMIT: &str =
    "SELECT permit_id, at, kind, detail FROM permit_events WHERE permit_id = $1 ORDER BY at, id";

/// The permits of the account a session signs in, if the session still holds: the session is
/// checked by the statement that reads the permits, not by a read of its own (see
/// [`permits_of_session`]).
const SESSION_PERMITS_FROM: &str = "sessions s JOIN permits p ON p.account_id = s.account_id";
const SESSION_PERMITS: &str = "WHERE s.token_hash = $1 AND s.revoked_at IS NULL \
    AND s.expires_at > $2 ORDER BY p.starts_on DESC, p.created_at DESC";
static PERMITS_OF_SESSION: LazyLock<String> =
    LazyLock::new(|| permit_select(SESSION_PERMITS_FROM, SESSION_PERMITS));
/// One of them, as [`PERMITS_OF_SESSION`].
const SESSION_PERMIT: &str =
    "WHERE p.id = $1 AND s.token_hash = $2 AND s.revoked_at IS NULL AND s.expires_at > $3";
static PERMIT_OF_SESSION: LazyLock<String> =
    LazyLock::new(|| permit_select(SESSION_PERMITS_FROM, SESSION_PERMIT));

/// The same four reads with each permit's history, for the pool (so PostgreSQL): one statement
/// each instead of two. SQLite's reading connections run the two statements above in one read
/// transaction, where a statement costs no round trip.
static PERMITS_OF_ACCOUNT_WITH_HISTORY: LazyLock<PerBackend> = LazyLock::new(|| {
    PerBackend::new(|backend| permit_select_with_history(backend, "permits p", ACCOUNT_PERMITS))
});
static PERMIT_OF_ACCOUNT_WITH_HISTORY: LazyLock<PerBackend> = LazyLock::new(|| {
    PerBackend::new(|backend| permit_select_with_history(backend, "permits p", ACCOUNT_PERMIT))
});
static PERMITS_OF_SESSION_WITH_HISTORY: LazyLock<PerBackend> = LazyLock::new(|| {
    PerBackend::new(|backend| {
        permit_select_with_history(backend, SESSION_PERMITS_FROM, SESSION_PERMITS)
    })
});
static PERMIT_OF_SESSION_WITH_HISTORY: LazyLock<PerBackend> = LazyLock::new(|| {
    PerBackend::new(|backend| {
        permit_select_with_history(backend, SESSION_PERMITS_FROM, SESSION_PERMIT)
    })
});

/// [`permits_for`] the account whose session `token_hash` names, the session checked in the
/// same read: one read transaction on SQLite instead of two, two round trips on PostgreSQL
/// instead of three (docs/BENCHMARKS.md, fix 25). Only when the session has no permits to show
/// is it read again on its own, to tell a resident with none from a session that has ended.
pub async fn permits_of_session(
    state: &AppState,
    token_hash: &str,
) -> Result<(Vec<PermitRow>, Vec<EventRow>)> {
    let now = today(state).0;
    let (permits, events) = match state.store.sqlite_reads() {
        Some(reads) => reads.read(|conn| {
            let permits: Vec<PermitRow> = query(&PERMITS_OF_SESSION)
                .bind(token_hash)
                .bind(millis(now))
                .fetch_all_sqlite(conn)?;
            let Some(first) = permits.first() else {
                return Ok(
                    sqlite_session_holds(conn, token_hash, now)?.map(|()| Default::default())
                );
            };
            let events = query(EVENTS_OF_ACCOUNT)
                .bind(&first.account_id)
                .fetch_all_sqlite(conn)?;
            Ok(Ok((permits, events)))
        })??,
        None => {
            let mut conn = state.store.reader().await?;
            let sql = PERMITS_OF_SESSION_WITH_HISTORY.of(state.store.backend());
            let rows = query_as::<PermitWithHistory>(sql)
                .bind(token_hash)
                .bind(millis(now))
                .fetch_all(&mut conn)
                .await?;
            if rows.is_empty() {
                session_holds(&mut conn, token_hash, now).await?;
                return Ok(Default::default());
            }
            PermitWithHistory::split(rows)?
        }
    };
    match permits.iter().find(|p| p.payment_overdue(now)) {
        Some(overdue) => {
            let account_id = overdue.account_id.clone();
            fail_expired_payments_in_turn(state, now).await?;
            permits_and_events(state, &account_id).await
        }
        None => Ok((permits, events)),
    }
}

/// The account's permits, newest first, with their history. A permit whose payment page has
/// closed is shown failed, never "awaiting payment".
pub async fn permits_for(
    state: &AppState,
    account_id: &str,
) -> Result<(Vec<PermitRow>, Vec<EventRow>)> {
    let now = today(state).0;
    let (permits, events) = permits_and_events(state, account_id).await?;
    if permits.iter().any(|p| p.payment_overdue(now)) {
        fail_expired_payments_in_turn(state, now).await?;
        return permits_and_events(state, account_id).await;
    }
    Ok((permits, events))
}

async fn permits_and_events(
    state: &AppState,
    account_id: &str,
) -> Result<(Vec<PermitRow>, Vec<EventRow>)> {
    if let Some(reads) = state.store.sqlite_reads() {
        return Ok(reads.read(|conn| {
            Ok((
                query(&PERMITS_OF_ACCOUNT)
                    .bind(account_id)
                    .fetch_all_sqlite(conn)?,
                query(EVENTS_OF_ACCOUNT)
                    .bind(account_id)
                    .fetch_all_sqlite(conn)?,
            ))
        })?);
    }
    let sql = PERMITS_OF_ACCOUNT_WITH_HISTORY.of(state.store.backend());
    let rows = query_as::<PermitWithHistory>(sql)
        .bind(account_id)
        .fetch_all(&mut state.store.reader().await?)
        .await?;
    PermitWithHistory::split(rows)
}

/// One of the account's permits; someone else's permit is "not found", never "forbidden", so
/// its existence is not revealed.
pub async fn permit_of(conn: &mut impl Queries, account_id: &str, id: &str) -> Result<PermitRow> {
    query_as::<PermitRow>(&PERMIT_OF_ACCOUNT)
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(Error::permit_not_found)
}

pub async fn permit_view(state: &AppState, account_id: &str, id: &str) -> Result<Permit> {
    let now = today(state).0;
    let (mut row, mut events) = permit_and_events(state, account_id, id).await?;
    if row.payment_overdue(now) {
        fail_expired_payments_in_turn(state, now).await?;
        (row, events) = permit_and_events(state, account_id, id).await?;
    }
    views::permit(state, &row, &events)
}

/// [`permit_view`] of a permit of the account whose session `token_hash` names, the session
/// checked in the same read, as [`permits_of_session`]. Someone else's permit is "not found".
pub async fn permit_view_of_session(
    state: &AppState,
    token_hash: &str,
    id: &str,
) -> Result<Permit> {
    let now = today(state).0;
    let (row, events) = match state.store.sqlite_reads() {
        Some(reads) => reads.read(|conn| {
            let row: Option<PermitRow> = query(&PERMIT_OF_SESSION)
                .bind(id)
                .bind(token_hash)
                .bind(millis(now))
                .fetch_optional_sqlite(conn)?;
            let Some(row) = row else {
                return Ok(sqlite_session_holds(conn, token_hash, now)?
                    .and_then(|()| Err(Error::permit_not_found())));
            };
            let events = query(EVENTS_OF_PERMIT).bind(id).fetch_all_sqlite(conn)?;
            Ok(Ok((row, events)))
        })??,
        None => {
            let sql = PERMIT_OF_SESSION_WITH_HISTORY.of(state.store.backend());
            let row: PermitWithHistory =
                one_of_session(state, sql, id, token_hash, now, Error::permit_not_found).await?;
            row.into_parts()?
        }
    };
    if row.payment_overdue(now) {
        return permit_view(state, &row.account_id, id).await;
    }
    views::permit(state, &row, &events)
}

async fn permit_and_events(
    state: &AppState,
    account_id: &str,
    id: &str,
) -> Result<(PermitRow, Vec<EventRow>)> {
    if let Some(reads) = state.store.sqlite_reads() {
        let (row, events) = reads.read(|conn| {
            let row: Option<PermitRow> = query(&PERMIT_OF_ACCOUNT)
                .bind(id)
                .bind(account_id)
                .fetch_optional_sqlite(conn)?;
            let events = match row {
                Some(_) => query(EVENTS_OF_PERMIT).bind(id).fetch_all_sqlite(conn)?,
                None => Vec::new(),
            };
            Ok((row, events))
        })?;
        return Ok((row.ok_or_else(Error::permit_not_found)?, events));
    }
    permit_and_events_on(
        state.store.backend(),
        &mut state.store.reader().await?,
        account_id,
        id,
    )
    .await
}

/// One of the account's permits and its history, through `conn`, in one statement.
async fn permit_and_events_on(
    backend: Backend,
    conn: &mut impl Queries,
    account_id: &str,
    id: &str,
) -> Result<(PermitRow, Vec<EventRow>)> {
    query_as::<PermitWithHistory>(PERMIT_OF_ACCOUNT_WITH_HISTORY.of(backend))
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(Error::permit_not_found)?
        .into_parts()
}

from_sqlite_columns!(AccountRow {
    id,
    email,
    password_hash,
    name,
    address_line1,
    address_street,
    address_town,
    address_postcode,
    household_key,
    date_of_birth,
    reminder_email,
    role,
});

from_sqlite_columns!(PermitRow {
    id,
    reference,
    account_id,
    permit_type,
    registration,
    address_line1,
    address_street,
    address_town,
    address_postcode,
    zone_code,
    zone_name,
    starts_on,
    expires_on,
    state,
    price_pence,
    renewal_of,
    carer_evidence,
    refund_pence,
    renewed_by,
    open_payment_id,
    open_payment_token,
    open_payment_expires_at,
});

from_sqlite_columns!(EventRow {
    permit_id,
    at,
    kind,
    detail
});

from_sqlite_row_and_columns!(SessionRow {
    account: AccountRow,
    session_expires_at,
    session_revoked_at,
});

struct PreparedPurchase {
    terms: PermitTypeTerms,
    registration: Registration,
    address: Address,
    zone: Zone,
    term: Term,
    carer_evidence: Option<String>,
}

fn prepare_purchase(
    state: &AppState,
    account: &AccountRow,
    req: &PermitRequest,
    today: NaiveDate,
) -> Result<PreparedPurchase> {
    let terms = state
        .council
        .tariff
        .terms(req.permit_type)
        .cloned()
        .ok_or_else(|| {
            Error::Validation(format!(
                "{} does not offer the {}.",
                state.council.tariff.council_name,
                req.permit_type.label()
            ))
        })?;
    let registration = Registration::parse(&req.registration)?;
    let address = account.address()?;
    let zone = state.council.streets.zone_for(&address)?;
    let carer_evidence = req
        .carer_evidence
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    if carer_evidence
        .as_ref()
        .is_some_and(|e| e.chars().count() > 500)
    {
        return Err(Error::Validation(
            "Keep the carer details to 500 characters or fewer.".into(),
        ));
    }
    check_eligibility(
        &terms,
        &state.council.pension_ages,
        account.date_of_birth()?,
        carer_evidence.as_deref(),
        today,
    )?;
    let term = Term::starting(today, terms.term_months);
    Ok(PreparedPurchase {
        terms,
        registration,
        address,
        zone,
        term,
        carer_evidence,
    })
}

pub async fn quote(
    state: &AppState,
    account: &AccountRow,
    req: &PermitRequest,
) -> Result<PermitQuote> {
    let (_, today) = today(state);
    let p = prepare_purchase(state, account, req, today)?;
    Ok(PermitQuote {
        permit_type: p.terms.permit_type,
        registration: p.registration.canonical(),
        zone: ZoneView {
            code: p.zone.code,
            name: p.zone.name,
        },
        address: views::postal(&p.address),
        price_pence: p.terms.price.pence(),
        starts_on: p.term.starts_on,
        expires_on: p.term.expires_on,
    })
}

/// [`lock_household`] of the household an account lives in, found in the same statement.
async fn lock_household_of(tx: &mut WriteTransaction, account_id: &str) -> Result<()> {
    if tx.excludes_every_other_writer() {
        return Ok(());
    }
    query(
        "INSERT INTO households (household_key, version) \
         SELECT household_key, 1 FROM accounts WHERE id = $1 \
         ON CONFLICT (household_key) DO UPDATE SET version = households.version + 1",
    )
    .bind(account_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Takes the household's lock: the first statement of every permit-changing transaction.
/// On SQLite a write transaction already excludes every other writer (the writers' turn, and
/// the batch's `BEGIN IMMEDIATE` against other processes), so there is nothing more to take:
/// the row's update would only cost the turn a statement and a page of the commit
/// (docs/BENCHMARKS.md, fix 24).
async fn lock_household(tx: &mut WriteTransaction, household_key: &str) -> Result<()> {
    if tx.excludes_every_other_writer() {
        return Ok(());
    }
    // One statement, not an insert then an update: each statement is a round trip to the
    // database while the transaction is open.
    query(
        "INSERT INTO households (household_key, version) VALUES ($1, 1) \
         ON CONFLICT (household_key) DO UPDATE SET version = households.version + 1",
    )
    .bind(household_key)
    .execute(tx)
    .await?;
    Ok(())
}

/// Payments left unpaid past their deadline fail, and their permits with them.
/// [`fail_expired_payments`] in a write transaction of its own (both updates or neither), for
/// the reads and the sweep that find a payment overdue.
pub async fn fail_expired_payments_in_turn(state: &AppState, now: DateTime<Utc>) -> Result<u64> {
    let mut tx = state.store.begin_write().await?;
    let failed = fail_expired_payments(&mut tx, now).await?;
    tx.commit().await?;
    Ok(failed)
}

async fn fail_expired_payments(conn: &mut impl Queries, now: DateTime<Utc>) -> Result<u64> {
    let now_ms = millis(now);
    // The payments first, and then exactly the permits of the payments this statement failed.
    // Two statements that each chose their own rows would, on PostgreSQL (READ COMMITTED: each
    // statement sees what was committed when it began), fail a payment committed between them
    // while its permit stayed "awaiting payment" for ever. In the usual case nothing is
    // overdue and this is one statement.
    let failed: Vec<String> = query_scalar(
        "UPDATE payments SET status = 'failed', completed_at = $1, failure_reason = $2 \
         WHERE status = 'created' AND expires_at <= $1 RETURNING permit_id",
    )
    .bind(now_ms)
    .bind(
        "The payment was not finished in time, so nothing was taken and the permit was not issued.",
    )
    .fetch_all(&mut *conn)
    .await?;
    for permits in failed.chunks(PERMITS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE permits SET state = 'payment_failed', updated_at = $1 \
             WHERE state = 'awaiting_payment' AND id IN ({})",
            placeholders(2, permits.len())
        );
        let mut statement = query(&sql).bind(now_ms);
        for permit in permits {
            statement = statement.bind(permit);
        }
        statement.execute(&mut *conn).await?;
    }
    Ok(failed.len() as u64)
}

/// Ids bound in one statement: far below SQLite's and PostgreSQL's limits on parameters.
const PERMITS_PER_STATEMENT: usize = 500;

/// `$first, $first+1, …`: `count` placeholders for an `IN (…)` list.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn add_event(
    conn: &mut impl Queries,
    permit_id: &str,
    at: DateTime<Utc>,
    kind: &str,
    detail: &str,
) -> Result<()> {
    query(
        "INSERT INTO permit_events (id, permit_id, at, kind, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(permit_id)
    .bind(millis(at))
    .bind(kind)
    .bind(detail)
    .execute(conn)
    .await?;
    Ok(())
}

fn new_reference() -> String {
    // No 0/O or 1/I, so a reference read over the phone is unambiguous.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    let code: String = (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("KP-{code}")
}

struct NewPermit<'a> {
    account: &'a AccountRow,
    prepared_type: &'a PermitTypeTerms,
    registration: &'a Registration,
    address: &'a Address,
    zone: &'a Zone,
    term: Term,
    renewal_of: Option<&'a str>,
    carer_evidence: Option<&'a str>,
    return_url: Option<&'a str>,
}

/// What [`insert_permit`] wrote: the new permit's row as a read would return it, its history,
/// and its payment when there is something to pay.
struct Inserted {
    permit: PermitRow,
    events: Vec<EventRow>,
    payment: Option<PaymentRow>,
}

impl Inserted {
    /// The answer to the purchase or renewal that wrote these rows, built from them rather
    /// than read back: three statements fewer in the writer's turn on SQLite and three round
    /// trips fewer on PostgreSQL (docs/BENCHMARKS.md, fix 26). A read of the same permit
    /// gives the same answer (test
    /// `a_purchase_answers_with_what_a_read_of_its_permit_and_payment_then_gives`).
    fn purchase(&self, state: &AppState) -> Result<Purchase> {
        Ok(Purchase {
            permit: views::permit(state, &self.permit, &self.events)?,
            payment: self.payment.as_ref().map(|p| views::payment(state, p)),
        })
    }
}

/// Inserts the permit (active at once when free) and, when there is something to pay, its
/// payment; returns what it wrote.
async fn insert_permit(
    conn: &mut impl Queries,
    new: NewPermit<'_>,
    now: DateTime<Utc>,
) -> Result<Inserted> {
    let price = new.prepared_type.price;
    let free = price == Money::ZERO;
    let permit_state = if free {
        PermitState::Active
    } else {
        PermitState::AwaitingPayment
    };
    let mut permit = PermitRow {
        id: new_id(),
        reference: new_reference(),
        account_id: new.account.id.clone(),
        permit_type: new.prepared_type.permit_type.code().to_string(),
        registration: new.registration.as_str().to_string(),
        address_line1: new.address.line1.clone(),
        address_street: new.address.street.clone(),
        address_town: new.address.town.clone(),
        address_postcode: new.address.postcode.to_string(),
        zone_code: new.zone.code.clone(),
        zone_name: new.zone.name.clone(),
        starts_on: date_text(new.term.starts_on),
        expires_on: date_text(new.term.expires_on),
        state: state_code(permit_state).to_string(),
        price_pence: price.pence(),
        renewal_of: new.renewal_of.map(str::to_string),
        carer_evidence: new.carer_evidence.map(str::to_string),
        refund_pence: None,
        // Nothing renews a permit in the transaction that creates it.
        renewed_by: None,
        open_payment_id: None,
        open_payment_token: None,
        open_payment_expires_at: None,
    };
    let inserted = query(
        "INSERT INTO permits (id, reference, account_id, permit_type, registration, address_line1, \
         address_street, address_town, address_postcode, household_key, zone_code, zone_name, starts_on, \
         expires_on, state, price_pence, renewal_of, carer_evidence, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19)",
    )
    .bind(&permit.id)
    .bind(&permit.reference)
    .bind(&permit.account_id)
    .bind(&permit.permit_type)
    .bind(&permit.registration)
    .bind(&permit.address_line1)
    .bind(&permit.address_street)
    .bind(&permit.address_town)
    .bind(&permit.address_postcode)
    .bind(new.address.household_key())
    .bind(&permit.zone_code)
    .bind(&permit.zone_name)
    .bind(&permit.starts_on)
    .bind(&permit.expires_on)
    .bind(&permit.state)
    .bind(permit.price_pence)
    .bind(permit.renewal_of.as_ref())
    .bind(permit.carer_evidence.as_ref())
    .bind(millis(now))
    .execute(&mut *conn)
    .await;
    if let Err(e) = inserted {
        if is_unique_violation(&e) && new.renewal_of.is_some() {
            return Err(Error::Conflict(
                "This permit is already being renewed. Refresh to see the renewal.".into(),
            ));
        }
        return Err(e.into());
    }
    let what = match new.renewal_of {
        Some(_) => "Renewal",
        None => "Permit",
    };
    let mut events = vec![EventRow {
        permit_id: permit.id.clone(),
        at: millis(now),
        kind: "created".into(),
        detail: format!(
            "{what} for {} requested, valid {} to {}.",
            new.registration,
            kerbside_rules::format_uk_date(new.term.starts_on),
            kerbside_rules::format_uk_date(new.term.expires_on)
        ),
    }];
    if free {
        events.push(EventRow {
            permit_id: permit.id.clone(),
            at: millis(now),
            kind: "issued".into(),
            detail: "Issued free of charge.".into(),
        });
    }
    for event in &events {
        add_event(conn, &permit.id, now, &event.kind, &event.detail).await?;
    }
    if free {
        return Ok(Inserted {
            permit,
            events,
            payment: None,
        });
    }
    let payment = PaymentRow {
        id: new_id(),
        permit_id: permit.id.clone(),
        account_id: permit.account_id.clone(),
        amount_pence: price.pence(),
        status: "created".into(),
        page_token: auth::new_token(),
        return_url: new.return_url.map(str::to_string),
        failure_reason: None,
        created_at: millis(now),
        expires_at: millis(now + Duration::minutes(PAYMENT_MINUTES)),
    };
    query(
        "INSERT INTO payments (id, permit_id, account_id, amount_pence, status, page_token, return_url, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&payment.id)
    .bind(&payment.permit_id)
    .bind(&payment.account_id)
    .bind(payment.amount_pence)
    .bind(&payment.status)
    .bind(&payment.page_token)
    .bind(payment.return_url.as_ref())
    .bind(payment.created_at)
    .bind(payment.expires_at)
    .execute(&mut *conn)
    .await?;
    permit.open_payment_id = Some(payment.id.clone());
    permit.open_payment_token = Some(payment.page_token.clone());
    permit.open_payment_expires_at = Some(payment.expires_at);
    Ok(Inserted {
        permit,
        events,
        payment: Some(payment),
    })
}

fn check_return_url(url: Option<&str>) -> Result<Option<&str>> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(u)
            if u.len() <= 500
                && !u.chars().any(|c| c.is_whitespace() || c.is_control())
                && u.split_once("://").is_some_and(|(scheme, _)| {
                    !scheme.is_empty()
                        && !scheme.eq_ignore_ascii_case("javascript")
                        && !scheme.eq_ignore_ascii_case("data")
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
                }) =>
        {
            Ok(Some(u))
        }
        Some(_) => Err(Error::Validation(
            "The return address for the payment page is not a valid link.".into(),
        )),
    }
}

/// A purchase as its buyer is answered, read inside the write transaction that made it (its
/// own writes included), before that commits with the answer
/// ([`WriteTransaction::commit_with_answer`](crate::store::WriteTransaction::commit_with_answer)).
async fn purchase_view_in(
    state: &AppState,
    conn: &mut impl Queries,
    account_id: &str,
    permit_id: &str,
    payment_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Purchase> {
    let permit = permit_view_in(state, conn, account_id, permit_id, now).await?;
    let payment = match payment_id {
        Some(id) => Some(payment_view_in(state, conn, account_id, id, now).await?),
        None => None,
    };
    Ok(Purchase { permit, payment })
}

/// [`permit_view`] inside a write transaction, as [`purchase_view_in`].
async fn permit_view_in(
    state: &AppState,
    conn: &mut impl Queries,
    account_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Permit> {
    let backend = state.store.backend();
    let (mut row, mut events) = permit_and_events_on(backend, conn, account_id, id).await?;
    if row.payment_overdue(now) {
        fail_expired_payments(conn, now).await?;
        (row, events) = permit_and_events_on(backend, conn, account_id, id).await?;
    }
    views::permit(state, &row, &events)
}

/// [`payment_view`] inside a write transaction, as [`purchase_view_in`].
async fn payment_view_in(
    state: &AppState,
    conn: &mut impl Queries,
    account_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Payment> {
    let mut row = payment_of(conn, account_id, id).await?;
    if row.past_its_deadline(now) {
        fail_expired_payments(conn, now).await?;
        row = payment_of(conn, account_id, id).await?;
    }
    Ok(views::payment(state, &row))
}

pub async fn buy(state: &AppState, account: &AccountRow, req: &PermitRequest) -> Result<Purchase> {
    let (now, today) = today(state);
    let p = prepare_purchase(state, account, req, today)?;
    let return_url = check_return_url(req.return_url.as_deref())?;
    let household = p.address.household_key();
    let mut tx = state.store.begin_write().await?;
    lock_household(&mut tx, &household).await?;
    // A permit awaiting a payment whose page has closed does not count: its payment is failed
    // by the next read or sweep, not here, which would cost this turn two more statements.
    let today_text = date_text(today);
    let current: i64 = query_scalar(
        "SELECT COUNT(*) FROM permits p WHERE p.household_key = $1 AND p.permit_type = $2 \
         AND p.state IN ('awaiting_payment', 'active') AND p.starts_on <= $3 AND p.expires_on >= $3 \
         AND (p.state = 'active' OR EXISTS (SELECT 1 FROM payments y WHERE y.permit_id = p.id \
         AND y.status = 'created' AND y.expires_at > $4))",
    )
    .bind(&household)
    .bind(p.terms.permit_type.code())
    .bind(&today_text)
    .bind(millis(now))
    .fetch_one(&mut tx)
    .await?;
    check_household_limit(&p.terms, u32::try_from(current).unwrap_or(u32::MAX))?;
    let inserted = insert_permit(
        &mut tx,
        NewPermit {
            account,
            prepared_type: &p.terms,
            registration: &p.registration,
            address: &p.address,
            zone: &p.zone,
            term: p.term,
            renewal_of: None,
            carer_evidence: p.carer_evidence.as_deref(),
            return_url,
        },
        now,
    )
    .await?;
    let purchase = inserted.purchase(state)?;
    tx.commit_with_answer().await?;
    Ok(purchase)
}

pub async fn change_registration(
    state: &AppState,
    account: &AccountRow,
    permit_id: &str,
    registration: &str,
) -> Result<Permit> {
    let (now, today) = today(state);
    let registration = Registration::parse(registration)?;
    let mut tx = state.store.begin_write().await?;
    lock_household(&mut tx, &account.household_key).await?;
    let row = permit_of(&mut tx, &account.id, permit_id).await?;
    check_action(row.status(today)?, PermitAction::EditRegistration)?;
    let old = Registration::parse(&row.registration)?;
    if old == registration {
        return Err(Error::Validation(format!(
            "This permit is already for {registration}. Enter the new registration number."
        )));
    }
    query("UPDATE permits SET registration = $1, updated_at = $2 WHERE id = $3")
        .bind(registration.as_str())
        .bind(millis(now))
        .bind(&row.id)
        .execute(&mut tx)
        .await?;
    add_event(
        &mut tx,
        &row.id,
        now,
        "registration_changed",
        &format!("Registration changed from {old} to {registration}."),
    )
    .await?;
    let permit = permit_view_in(state, &mut tx, &account.id, permit_id, now).await?;
    tx.commit_with_answer().await?;
    Ok(permit)
}

pub async fn renew(
    state: &AppState,
    account: &AccountRow,
    permit_id: &str,
    req: &RenewalRequest,
) -> Result<Purchase> {
    let (now, today) = today(state);
    let return_url = check_return_url(req.return_url.as_deref())?;
    let mut tx = state.store.begin_write().await?;
    lock_household(&mut tx, &account.household_key).await?;
    fail_expired_payments(&mut tx, now).await?;
    let row = permit_of(&mut tx, &account.id, permit_id).await?;
    let permit_type = row.permit_type()?;
    let status = row.status(today)?;
    if let Some(renewal) = &row.renewed_by {
        return Err(Error::Conflict(format!(
            "This permit has already been renewed (see permit {renewal})."
        )));
    }
    // A renewal already waiting for payment is handed back, not duplicated.
    let pending: Option<(String, String)> = query_as(
        "SELECT p.id, y.id FROM permits p JOIN payments y ON y.permit_id = p.id \
         WHERE p.renewal_of = $1 AND p.state = 'awaiting_payment' AND y.status = 'created'",
    )
    .bind(&row.id)
    .fetch_optional(&mut tx)
    .await?;
    if let Some((pending_permit, pending_payment)) = pending {
        let purchase = purchase_view_in(
            state,
            &mut tx,
            &account.id,
            &pending_permit,
            Some(&pending_payment),
            now,
        )
        .await?;
        tx.commit_with_answer().await?;
        return Ok(purchase);
    }
    check_action(status, PermitAction::Renew)?;
    let terms = state
        .council
        .tariff
        .terms(permit_type)
        .cloned()
        .ok_or_else(|| {
            Error::Conflict(format!(
                "{} no longer offers the {}, so it cannot be renewed.",
                state.council.tariff.council_name,
                permit_type.label()
            ))
        })?;
    let next = check_renewal(&row.term()?, terms.term_months, today)?;
    let registration = Registration::parse(&row.registration)?;
    let address = Address {
        line1: row.address_line1.clone(),
        street: row.address_street.clone(),
        town: row.address_town.clone(),
        postcode: Postcode::parse(&row.address_postcode)?,
    };
    let zone = Zone {
        code: row.zone_code.clone(),
        name: row.zone_name.clone(),
    };
    let inserted = insert_permit(
        &mut tx,
        NewPermit {
            account,
            prepared_type: &terms,
            registration: &registration,
            address: &address,
            zone: &zone,
            term: next,
            renewal_of: Some(&row.id),
            carer_evidence: row.carer_evidence.as_deref(),
            return_url,
        },
        now,
    )
    .await?;
    if inserted.payment.is_none() {
        add_event(&mut tx, &row.id, now, "renewed", &renewed_detail(&next)).await?;
    }
    let purchase = inserted.purchase(state)?;
    tx.commit_with_answer().await?;
    Ok(purchase)
}

fn renewed_detail(next: &Term) -> String {
    format!(
        "Renewed: the next permit runs from {} to {}.",
        kerbside_rules::format_uk_date(next.starts_on),
        kerbside_rules::format_uk_date(next.expires_on)
    )
}

fn refund_for(state: &AppState, row: &PermitRow, today: NaiveDate) -> Result<(Money, String)> {
    let permit_type = row.permit_type()?;
    let policy = state
        .council
        .tariff
        .terms(permit_type)
        .map(|t| t.refund_policy.clone())
        .unwrap_or(kerbside_rules::RefundPolicy::NonRefundable);
    let refund = quote_refund(&policy, Money(row.price_pence), &row.term()?, today);
    Ok((refund, policy.describe()))
}

/// What cancelling the permit would refund today. The session is checked in the read of the
/// permit, as [`permit_view_of_session`]: one read, not two (docs/BENCHMARKS.md, fix 32).
pub async fn refund_quote(
    state: &AppState,
    token_hash: &str,
    permit_id: &str,
) -> Result<RefundQuote> {
    let (now, today) = today(state);
    let row: PermitRow = one_of_session(
        state,
        &PERMIT_OF_SESSION,
        permit_id,
        token_hash,
        now,
        Error::permit_not_found,
    )
    .await?;
    check_action(row.status(today)?, PermitAction::Cancel)?;
    let (refund, terms) = refund_for(state, &row, today)?;
    Ok(RefundQuote {
        permit_id: row.id,
        refund_pence: refund.pence(),
        paid_pence: row.price_pence,
        cancel_on: today,
        refund_terms: terms,
    })
}

pub async fn cancel(
    state: &AppState,
    account: &AccountRow,
    permit_id: &str,
    req: &CancellationRequest,
) -> Result<Cancellation> {
    let (now, today) = today(state);
    let mut tx = state.store.begin_write().await?;
    lock_household(&mut tx, &account.household_key).await?;
    let row = permit_of(&mut tx, &account.id, permit_id).await?;
    check_action(row.status(today)?, PermitAction::Cancel)?;
    let new_state = row.state()?.apply(PermitEvent::Cancel)?;
    let (refund, _) = refund_for(state, &row, today)?;
    if let Some(expected) = req.expected_refund_pence {
        if expected != refund.pence() {
            return Err(Error::Conflict(format!(
                "The refund is now {refund}, not the {} you were shown. Check the new amount and confirm again.",
                Money(expected)
            )));
        }
    }
    query(
        "UPDATE permits SET state = $1, refund_pence = $2, cancelled_on = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(state_code(new_state))
    .bind(refund.pence())
    .bind(date_text(today))
    .bind(millis(now))
    .bind(&row.id)
    .execute(&mut tx)
    .await?;
    withdraw_unpaid_renewal(&mut tx, &row.id, now).await?;
    let paid_with: Option<String> =
        query_scalar("SELECT id FROM payments WHERE permit_id = $1 AND status = 'succeeded'")
            .bind(&row.id)
            .fetch_optional(&mut tx)
            .await?;
    query(
        "INSERT INTO refunds (id, permit_id, payment_id, amount_pence, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(&row.id)
    .bind(paid_with)
    .bind(refund.pence())
    .bind(millis(now))
    .execute(&mut tx)
    .await?;
    add_event(
        &mut tx,
        &row.id,
        now,
        "cancelled",
        &format!(
            "Cancelled on {}. Refund: {refund}.",
            kerbside_rules::format_uk_date(today)
        ),
    )
    .await?;
    let permit = permit_view_in(state, &mut tx, &account.id, permit_id, now).await?;
    tx.commit_with_answer().await?;
    Ok(Cancellation {
        permit,
        refund_pence: refund.pence(),
    })
}

/// A cancelled permit cannot be renewed, so a renewal of it still awaiting payment is
/// withdrawn in the same transaction: its payment fails (nothing was taken) and the renewal is
/// never issued, even if its payment page is still open. A renewal already paid is a permit of
/// its own and is kept; the resident can cancel it separately.
async fn withdraw_unpaid_renewal(
    conn: &mut impl Queries,
    permit_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let unpaid: Vec<String> =
        query_scalar("SELECT id FROM permits WHERE renewal_of = $1 AND state = 'awaiting_payment'")
            .bind(permit_id)
            .fetch_all(&mut *conn)
            .await?;
    let reason = "The permit this renewal was for was cancelled, so the renewal was withdrawn and nothing was taken.";
    for renewal in unpaid {
        query(
            "UPDATE payments SET status = 'failed', completed_at = $1, failure_reason = $2 \
             WHERE permit_id = $3 AND status = 'created'",
        )
        .bind(millis(now))
        .bind(reason)
        .bind(&renewal)
        .execute(&mut *conn)
        .await?;
        let failed = PermitState::AwaitingPayment.apply(PermitEvent::PaymentFailed)?;
        query("UPDATE permits SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(state_code(failed))
            .bind(millis(now))
            .bind(&renewal)
            .execute(&mut *conn)
            .await?;
        add_event(conn, &renewal, now, "payment_failed", reason).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- payments

/// A stored permit type code as the rules know it.
pub fn parse_permit_type(code: &str) -> Result<PermitType> {
    PermitType::from_code(code)
        .ok_or_else(|| Error::Internal(format!("unknown stored permit type {code}")))
}

/// A payment with what its page says it is for: its permit's type and registration.
#[derive(FromRow)]
pub struct PaymentForPage {
    #[sqlx(flatten)]
    pub payment: PaymentRow,
    pub permit_type: String,
    pub registration: String,
}

from_sqlite_row_and_columns!(PaymentForPage {
    payment: PaymentRow,
    permit_type,
    registration,
});

/// The payment the payment page shows, with its permit, in one read (one round trip on
/// PostgreSQL, not two; docs/BENCHMARKS.md, fix 30). The permit is named by its id, looked up
/// first, not only by the join: PostgreSQL, its statistics taken while `payments` was small,
/// planned the bare join as a merge join that walked the permits' key index from its start
/// (2.3 ms a page instead of ~0.1).
pub async fn payment_for_page(state: &AppState, id: &str) -> Result<Option<PaymentForPage>> {
    const PAYMENT_FOR_PAGE: &str = concat!(
        "SELECT ",
        payment_columns!("y."),
        ", p.permit_type, p.registration FROM payments y JOIN permits p ON p.id = y.permit_id \
         WHERE y.id = $1 AND p.id = (SELECT permit_id FROM payments WHERE id = $1)"
    );
    Ok(query_as::<PaymentForPage>(PAYMENT_FOR_PAGE)
        .bind(id)
        .fetch_optional(&mut state.store.reader().await?)
        .await?)
}

pub async fn payment_row(state: &AppState, id: &str) -> Result<Option<PaymentRow>> {
    Ok(
        query_as::<PaymentRow>(&format!("{PAYMENT_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut state.store.reader().await?)
            .await?,
    )
}

/// The payment as its owner sees it; a payment left unpaid past its deadline is failed first.
pub async fn payment_view(state: &AppState, account_id: &str, id: &str) -> Result<Payment> {
    let (now, _) = today(state);
    let mut row = payment_of(&mut state.store.reader().await?, account_id, id).await?;
    if row.past_its_deadline(now) {
        fail_expired_payments_in_turn(state, now).await?;
        row = payment_of(&mut state.store.reader().await?, account_id, id).await?;
    }
    Ok(views::payment(state, &row))
}

/// [`payment_view`] of a payment of the account whose session `token_hash` names, the session
/// checked in the same read, as [`permits_of_session`]: one read, not two (docs/BENCHMARKS.md,
/// fix 32). Someone else's payment is "not found".
pub async fn payment_view_of_session(
    state: &AppState,
    token_hash: &str,
    id: &str,
) -> Result<Payment> {
    const PAYMENT_OF_SESSION: &str = concat!(
        "SELECT ",
        payment_columns!("y."),
        " FROM sessions s JOIN payments y ON y.account_id = s.account_id \
         WHERE y.id = $1 AND s.token_hash = $2 AND s.revoked_at IS NULL AND s.expires_at > $3"
    );
    let now = today(state).0;
    let row: PaymentRow = one_of_session(
        state,
        PAYMENT_OF_SESSION,
        id,
        token_hash,
        now,
        payment_not_found,
    )
    .await?;
    if row.past_its_deadline(now) {
        return payment_view(state, &row.account_id, id).await;
    }
    Ok(views::payment(state, &row))
}

fn payment_not_found() -> Error {
    Error::NotFound("No payment with that reference was found on your account.".into())
}

/// One of the account's payments; someone else's is "not found", as for permits.
async fn payment_of(conn: &mut impl Queries, account_id: &str, id: &str) -> Result<PaymentRow> {
    static PAYMENT_OF_ACCOUNT: LazyLock<String> =
        LazyLock::new(|| format!("{PAYMENT_SELECT} WHERE id = $1 AND account_id = $2"));
    query_as::<PaymentRow>(&PAYMENT_OF_ACCOUNT)
        .bind(id)
        .bind(account_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(payment_not_found)
}

/// What the sandbox card network said.
pub enum CardOutcome {
    Approved { last4: String },
    Declined { reason: String },
}

/// [`complete_read_payment`] by the payment's id, for the tests.
#[cfg(test)]
pub async fn complete_payment(
    state: &AppState,
    payment_id: &str,
    outcome: CardOutcome,
) -> Result<PaymentRow> {
    let payment = payment_row(state, payment_id)
        .await?
        .ok_or_else(|| Error::NotFound("That payment was not found.".into()))?;
    complete_read_payment(state, &payment, outcome).await
}

/// Records the outcome of the hosted page; the permit becomes active in the same transaction
/// as the payment succeeds. A second submission of a finished payment changes nothing.
///
/// The payment is the one the payment page read to check its token: its permit and owner
/// never change, and whether it can still be paid is decided by the update, in the
/// transaction. The owner's household is locked by the owner's id and the answer is the
/// updated row: three statements fewer than reading the payment, its owner and the payment
/// again (docs/BENCHMARKS.md, fix 30).
pub async fn complete_read_payment(
    state: &AppState,
    payment: &PaymentRow,
    outcome: CardOutcome,
) -> Result<PaymentRow> {
    let (now, _) = today(state);
    let mut tx = state.store.begin_write().await?;
    lock_household_of(&mut tx, &payment.account_id).await?;
    let (status, reason, last4) = match &outcome {
        CardOutcome::Approved { last4 } => ("succeeded", None, Some(last4.as_str())),
        CardOutcome::Declined { reason } => ("failed", Some(reason.as_str()), None),
    };
    const COMPLETE: &str = concat!(
        "UPDATE payments SET status = $1, failure_reason = $2, card_last4 = $3, \
         completed_at = $4 WHERE id = $5 AND status = 'created' AND expires_at > $4 RETURNING ",
        payment_columns!("")
    );
    let updated = query_as::<PaymentRow>(COMPLETE)
        .bind(status)
        .bind(reason)
        .bind(last4)
        .bind(millis(now))
        .bind(&payment.id)
        .fetch_optional(&mut tx)
        .await?;
    let Some(updated) = updated else {
        // Finished already, or its page has closed: then it fails now, with its permit (and any
        // other overdue payment), rather than on the next read. Only then: two statements
        // fewer in the common case's turn.
        fail_expired_payments(&mut tx, now).await?;
        tx.commit().await?;
        return payment_row(state, &payment.id)
            .await?
            .ok_or_else(|| Error::Internal("payment vanished".into()));
    };
    let row = permit_of(&mut tx, &payment.account_id, &payment.permit_id).await?;
    let event = match outcome {
        CardOutcome::Approved { .. } => PermitEvent::PaymentSucceeded,
        CardOutcome::Declined { .. } => PermitEvent::PaymentFailed,
    };
    let new_state = row.state()?.apply(event)?;
    query("UPDATE permits SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state_code(new_state))
        .bind(millis(now))
        .bind(&row.id)
        .execute(&mut tx)
        .await?;
    let amount = Money(payment.amount_pence);
    match (&outcome, &row.renewal_of) {
        (CardOutcome::Approved { last4 }, renewal_of) => {
            add_event(
                &mut tx,
                &row.id,
                now,
                "paid",
                &format!("Paid {amount} by card ending {last4}."),
            )
            .await?;
            if let Some(original) = renewal_of {
                add_event(
                    &mut tx,
                    original,
                    now,
                    "renewed",
                    &renewed_detail(&row.term()?),
                )
                .await?;
            }
        }
        (CardOutcome::Declined { reason }, _) => {
            add_event(&mut tx, &row.id, now, "payment_failed", reason).await?;
        }
    }
    tx.commit().await?;
    Ok(updated)
}

pub fn history(events: &[EventRow], permit_id: &str) -> Vec<PermitHistoryEntry> {
    events
        .iter()
        .filter(|e| e.permit_id == permit_id)
        .map(|e| PermitHistoryEntry {
            at: from_millis(e.at),
            kind: e.kind.clone(),
            detail: e.detail.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kerbside_api::types::{PermitRequest, PostalAddress, RegisterRequest, SignInRequest};
    use kerbside_api::{CouncilClient, FixedClock};
    use std::sync::Arc;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    /// The demo council on a new SQLite file in `dir`, its clock at 2027-03-01 09:00 UTC.
    async fn council_on_sqlite(dir: &tempfile::TempDir) -> (crate::RunningServer, Arc<FixedClock>) {
        let store = crate::Store::connect(&format!(
            "sqlite://{}",
            dir.path().join("council.db").display()
        ))
        .await
        .unwrap();
        let clock = Arc::new(FixedClock::new(at("2027-03-01T09:00:00Z")));
        let server = crate::spawn(
            "127.0.0.1:0".parse().unwrap(),
            store,
            clock.clone(),
            crate::CouncilConfig::leicester_demo(),
            None,
        )
        .await
        .unwrap();
        (server, clock)
    }

    /// The card form checks the deadline when it loads the page, but a card can be completed
    /// a moment after the deadline passes (checked, then completed): nothing may be taken
    /// then. Called directly, since over HTTP the page's own check comes first.
    #[tokio::test]
    async fn a_card_completed_after_the_payment_page_closed_takes_nothing_and_issues_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (server, clock) = council_on_sqlite(&dir).await;
        let client = CouncilClient::new(&server.url).unwrap();
        let register = RegisterRequest {
            email: "late@example.org".into(),
            password: "a long enough password".into(),
            name: "Late Payer".into(),
            address: PostalAddress {
                line1: "12".into(),
                street: "Hazel Street".into(),
                town: "Leicester".into(),
                postcode: "LE2 7JN".into(),
            },
            date_of_birth: None,
            reminder_email: None,
        };
        client.register(&register, "register").await.unwrap();
        let token = client
            .sign_in(&SignInRequest {
                email: register.email.clone(),
                password: register.password.clone(),
            })
            .await
            .unwrap()
            .token;
        let request = PermitRequest {
            permit_type: kerbside_rules::PermitType::AnnualVisitor,
            registration: "AB12CDE".into(),
            carer_evidence: None,
            return_url: None,
        };
        let purchase = client.buy(&token, &request, "buy").await.unwrap();
        let payment_id = purchase.payment.unwrap().id;

        clock.set(at("2027-03-01T10:31:00Z"));
        let approved = CardOutcome::Approved {
            last4: "4242".into(),
        };
        let payment = complete_payment(&server.state, &payment_id, approved)
            .await
            .unwrap();
        assert_eq!(payment.status, "failed");
        let permit = client.permit(&token, &purchase.permit.id).await.unwrap();
        assert_eq!(permit.status, kerbside_rules::PermitStatus::PaymentFailed);
    }

    /// On a SQLite file reads go through connections of their own (`store::SqliteReads`), on
    /// PostgreSQL through sqlx's pool (with other statements for a permit's history); both
    /// must read the same rows. The permits here
    /// fill every column the two read by name: a renewal (renewal_of, renewed_by), a cancelled
    /// permit (refund), and, in a second household, one still awaiting its payment (the open
    /// payment's three columns).
    #[tokio::test]
    async fn the_reading_connections_and_the_pool_read_the_same_sessions_and_permits() {
        let dir = tempfile::tempdir().unwrap();
        let (server, clock) = council_on_sqlite(&dir).await;
        assert!(
            server.state.store.sqlite_reads().is_some(),
            "a SQLite file has readers"
        );
        let state = &server.state;
        let client = CouncilClient::new(&server.url).unwrap();
        let password = "a long enough password";
        let sign_in = |email: &str| {
            let request = SignInRequest {
                email: email.into(),
                password: password.into(),
            };
            let client = client.clone();
            async move { client.sign_in(&request).await.unwrap().token }
        };
        for (email, line1) in [("both@example.org", "14"), ("unpaid@example.org", "16")] {
            let register = RegisterRequest {
                email: email.into(),
                password: password.into(),
                name: "Both Ways".into(),
                address: PostalAddress {
                    line1: line1.into(),
                    street: "Hazel Street".into(),
                    town: "Leicester".into(),
                    postcode: "LE2 7JN".into(),
                },
                date_of_birth: Some(NaiveDate::from_ymd_opt(1950, 1, 1).unwrap()),
                reminder_email: Some(email.into()),
            };
            client.register(&register, email).await.unwrap();
        }
        let approved = || CardOutcome::Approved {
            last4: "4242".into(),
        };
        let request = |permit_type, registration: &str| PermitRequest {
            permit_type,
            registration: registration.into(),
            carer_evidence: None,
            return_url: None,
        };

        let token = sign_in("both@example.org").await;
        let visitor = request(PermitType::AnnualVisitor, "AB12CDE");
        let first = client.buy(&token, &visitor, "buy-1").await.unwrap();
        complete_payment(state, &first.payment.unwrap().id, approved())
            .await
            .unwrap();
        let pension_age = request(PermitType::OverStatePensionAge, "CD34EFG");
        let second = client.buy(&token, &pension_age, "buy-2").await.unwrap();
        let no_refund_expected = kerbside_api::types::CancellationRequest {
            expected_refund_pence: None,
        };
        client
            .cancel(&token, &second.permit.id, &no_refund_expected, "cancel-2")
            .await
            .unwrap();
        clock.set(at("2028-02-15T09:00:00Z"));
        // A session lasts less than the year to the renewal window: sign in again.
        let token = sign_in("both@example.org").await;
        let renew = kerbside_api::types::RenewalRequest { return_url: None };
        let renewal = client
            .renew(&token, &first.permit.id, &renew, "renew-1")
            .await
            .unwrap();
        complete_payment(state, &renewal.payment.unwrap().id, approved())
            .await
            .unwrap();
        let unpaid_token = sign_in("unpaid@example.org").await;
        let unpaid = client.buy(&unpaid_token, &visitor, "buy-3").await.unwrap();

        let pool_only = AppState {
            store: state.store.without_sqlite_reads(),
            ..state.clone()
        };
        assert!(pool_only.store.sqlite_reads().is_none());
        let mut permits = Vec::new();
        for token in [&token, &unpaid_token] {
            let hash = auth::token_hash(token);
            let account = account_for_token(state, &hash).await.unwrap();
            assert_eq!(
                format!("{account:?}"),
                format!("{:?}", account_for_token(&pool_only, &hash).await.unwrap())
            );
            let by_readers = permits_for(state, &account.id).await.unwrap();
            let by_pool = permits_for(&pool_only, &account.id).await.unwrap();
            assert_eq!(
                each_permits_history(&by_readers),
                each_permits_history(&by_pool)
            );
            // The same, read by the session's token with the session checked in the read.
            for state in [state, &pool_only] {
                let by_session = permits_of_session(state, &hash).await.unwrap();
                assert_eq!(
                    each_permits_history(&by_session),
                    each_permits_history(&by_readers)
                );
            }
            for permit in &by_readers.0 {
                let one_by_readers = permit_and_events(state, &account.id, &permit.id).await;
                let one_by_pool = permit_and_events(&pool_only, &account.id, &permit.id).await;
                assert_eq!(format!("{one_by_readers:?}"), format!("{one_by_pool:?}"));
                let view = permit_view(state, &account.id, &permit.id).await.unwrap();
                for state in [state, &pool_only] {
                    let by_session = permit_view_of_session(state, &hash, &permit.id).await;
                    assert_eq!(
                        format!("{by_session:?}"),
                        format!("{:?}", Ok::<_, ()>(&view))
                    );
                }
                assert!(
                    !one_by_readers.unwrap().1.is_empty(),
                    "a permit has history"
                );
            }
            assert!(account.date_of_birth.is_some() && account.reminder_email.is_some());
            permits.extend(by_readers.0);
        }

        // Every column was read with a value somewhere, not only as NULL.
        assert_eq!(permits.len(), 4);
        assert!(permits.iter().any(|p| p.renewed_by.is_some()));
        assert!(permits.iter().any(|p| p.renewal_of.is_some()));
        assert!(permits.iter().any(|p| p.refund_pence.is_some()));
        let open = permits.iter().find(|p| p.id == unpaid.permit.id).unwrap();
        assert!(open.open_payment_id.is_some() && open.open_payment_token.is_some());
        assert!(open.open_payment_expires_at.is_some());
        // Someone else's permit is "not found" both ways.
        for state in [state, &pool_only] {
            assert!(matches!(
                permit_and_events(state, "someone-else", &first.permit.id).await,
                Err(Error::NotFound(_))
            ));
        }
    }

    /// The permits and each one's history, oldest first: the reading connections list the
    /// account's history by time, the pool's one statement permit by permit (a stable sort by
    /// permit keeps each permit's order, which is what a permit's view shows).
    fn each_permits_history(read: &(Vec<PermitRow>, Vec<EventRow>)) -> String {
        let mut events = read.1.clone();
        events.sort_by(|a, b| a.permit_id.cmp(&b.permit_id));
        format!("{:?} {events:?}", read.0)
    }

    /// A read by session token checks the session in the read that fetches the permits, so
    /// it must still tell apart, on both paths (SQLite's reading connections, and the pool as
    /// on PostgreSQL): a token with no session, a signed-out session, an expired one, a
    /// resident with no permits (an empty list, not 401), and someone else's permit (404).
    #[tokio::test]
    async fn a_read_by_session_tells_an_ended_session_from_no_permits_and_from_someone_elses() {
        let dir = tempfile::tempdir().unwrap();
        let (server, clock) = council_on_sqlite(&dir).await;
        let state = &server.state;
        let pool_only = AppState {
            store: state.store.without_sqlite_reads(),
            ..state.clone()
        };
        let client = CouncilClient::new(&server.url).unwrap();
        let mut tokens = Vec::new();
        for (email, line1) in [("owner@example.org", "14"), ("other@example.org", "16")] {
            let register = RegisterRequest {
                email: email.into(),
                password: "a long enough password".into(),
                name: "Session Reader".into(),
                address: PostalAddress {
                    line1: line1.into(),
                    street: "Hazel Street".into(),
                    town: "Leicester".into(),
                    postcode: "LE2 7JN".into(),
                },
                date_of_birth: None,
                reminder_email: None,
            };
            client.register(&register, email).await.unwrap();
            let request = SignInRequest {
                email: email.into(),
                password: "a long enough password".into(),
            };
            tokens.push(client.sign_in(&request).await.unwrap().token);
        }
        let (owner, other) = (&tokens[0], &tokens[1]);
        let request = PermitRequest {
            permit_type: PermitType::AnnualVisitor,
            registration: "AB12CDE".into(),
            carer_evidence: None,
            return_url: None,
        };
        let bought = client.buy(owner, &request, "buy-1").await.unwrap();
        let signed_out = {
            let request = SignInRequest {
                email: "owner@example.org".into(),
                password: "a long enough password".into(),
            };
            let token = client.sign_in(&request).await.unwrap().token;
            sign_out(state, &auth::token_hash(&token)).await.unwrap();
            token
        };
        let unauthorised = |result: Result<String>| match result {
            Err(Error::Unauthorised(message)) => message,
            other => panic!("expected 401, got {other:?}"),
        };

        for state in [state, &pool_only] {
            let list = |token: &str| {
                let hash = auth::token_hash(token);
                async move {
                    permits_of_session(state, &hash)
                        .await
                        .map(|(permits, _)| format!("{} permits", permits.len()))
                }
            };
            let one = |token: &str| {
                let hash = auth::token_hash(token);
                let id = bought.permit.id.clone();
                async move {
                    permit_view_of_session(state, &hash, &id)
                        .await
                        .map(|p| p.reference)
                }
            };
            let payment = |token: &str| {
                let hash = auth::token_hash(token);
                let id = bought.payment.as_ref().unwrap().id.clone();
                async move {
                    payment_view_of_session(state, &hash, &id)
                        .await
                        .map(|p| p.id)
                }
            };
            let refund = |token: &str| {
                let hash = auth::token_hash(token);
                let id = bought.permit.id.clone();
                async move { refund_quote(state, &hash, &id).await.map(|q| q.permit_id) }
            };
            assert_eq!(list(owner).await.unwrap(), "1 permits");
            assert_eq!(one(owner).await.unwrap(), bought.permit.reference);
            assert_eq!(
                payment(owner).await.unwrap(),
                bought.payment.as_ref().unwrap().id
            );
            // The permit is waiting for its payment: not cancellable, so a rule's refusal.
            assert!(matches!(
                refund(owner).await,
                Err(Error::Conflict(_) | Error::Validation(_))
            ));
            assert_eq!(list(other).await.unwrap(), "0 permits");
            for read in [one(other).await, payment(other).await, refund(other).await] {
                assert!(matches!(read, Err(Error::NotFound(_))), "{read:?}");
            }
            for token in ["no such token", signed_out.as_str()] {
                let reads = [
                    list(token).await,
                    one(token).await,
                    payment(token).await,
                    refund(token).await,
                ];
                let expected = if token == signed_out {
                    "signed out of this session"
                } else {
                    "not signed in"
                };
                for read in reads {
                    let reason = unauthorised(read);
                    assert!(reason.contains(expected), "{token}: {reason}");
                }
            }
        }
        clock.set(at("2027-03-31T09:00:01Z"));
        for state in [state, &pool_only] {
            for token in [owner, other] {
                let hash = auth::token_hash(token);
                let read = permits_of_session(state, &hash)
                    .await
                    .map(|_| String::new());
                assert!(unauthorised(read).contains("expired"));
                let read = permit_view_of_session(state, &hash, &bought.permit.id)
                    .await
                    .map(|_| String::new());
                assert!(unauthorised(read).contains("expired"));
                let payment_id = &bought.payment.as_ref().unwrap().id;
                let read = payment_view_of_session(state, &hash, payment_id)
                    .await
                    .map(|_| String::new());
                assert!(unauthorised(read).contains("expired"));
                let read = refund_quote(state, &hash, &bought.permit.id)
                    .await
                    .map(|_| String::new());
                assert!(unauthorised(read).contains("expired"));
            }
        }
    }

    /// Each permit read finds each row it joins with one index search, with no scan, on
    /// SQLite, which keeps no statistics to choose by: the open payment by
    /// `payments_by_permit_status`, not by stepping through every open payment in the
    /// council (the plan before migration 20261212000001, docs/BENCHMARKS.md fix 27).
    #[tokio::test]
    async fn every_permit_read_searches_an_index_for_each_table_it_joins() {
        let dir = tempfile::tempdir().unwrap();
        let (server, _clock) = council_on_sqlite(&dir).await;
        let conn = rusqlite::Connection::open(server.state.store.sqlite_file().unwrap()).unwrap();
        for sql in [
            PERMITS_OF_ACCOUNT.as_str(),
            PERMIT_OF_ACCOUNT.as_str(),
            PERMITS_OF_SESSION.as_str(),
            PERMIT_OF_SESSION.as_str(),
            PERMITS_OF_ACCOUNT_WITH_HISTORY.of(Backend::Sqlite),
            PERMIT_OF_ACCOUNT_WITH_HISTORY.of(Backend::Sqlite),
            PERMITS_OF_SESSION_WITH_HISTORY.of(Backend::Sqlite),
            PERMIT_OF_SESSION_WITH_HISTORY.of(Backend::Sqlite),
        ] {
            let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            // Unbound placeholders read as NULL: the plan does not depend on them.
            let mut rows = plan.raw_query();
            let mut steps = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                steps.push(row.get::<_, String>(3).unwrap());
            }
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SEARCH y USING INDEX payments_by_permit_status")),
                "{sql}: {steps:#?}"
            );
            assert!(
                steps.iter().all(|s| !s.starts_with("SCAN")),
                "{sql}: {steps:#?}"
            );
            if sql.contains("AS history") {
                assert!(
                    steps
                        .iter()
                        .any(|s| s.starts_with("SEARCH e USING INDEX permit_events_by_permit")),
                    "{sql}: {steps:#?}"
                );
            }
        }
    }
}
