//! Expiry emails: one per permit per term, sent when its renewal window opens.
//!
//! [`send_expiry_reminders`] finds the active permits whose window is open (30 days before the
//! last day, up to the last day), not yet renewed, whose account has a reminder address. Each
//! one is claimed first with `INSERT … ON CONFLICT DO NOTHING` into `reminder_emails`; only the
//! instance whose insert took effect sends, so restarts and several instances sharing one
//! PostgreSQL database never send twice. A failed delivery deletes its claim, so a later run
//! tries again.
//!
//! Delivery is SMTP (lettre, rustls) when configured, otherwise an RFC 5322 `.eml` file per
//! email in an outbox folder.

use crate::error::Result;
use crate::sql::{from_sqlite_columns, query, query_as};
use crate::store::{date_text, millis};
use crate::AppState;
use chrono::{Duration, NaiveDate};
use futures_util::StreamExt;
use kerbside_rules::{
    format_uk_date, renewal_opens_on, uk_local_date, PermitType, Registration, RENEWAL_WINDOW_DAYS,
};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
#[cfg(feature = "smtp")]
use lettre::transport::smtp::authentication::Credentials;
#[cfg(feature = "smtp")]
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::Message;
#[cfg(feature = "smtp")]
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::FromRow;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same machine or a test sink.
    None,
    /// Plain connection upgraded with STARTTLS (required, not opportunistic). Usually port 587.
    StartTls,
    /// TLS from the first byte ("implicit TLS"). Usually port 465.
    Tls,
}

impl FromStr for SmtpTls {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(SmtpTls::None),
            "starttls" => Ok(SmtpTls::StartTls),
            "tls" => Ok(SmtpTls::Tls),
            other => Err(format!(
                "'{other}' is not an SMTP security setting: use none, starttls or tls"
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Where the council's emails go.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The From address, e.g. `Leicester permits <permits@leicester.example>`.
    pub from: String,
    /// Without SMTP, each email is written here as an `.eml` file. Default: beside the database.
    pub outbox: Option<PathBuf>,
    /// Send through this SMTP server instead of the outbox.
    pub smtp: Option<SmtpConfig>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Kerbside permits <permits@kerbside.example>".into(),
            outbox: None,
            smtp: None,
        }
    }
}

enum Delivery {
    Outbox(PathBuf),
    #[cfg(feature = "smtp")]
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        server: String,
    },
}

/// Sends (or files) the council's emails.
pub struct Mailer {
    from: Mailbox,
    delivery: Delivery,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("delivery", &self.describe())
            .finish()
    }
}

impl Mailer {
    /// `default_outbox` is used when neither SMTP nor an outbox is configured.
    pub fn new(config: &MailConfig, default_outbox: PathBuf) -> std::result::Result<Self, String> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("the From address '{}' is not valid: {e}", config.from))?;
        let delivery = match &config.smtp {
            #[cfg(not(feature = "smtp"))]
            Some(_) => return Err(
                "this build of the council cannot send SMTP (cargo feature `smtp`); leave SMTP \
                     unset to file emails in the outbox"
                    .into(),
            ),
            #[cfg(feature = "smtp")]
            Some(smtp) => {
                let builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str());
                let tls = match smtp.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::StartTls => Tls::Required(
                        TlsParameters::new(smtp.host.clone())
                            .map_err(|e| format!("SMTP TLS set-up failed: {e}"))?,
                    ),
                    SmtpTls::Tls => Tls::Wrapper(
                        TlsParameters::new(smtp.host.clone())
                            .map_err(|e| format!("SMTP TLS set-up failed: {e}"))?,
                    ),
                };
                let mut builder = builder
                    .port(smtp.port)
                    .tls(tls)
                    .timeout(Some(std::time::Duration::from_secs(30)));
                if let Some(user) = &smtp.user {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        smtp.password.clone().unwrap_or_default(),
                    ));
                }
                Delivery::Smtp {
                    transport: builder.build(),
                    server: format!("{}:{}", smtp.host, smtp.port),
                }
            }
            None => {
                let dir = config.outbox.clone().unwrap_or(default_outbox);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| format!("cannot create the outbox {}: {e}", dir.display()))?;
                Delivery::Outbox(dir)
            }
        };
        Ok(Self { from, delivery })
    }

    pub fn describe(&self) -> String {
        match &self.delivery {
            Delivery::Outbox(dir) => format!("outbox {}", dir.display()),
            #[cfg(feature = "smtp")]
            Delivery::Smtp { server, .. } => format!("SMTP {server}"),
        }
    }

    /// The outbox folder, when emails are filed rather than sent.
    pub fn outbox(&self) -> Option<&Path> {
        match &self.delivery {
            Delivery::Outbox(dir) => Some(dir),
            #[cfg(feature = "smtp")]
            Delivery::Smtp { .. } => None,
        }
    }

    /// Sends `message`; in outbox mode writes it as `<file_stem>.eml` (temp file, then rename).
    async fn deliver(&self, message: Message, file_stem: &str) -> std::result::Result<(), String> {
        match &self.delivery {
            #[cfg(feature = "smtp")]
            Delivery::Smtp { transport, .. } => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            Delivery::Outbox(dir) => {
                let bytes = message.formatted();
                let dir = dir.clone();
                let stem = file_stem.to_string();
                tokio::task::spawn_blocking(move || write_eml(&dir, &stem, &bytes))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("outbox: {e}"))
            }
        }
    }
}

fn write_eml(dir: &Path, stem: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let temp = dir.join(format!(".{stem}.{}.tmp", crate::store::new_id()));
    let done = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, dir.join(format!("{stem}.eml")))
    })();
    if done.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    done
}

#[derive(FromRow, Debug)]
struct DueReminder {
    id: String,
    reference: String,
    permit_type: String,
    registration: String,
    zone_code: String,
    zone_name: String,
    expires_on: String,
    name: String,
    reminder_email: String,
}

from_sqlite_columns!(DueReminder {
    id,
    reference,
    permit_type,
    registration,
    zone_code,
    zone_name,
    expires_on,
    name,
    reminder_email,
});

/// The job's query (one statement; `permits_by_state_expiry` serves the range on `state,
/// expires_on`). `$1` is today, `$2` the last expiry date whose window has opened.
pub const DUE_REMINDERS_SQL: &str = "SELECT p.id, p.reference, p.permit_type, p.registration, \
    p.zone_code, p.zone_name, p.expires_on, a.name, a.reminder_email \
    FROM permits p JOIN accounts a ON a.id = p.account_id \
    WHERE p.state = 'active' AND p.expires_on >= $1 AND p.expires_on <= $2 \
    AND a.reminder_email IS NOT NULL \
    AND NOT EXISTS (SELECT 1 FROM permits r WHERE r.renewal_of = p.id AND r.state = 'active') \
    AND NOT EXISTS (SELECT 1 FROM reminder_emails m WHERE m.permit_id = p.id AND m.expires_on = p.expires_on) \
    ORDER BY p.expires_on, p.id";

/// Claims committed together (see [`send_expiry_reminders`]).
const CLAIM_CHUNK: usize = 100;
/// Emails delivered at once (outbox files written and fsynced, or SMTP sessions).
const DELIVERIES_AT_ONCE: usize = 16;

/// What one run of the job did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReminderRun {
    /// Permits found due and not yet claimed when the run started.
    pub due: usize,
    /// Emails this instance sent (or filed).
    pub sent: usize,
    /// Due permits another instance claimed first.
    pub claimed_elsewhere: usize,
    /// Deliveries that failed; their claims were released for the next run.
    pub failed: usize,
}

/// Sends every expiry email that is due by the council's clock. Safe to run on several
/// instances at once and as often as wanted.
pub async fn send_expiry_reminders(state: &AppState) -> Result<ReminderRun> {
    let now = state.clock.now();
    let today = uk_local_date(now);
    // renewal_opens_on(expires_on) <= today  <=>  expires_on <= today + RENEWAL_WINDOW_DAYS.
    let last_due = today + Duration::days(RENEWAL_WINDOW_DAYS);
    let due = query_as::<DueReminder>(DUE_REMINDERS_SQL)
        .bind(date_text(today))
        .bind(date_text(last_due))
        .fetch_all(&mut state.store.reader().await?)
        .await?;
    let mut run = ReminderRun {
        due: due.len(),
        ..ReminderRun::default()
    };
    let due: Vec<(DueReminder, NaiveDate)> = due
        .into_iter()
        .map(|permit| {
            let expires_on = crate::store::parse_date(&permit.expires_on)?;
            Ok((permit, expires_on))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|(_, expires_on)| renewal_opens_on(*expires_on) <= today && *expires_on >= today)
        .collect();
    // Claims are committed a chunk at a time (one durable commit per chunk instead of one per
    // email) and the chunk's emails are then delivered concurrently: at 1,000,000 permits a
    // day's ~2,500 emails took 4.8 s one by one, each waiting for its own fsyncs. A crash
    // between a chunk's commit and its deliveries can lose at most that chunk's emails, never
    // send one twice.
    let mut due = due.into_iter().peekable();
    while due.peek().is_some() {
        let chunk: Vec<(DueReminder, NaiveDate)> = due.by_ref().take(CLAIM_CHUNK).collect();
        let mut claimed = Vec::with_capacity(chunk.len());
        let mut tx = state.store.begin_write().await?;
        for (permit, expires_on) in chunk {
            let inserted = query(
                "INSERT INTO reminder_emails (permit_id, expires_on, sent_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (permit_id, expires_on) DO NOTHING",
            )
            .bind(&permit.id)
            .bind(&permit.expires_on)
            .bind(millis(now))
            .execute(&mut tx)
            .await?;
            if inserted == 1 {
                claimed.push((permit, expires_on));
            } else {
                run.claimed_elsewhere += 1;
            }
        }
        tx.commit().await?;
        let outcomes: Vec<(DueReminder, std::result::Result<(), String>)> =
            futures_util::stream::iter(claimed)
                .map(|(permit, expires_on)| deliver_reminder(state, permit, expires_on))
                .buffer_unordered(DELIVERIES_AT_ONCE)
                .collect()
                .await;
        for (permit, delivered) in outcomes {
            match delivered {
                Ok(()) => {
                    run.sent += 1;
                    tracing::info!(permit = %permit.reference, "expiry email sent");
                }
                Err(error) => {
                    run.failed += 1;
                    tracing::warn!(permit = %permit.reference, %error, "expiry email not sent; will retry");
                    let statement = query(
                        "DELETE FROM reminder_emails WHERE permit_id = $1 AND expires_on = $2",
                    )
                    .bind(&permit.id)
                    .bind(&permit.expires_on);
                    state.store.execute_write(statement).await?;
                }
            }
        }
    }
    Ok(run)
}

/// Builds and delivers one permit's email.
async fn deliver_reminder(
    state: &AppState,
    permit: DueReminder,
    expires_on: NaiveDate,
) -> (DueReminder, std::result::Result<(), String>) {
    let delivered = match reminder_message(state, &permit, expires_on) {
        Ok(message) => {
            let stem = format!("expiry-{}-{}", permit.reference, permit.expires_on);
            state.mailer.deliver(message, &stem).await
        }
        Err(e) => Err(e),
    };
    (permit, delivered)
}

fn reminder_message(
    state: &AppState,
    permit: &DueReminder,
    expires_on: NaiveDate,
) -> std::result::Result<Message, String> {
    let to = Mailbox::new(
        Some(permit.name.clone()),
        permit
            .reminder_email
            .parse()
            .map_err(|e| format!("reminder address not usable: {e}"))?,
    );
    let label = PermitType::from_code(&permit.permit_type)
        .map(|t| t.label().to_string())
        .unwrap_or_else(|| permit.permit_type.clone());
    let registration = Registration::parse(&permit.registration)
        .map(|r| r.canonical())
        .unwrap_or_else(|_| permit.registration.clone());
    let council = &state.council.tariff.council_name;
    let expiry = format_uk_date(expires_on);
    let next_starts = format_uk_date(expires_on + Duration::days(1));
    let paragraphs = [
        format!("Dear {},", permit.name),
        format!("Your {label} for {registration} expires on {expiry}."),
        format!(
            "Permit:         {label}\nRegistration:   {registration}\nReference:      {}\n\
             Zone:           {} ({})\nLast valid day: {expiry}",
            permit.reference, permit.zone_code, permit.zone_name
        ),
        format!(
            "How to renew:\nOpen Kerbside and choose Renew on the permit. You can renew until \
             {expiry}; the renewed permit starts on {next_starts}, so there is no gap."
        ),
        format!(
            "If you no longer need the permit, you need not do anything: it simply ends \
             after {expiry}."
        ),
        council.to_string(),
    ];
    // Short lines keep the message plain 7-bit text, readable as it is stored.
    let body = paragraphs
        .iter()
        .map(|p| wrap(p, 72))
        .collect::<Vec<_>>()
        .join("\n\n")
        + "\n";
    Message::builder()
        .from(state.mailer.from.clone())
        .to(to)
        .subject(format!(
            "Your {label} for {registration} expires on {expiry}"
        ))
        .date(std::time::SystemTime::from(state.clock.now()))
        .message_id(None)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("email could not be built: {e}"))
}

/// Wraps each line of `text` at `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut length = 0;
        for (j, word) in line.split(' ').enumerate() {
            let chars = word.chars().count();
            if j > 0 && length + 1 + chars > width {
                out.push('\n');
                length = 0;
            } else if j > 0 {
                out.push(' ');
                length += 1;
            }
            out.push_str(word);
            length += chars;
        }
    }
    out
}

/// Runs the job now and then every `every`, logging what it did; never returns.
pub async fn reminder_loop(state: AppState, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match send_expiry_reminders(&state).await {
            Ok(run) if run.sent + run.failed > 0 => {
                tracing::info!(sent = run.sent, failed = run.failed, "expiry emails")
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the expiry email job failed; it will run again"),
        }
    }
}
