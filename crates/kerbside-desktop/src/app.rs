//! [`Kerbside`]: everything the desktop app does, behind async methods the Tauri commands call.

use crate::cache::{Cache, CachedAccount};
use crate::error::{Error, Result};
use crate::secrets::SecretStore;
use crate::views::{
    card, AppSnapshot, AppStart, DataSummary, PermitCard, PermitFilter, PermitsView,
};
use chrono::{DateTime, NaiveDate, Utc};
use kerbside_api::types::*;
use kerbside_api::{ClientError, CouncilClient, ErrorKind, SharedClock};
use kerbside_council::{seed, CouncilConfig, RunningServer, Store};
use kerbside_rules::{
    check_renewal, format_uk_date, uk_local_date, PermitStatus, Registration, Term,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tokio::sync::{Mutex, RwLock};

const EMBEDDED_COUNCIL_KEY: &str = "embedded-demo-council";
const FILTER_SETTING: &str = "permit_filter";
const COUNCIL_URL_SETTING: &str = "council_url";
/// Twelve months unless the council says otherwise (used before its tariff has been fetched).
const DEFAULT_TERM_MONTHS: u32 = 12;
/// The council refuses evidence files above 10 MB; checked here too so nothing huge is sent.
pub const EVIDENCE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// How the app starts.
#[derive(Clone, Debug)]
pub struct StartOptions {
    /// The app data folder: the cache and the embedded council's database live here.
    pub data_dir: PathBuf,
    pub clock: SharedClock,
    /// True when `clock` was set for a demo or test (it is then shared with the embedded council).
    pub clock_is_set: bool,
    /// A council URL given at start-up (`KERBSIDE_COUNCIL_URL`); beats the saved setting.
    pub council_url: Option<String>,
    /// The keyring service name.
    pub keyring_service: String,
}

struct CouncilLink {
    client: CouncilClient,
    /// The keyring account the session token is stored under (one per council).
    secret_key: String,
    embedded: Option<EmbeddedCouncil>,
    info: Option<CouncilInfo>,
}

/// The embedded demo council. Its port is bound at once, so its URL is known and early requests
/// wait in the listen backlog, while its database, migrations and demo seed (argon2 hashes)
/// are prepared on a task: the window and the cached permits do not wait for them.
struct EmbeddedCouncil {
    starting: tokio::task::JoinHandle<Result<RunningServer>>,
}

impl EmbeddedCouncil {
    async fn stop(self) {
        match self.starting.await {
            Ok(Ok(server)) => server.stop().await,
            Ok(Err(error)) => tracing::error!(%error, "the embedded demo council did not start"),
            Err(error) => {
                tracing::error!(%error, "the embedded demo council's start-up task failed")
            }
        }
    }
}

/// A renewal reminder to raise as a native notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalNotice {
    pub permit_id: String,
    pub title: String,
    pub body: String,
}

/// Raises native notifications (tauri-plugin-notification in the app). It gets the whole
/// notice so a click on the notification can open the app at that permit.
pub trait Notifier: Send + Sync {
    fn notify(&self, notice: &RenewalNotice) -> std::result::Result<(), String>;
}

pub struct Kerbside {
    options: StartOptions,
    cache: Cache,
    secrets: Arc<dyn SecretStore>,
    link: RwLock<CouncilLink>,
    /// 0 = not tried yet, 1 = reached, 2 = unreachable.
    online: AtomicU8,
    /// One reminder run at a time (start-up, after each sync, hourly).
    reminders: Mutex<()>,
    /// The keyring read that [`Kerbside::start`] begins for the session key, taken by the
    /// first read of that key (normally the window's first [`Kerbside::start_view`]): the
    /// Secret Service answers over D-Bus while the window loads, not after the UI asks
    /// (docs/BENCHMARKS.md, fix 8).
    session_read_at_start: std::sync::Mutex<Option<SessionRead>>,
}

/// A keyring read of `key` under way.
struct SessionRead {
    key: String,
    read: tokio::task::JoinHandle<Result<Option<String>>>,
}

impl std::fmt::Debug for Kerbside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kerbside")
            .field("data_dir", &self.options.data_dir)
            .finish_non_exhaustive()
    }
}

fn check_council_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "http://".len()
        && !url.contains(char::is_whitespace);
    if ok {
        Ok(url.to_string())
    } else {
        Err(Error::Validation(
            "Enter the council's permit service address, starting with https:// (for example https://permits.example.gov.uk).".into(),
        ))
    }
}

async fn start_embedded_council(options: &StartOptions) -> Result<CouncilLink> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    let url = format!("http://{addr}");
    let options = options.clone();
    let starting = tokio::spawn(async move {
        let started = prepare_embedded_council(listener, &options).await;
        if let Err(error) = &started {
            tracing::error!(%error, "the embedded demo council did not start");
        }
        started
    });
    Ok(CouncilLink {
        client: CouncilClient::new(url)?,
        secret_key: format!("session:{EMBEDDED_COUNCIL_KEY}"),
        embedded: Some(EmbeddedCouncil { starting }),
        info: None,
    })
}

async fn prepare_embedded_council(
    listener: tokio::net::TcpListener,
    options: &StartOptions,
) -> Result<RunningServer> {
    let path = options.data_dir.join("demo-council.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    // The demo council keeps its evidence files and its emails (as .eml files in an outbox,
    // since a demo has no mail server) in the app data folder.
    let mut config = CouncilConfig::leicester_demo();
    config.evidence_dir = Some(options.data_dir.join("demo-council-evidence"));
    config.mail.outbox = Some(options.data_dir.join("outbox"));
    config.reminder_every = Some(std::time::Duration::from_secs(60 * 60));
    let addr = listener
        .local_addr()
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    let state = kerbside_council::prepare(addr, store, options.clock.clone(), config, None)
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    // Seeded before it serves, so the first request already finds the demo resident.
    seed::seed_demo(&state)
        .await
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    let server = kerbside_council::serve(listener, state)
        .map_err(|e| Error::EmbeddedCouncil(e.to_string()))?;
    tracing::info!(url = %server.url, "embedded demo council started");
    Ok(server)
}

fn remote_link(url: &str) -> Result<CouncilLink> {
    Ok(CouncilLink {
        client: CouncilClient::new(url)?,
        secret_key: format!("session:{url}"),
        embedded: None,
        info: None,
    })
}

impl Kerbside {
    /// Opens the cache and connects to the council: the URL given at start-up, else the one
    /// saved in Settings, else the embedded demo council started in-process.
    pub async fn start(options: StartOptions, secrets: Arc<dyn SecretStore>) -> Result<Kerbside> {
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|e| Error::EmbeddedCouncil(format!("cannot create the data folder: {e}")))?;
        let cache = Cache::open(&options.data_dir.join("kerbside-cache.db")).await?;
        let url = match &options.council_url {
            Some(url) => Some(check_council_url(url)?),
            None => cache.setting(COUNCIL_URL_SETTING).await?,
        };
        let link = match url {
            Some(url) => remote_link(&url)?,
            None => start_embedded_council(&options).await?,
        };
        let session_read = SessionRead {
            key: link.secret_key.clone(),
            read: tokio::task::spawn_blocking({
                let secrets = secrets.clone();
                let key = link.secret_key.clone();
                move || secrets.get(&key)
            }),
        };
        Ok(Kerbside {
            options,
            cache,
            secrets,
            link: RwLock::new(link),
            online: AtomicU8::new(0),
            reminders: Mutex::new(()),
            session_read_at_start: std::sync::Mutex::new(Some(session_read)),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.options.clock.now()
    }

    pub fn today(&self) -> NaiveDate {
        uk_local_date(self.now())
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Stops the embedded council, if any (at app exit).
    pub async fn shutdown(&self) {
        if let Some(server) = self.link.write().await.embedded.take() {
            server.stop().await;
        }
    }

    /// The council's base URL (the embedded council's random port, or the configured URL).
    pub async fn council_url(&self) -> String {
        self.link.read().await.client.base_url().to_string()
    }

    /// Whether the last council call reached it (`None` before the first).
    pub fn online(&self) -> Option<bool> {
        match self.online.load(Ordering::Relaxed) {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        }
    }

    async fn client(&self) -> (CouncilClient, String) {
        let link = self.link.read().await;
        (link.client.clone(), link.secret_key.clone())
    }

    fn note_reachability<T>(&self, result: &std::result::Result<T, ClientError>) {
        let state = match result {
            Err(ClientError::Offline) => 2,
            _ => 1,
        };
        self.online.store(state, Ordering::Relaxed);
    }

    async fn secret_get(&self, key: String) -> Result<Option<String>> {
        // The read begun at start-up answers the first question about the same key; any
        // later one reads the keyring again (the token may have changed since).
        if let Some(started) = self.take_session_read_at_start() {
            if started.key == key {
                return started
                    .read
                    .await
                    .map_err(|e| Error::Keyring(e.to_string()))?;
            }
        }
        let secrets = self.secrets.clone();
        tokio::task::spawn_blocking(move || secrets.get(&key))
            .await
            .map_err(|e| Error::Keyring(e.to_string()))?
    }

    /// The start-up keyring read, if nothing has used or outdated it yet.
    fn take_session_read_at_start(&self) -> Option<SessionRead> {
        self.session_read_at_start
            .lock()
            .map(|mut slot| slot.take())
            .unwrap_or_default()
    }

    async fn secret_set(&self, key: String, value: String) -> Result<()> {
        // A read begun before this write must not answer for the keyring after it.
        drop(self.take_session_read_at_start());
        let secrets = self.secrets.clone();
        tokio::task::spawn_blocking(move || secrets.set(&key, &value))
            .await
            .map_err(|e| Error::Keyring(e.to_string()))?
    }

    async fn secret_delete(&self, key: String) -> Result<()> {
        drop(self.take_session_read_at_start());
        let secrets = self.secrets.clone();
        tokio::task::spawn_blocking(move || secrets.delete(&key))
            .await
            .map_err(|e| Error::Keyring(e.to_string()))?
    }

    /// Calls the council with the stored session. A session the council no longer accepts is
    /// removed from the keyring; the cache stays so the resident keeps their place.
    async fn with_session<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: FnOnce(CouncilClient, String) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, ClientError>>,
    {
        let (client, key) = self.client().await;
        let token = self
            .secret_get(key.clone())
            .await?
            .ok_or(Error::NotSignedIn)?;
        let result = call(client, token).await;
        self.note_reachability(&result);
        match result {
            Err(e) if e.kind() == ErrorKind::Unauthorised => {
                self.secret_delete(key).await?;
                Err(e.into())
            }
            other => Ok(other?),
        }
    }

    async fn account_id(&self) -> Result<String> {
        Ok(self
            .cache
            .account()
            .await?
            .ok_or(Error::NotSignedIn)?
            .account_id)
    }

    async fn term_months(&self, permit: &Permit) -> u32 {
        let link = self.link.read().await;
        link.info
            .as_ref()
            .and_then(|i| {
                i.permit_types
                    .iter()
                    .find(|t| t.permit_type == permit.permit_type)
            })
            .map(|t| t.term_months)
            .unwrap_or(DEFAULT_TERM_MONTHS)
    }

    async fn card(&self, permit: Permit) -> PermitCard {
        let months = self.term_months(&permit).await;
        let now = self.now();
        card(permit, uk_local_date(now), now, months)
    }

    // ----- the frame -------------------------------------------------------------------

    /// What the window needs to draw its first screen, in one call: the frame, and the
    /// cached permits when someone is signed in (so the permits screen is drawn at once,
    /// without a second round trip or a "loading" frame).
    pub async fn start_view(&self) -> Result<AppStart> {
        // The account and the filter are read once for both halves.
        let account = self.cache.account().await?;
        let filter = self.permit_filter().await?;
        let snapshot = self.snapshot_of(account.clone(), filter).await?;
        let permits = match (&account, &snapshot.signed_in_email) {
            (Some(account), Some(_)) => Some(self.permits_view(account, filter).await?),
            _ => None,
        };
        Ok(AppStart { snapshot, permits })
    }

    pub async fn snapshot(&self) -> Result<AppSnapshot> {
        let account = self.cache.account().await?;
        let filter = self.permit_filter().await?;
        self.snapshot_of(account, filter).await
    }

    async fn snapshot_of(
        &self,
        account: Option<CachedAccount>,
        permit_filter: PermitFilter,
    ) -> Result<AppSnapshot> {
        let (client, key) = self.client().await;
        let embedded = self.link.read().await.embedded.is_some();
        let signed_in = self.secret_get(key).await?.is_some();
        Ok(AppSnapshot {
            council_url: client.base_url().to_string(),
            embedded_council: embedded,
            signed_in_email: account
                .as_ref()
                .filter(|_| signed_in)
                .map(|a| a.email.clone()),
            online: self.online(),
            last_synced_at: account.and_then(|a| a.last_synced_at),
            today: self.today(),
            clock_is_set: self.options.clock_is_set,
            now: self.now(),
            permit_filter,
            demo_email: embedded.then(|| seed::DEMO_EMAIL.to_string()),
            demo_password: embedded.then(|| seed::DEMO_PASSWORD.to_string()),
        })
    }

    /// The council's permit types, prices and rules (fetched once per connection).
    pub async fn council_info(&self) -> Result<CouncilInfo> {
        if let Some(info) = self.link.read().await.info.clone() {
            return Ok(info);
        }
        let (client, _) = self.client().await;
        let result = client.council().await;
        self.note_reachability(&result);
        let info = result?;
        self.link.write().await.info = Some(info.clone());
        Ok(info)
    }

    // ----- account -----------------------------------------------------------------------

    pub async fn register(&self, request: RegisterRequest) -> Result<Profile> {
        let (client, _) = self.client().await;
        let result = client
            .register(&request, &CouncilClient::new_idempotency_key())
            .await;
        self.note_reachability(&result);
        result?;
        self.sign_in(SignInRequest {
            email: request.email,
            password: request.password,
        })
        .await
    }

    /// Signs in: the token goes to the keyring and nowhere else.
    pub async fn sign_in(&self, request: SignInRequest) -> Result<Profile> {
        let (client, key) = self.client().await;
        let result = client.sign_in(&request).await;
        self.note_reachability(&result);
        let session = result?;
        self.secret_set(key, session.token).await?;
        self.cache
            .set_account(&session.profile.id, &session.profile.email)
            .await?;
        Ok(session.profile)
    }

    /// Revokes the session at the council, deletes the keyring entry and wipes the cached
    /// permits. Offline, the local part still happens (the council's session then expires on
    /// its own) and the message says so.
    pub async fn sign_out(&self) -> Result<Option<String>> {
        let (client, key) = self.client().await;
        let mut note = None;
        if let Some(token) = self.secret_get(key.clone()).await? {
            let result = client.sign_out(&token).await;
            self.note_reachability(&result);
            match result {
                Ok(()) => {}
                Err(ClientError::Offline) => {
                    note = Some("You are signed out on this computer. The council could not be reached, so its copy of the session ends by itself within 30 days.".to_string());
                }
                Err(e) if e.kind() == ErrorKind::Unauthorised => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.secret_delete(key).await?;
        self.cache.forget_account().await?;
        Ok(note)
    }

    pub async fn profile(&self) -> Result<Profile> {
        self.with_session(|c, t| async move { c.profile(&t).await })
            .await
    }

    pub async fn update_profile(&self, update: ProfileUpdate) -> Result<Profile> {
        let key = CouncilClient::new_idempotency_key();
        self.with_session(|c, t| async move { c.update_profile(&t, &update, &key).await })
            .await
    }

    /// Changes the password at the council. There every session of the account ends, this
    /// computer's included; the new session the council answers with replaces the old token in
    /// the keyring, so this computer stays signed in. If the answer is lost (offline mid-way),
    /// the old token no longer works and the resident signs in with the new password.
    pub async fn change_password(&self, change: PasswordChange) -> Result<Profile> {
        let (_, key) = self.client().await;
        let session = self
            .with_session(|c, t| async move { c.change_password(&t, &change).await })
            .await?;
        self.secret_set(key, session.token).await?;
        Ok(session.profile)
    }

    // ----- permits -----------------------------------------------------------------------

    /// The cached permits at once (no network), filtered by the carer's switch.
    pub async fn cached_permits(&self) -> Result<PermitsView> {
        let account = self.cache.account().await?.ok_or(Error::NotSignedIn)?;
        let filter = self.permit_filter().await?;
        self.permits_view(&account, filter).await
    }

    async fn permits_view(
        &self,
        account: &CachedAccount,
        filter: PermitFilter,
    ) -> Result<PermitsView> {
        let mut cards = Vec::new();
        let mut hidden = 0;
        for permit in self.cache.permits(&account.account_id).await? {
            if filter.admits(permit.permit_type) {
                cards.push(self.card(permit).await);
            } else {
                hidden += 1;
            }
        }
        Ok(PermitsView {
            permits: cards,
            hidden_by_filter: hidden,
            filter,
            last_synced_at: account.last_synced_at,
            today: self.today(),
        })
    }

    /// Fetches the permits from the council and replaces the cache in one transaction.
    pub async fn sync(&self) -> Result<PermitsView> {
        let account_id = self.account_id().await?;
        // The tariff gives each type's term; fetch it on the first sync of a connection.
        if self.link.read().await.info.is_none() {
            self.council_info().await?;
        }
        let list = self
            .with_session(|c, t| async move { c.permits(&t).await })
            .await?;
        self.cache
            .replace_permits(&account_id, &list.permits, self.now())
            .await?;
        self.cached_permits().await
    }

    /// One permit from the cache (the detail view), refreshed from the council when reachable.
    pub async fn permit(&self, id: &str) -> Result<PermitCard> {
        let account_id = self.account_id().await?;
        let fresh = self
            .with_session(|c, t| async move { c.permit(&t, id).await })
            .await;
        match fresh {
            Ok(permit) => {
                self.cache
                    .upsert_permit(&account_id, &permit, self.now())
                    .await?;
                Ok(self.card(permit).await)
            }
            Err(Error::Council(ClientError::Offline)) => {
                let cached = self.cache.permits(&account_id).await?;
                let permit = cached
                    .into_iter()
                    .find(|p| p.id == id)
                    .ok_or_else(|| Error::Council(ClientError::Offline))?;
                Ok(self.card(permit).await)
            }
            Err(e) => Err(e),
        }
    }

    /// Checks a registration as it is typed: the canonical form, or the reason it is refused.
    pub fn check_registration(&self, typed: &str) -> Result<String> {
        Ok(Registration::parse(typed)?.canonical())
    }

    pub async fn quote(&self, request: PermitRequest) -> Result<PermitQuote> {
        Registration::parse(&request.registration)?;
        self.with_session(|c, t| async move { c.quote(&t, &request).await })
            .await
    }

    async fn remember(&self, permit: &Permit) -> Result<()> {
        let account_id = self.account_id().await?;
        self.cache
            .upsert_permit(&account_id, permit, self.now())
            .await
    }

    /// Starts a purchase. A paid type comes back awaiting payment with the hosted page's URL;
    /// it is never shown as live until the council confirms the payment.
    pub async fn buy(&self, request: PermitRequest) -> Result<Purchase> {
        Registration::parse(&request.registration)?;
        let key = CouncilClient::new_idempotency_key();
        let purchase = self
            .with_session(|c, t| async move { c.buy(&t, &request, &key).await })
            .await?;
        self.remember(&purchase.permit).await?;
        Ok(purchase)
    }

    /// The payment's state at the council; once it has succeeded or failed, the permit is
    /// fetched again so the card shows what the council now holds.
    pub async fn payment(&self, payment_id: &str) -> Result<Payment> {
        let payment = self
            .with_session(|c, t| async move { c.payment(&t, payment_id).await })
            .await?;
        if payment.status != PaymentStatus::Created {
            let permit_id = payment.permit_id.clone();
            let permit = self
                .with_session(|c, t| async move { c.permit(&t, &permit_id).await })
                .await?;
            self.remember(&permit).await?;
        }
        Ok(payment)
    }

    /// Continues paying for a permit awaiting payment, e.g. one whose purchase or renewal
    /// answer was lost (the app never saw its payment page): the council's open payment for it,
    /// as a [`Purchase`] for the same pay-and-poll flow as Buy. Refused with the reason when
    /// nothing can be paid any more (paid, failed, past its deadline).
    pub async fn continue_payment(&self, permit_id: &str) -> Result<Purchase> {
        let permit = self
            .with_session(|c, t| async move { c.permit(&t, permit_id).await })
            .await?;
        self.remember(&permit).await?;
        let Some(link) = permit.open_payment.clone() else {
            return Err(Error::Validation(nothing_to_pay(&permit)));
        };
        let payment = self
            .with_session(|c, t| async move { c.payment(&t, &link.payment_id).await })
            .await?;
        if payment.status != PaymentStatus::Created {
            // Paid or failed since the permit was read: show what the council holds now.
            let permit = self
                .with_session(|c, t| async move { c.permit(&t, permit_id).await })
                .await?;
            self.remember(&permit).await?;
            return Err(Error::Validation(nothing_to_pay(&permit)));
        }
        Ok(Purchase {
            permit,
            payment: Some(payment),
        })
    }

    pub async fn edit_registration(
        &self,
        permit_id: &str,
        registration: &str,
    ) -> Result<PermitCard> {
        let canonical = Registration::parse(registration)?.canonical();
        let key = CouncilClient::new_idempotency_key();
        let change = RegistrationChange {
            registration: canonical,
        };
        let permit = self
            .with_session(|c, t| async move {
                c.change_registration(&t, permit_id, &change, &key).await
            })
            .await?;
        self.remember(&permit).await?;
        Ok(self.card(permit).await)
    }

    /// Renews a live permit inside its window. Outside it, the rules' own message ("Renewal
    /// opens on 4 March 2027.") is returned without asking the council.
    pub async fn renew(&self, permit_id: &str) -> Result<Purchase> {
        let account_id = self.account_id().await?;
        if let Some(cached) = self
            .cache
            .permits(&account_id)
            .await?
            .into_iter()
            .find(|p| p.id == permit_id)
        {
            let months = self.term_months(&cached).await;
            let term = Term {
                starts_on: cached.starts_on,
                expires_on: cached.expires_on,
            };
            if cached.renewed_by.is_none() {
                check_renewal(&term, months, self.today())
                    .map_err(|e| Error::Validation(e.to_string()))?;
            }
        }
        let key = CouncilClient::new_idempotency_key();
        let purchase = self
            .with_session(|c, t| async move {
                c.renew(&t, permit_id, &RenewalRequest { return_url: None }, &key)
                    .await
            })
            .await?;
        self.remember(&purchase.permit).await?;
        Ok(purchase)
    }

    pub async fn refund_quote(&self, permit_id: &str) -> Result<RefundQuote> {
        self.with_session(|c, t| async move { c.refund_quote(&t, permit_id).await })
            .await
    }

    /// Cancels with the refund the resident was shown; if the council's figure has changed,
    /// nothing is cancelled and the new quote is reported.
    pub async fn cancel(
        &self,
        permit_id: &str,
        expected_refund_pence: i64,
    ) -> Result<Cancellation> {
        let key = CouncilClient::new_idempotency_key();
        let request = CancellationRequest {
            expected_refund_pence: Some(expected_refund_pence),
        };
        let cancellation = self
            .with_session(|c, t| async move { c.cancel(&t, permit_id, &request, &key).await })
            .await?;
        self.remember(&cancellation.permit).await?;
        Ok(cancellation)
    }

    // ----- change of address -------------------------------------------------------------

    /// The resident's address changes, newest first. Kept in the cache so their status can
    /// be shown offline.
    pub async fn address_changes(&self) -> Result<AddressChangeList> {
        let account_id = self.account_id().await?;
        let key = format!("address_changes:{account_id}");
        match self
            .with_session(|c, t| async move { c.address_changes(&t).await })
            .await
        {
            Ok(list) => {
                self.cache
                    .set_setting(&key, Some(&serde_json::to_string(&list)?))
                    .await?;
                Ok(list)
            }
            Err(Error::Council(ClientError::Offline)) => match self.cache.setting(&key).await? {
                Some(json) => Ok(serde_json::from_str(&json)?),
                None => Err(Error::Council(ClientError::Offline)),
            },
            Err(e) => Err(e),
        }
    }

    /// Starts a change of address: the new address and which document will prove it.
    pub async fn start_address_change(
        &self,
        request: AddressChangeRequest,
    ) -> Result<AddressChange> {
        let key = CouncilClient::new_idempotency_key();
        self.with_session(|c, t| async move { c.create_address_change(&t, &request, &key).await })
            .await
    }

    /// Adds one page of evidence. The council recognises the file by its content; here only
    /// the size is checked first, so a 2 GB file is refused before it is sent.
    pub async fn upload_evidence(
        &self,
        change_id: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<AddressChange> {
        if bytes.len() > EVIDENCE_MAX_BYTES {
            return Err(Error::Validation(
                "This file is larger than 10 MB. Scan or photograph the document at a lower resolution, or save it as a smaller PDF.".into(),
            ));
        }
        if bytes.is_empty() {
            return Err(Error::Validation(
                "This file is empty. Choose the scan or photo of your document.".into(),
            ));
        }
        let content_type = content_type.to_string();
        self.with_session(|c, t| async move {
            c.upload_evidence(&t, change_id, bytes, &content_type).await
        })
        .await
    }

    pub async fn submit_address_change(&self, change_id: &str) -> Result<AddressChange> {
        let key = CouncilClient::new_idempotency_key();
        self.with_session(|c, t| async move { c.submit_address_change(&t, change_id, &key).await })
            .await
    }

    // ----- preferences -------------------------------------------------------------------

    pub async fn permit_filter(&self) -> Result<PermitFilter> {
        Ok(self
            .cache
            .setting(FILTER_SETTING)
            .await?
            .map(|c| PermitFilter::from_code(&c))
            .unwrap_or_default())
    }

    pub async fn set_permit_filter(&self, filter: PermitFilter) -> Result<PermitsView> {
        self.cache
            .set_setting(FILTER_SETTING, Some(filter.code()))
            .await?;
        self.cached_permits().await
    }

    /// Switches council: a URL (checked by fetching its details first) or `None` for the
    /// built-in demo council. The current session belongs to the old council, so it is
    /// signed out first.
    pub async fn set_council_url(&self, url: Option<String>) -> Result<AppSnapshot> {
        let new_link = match url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => {
                let url = check_council_url(url)?;
                let link = remote_link(&url)?;
                let reached = link.client.council().await;
                self.note_reachability(&reached);
                reached.map_err(|e| match e {
                    ClientError::Offline => Error::Validation(format!(
                        "No council permit service answered at {url}. Check the address."
                    )),
                    other => other.into(),
                })?;
                self.cache
                    .set_setting(COUNCIL_URL_SETTING, Some(&url))
                    .await?;
                link
            }
            None => {
                self.cache.set_setting(COUNCIL_URL_SETTING, None).await?;
                if self.link.read().await.embedded.is_some() {
                    return self.snapshot().await;
                }
                start_embedded_council(&self.options).await?
            }
        };
        self.sign_out().await.ok();
        let old = std::mem::replace(&mut *self.link.write().await, new_link);
        if let Some(server) = old.embedded {
            server.stop().await;
        }
        self.online.store(0, Ordering::Relaxed);
        self.snapshot().await
    }

    // ----- your data ---------------------------------------------------------------------

    pub async fn data_summary(&self) -> Result<DataSummary> {
        let account = self.cache.account().await?;
        let (client, key) = self.client().await;
        Ok(DataSummary {
            data_folder: self.options.data_dir.display().to_string(),
            cache_file: self.cache.path().display().to_string(),
            cached_permits: self.cache.cached_permit_count().await? as u32,
            last_synced_at: account.and_then(|a| a.last_synced_at),
            keyring_service: self.options.keyring_service.clone(),
            signed_in: self.secret_get(key).await?.is_some(),
            council_url: client.base_url().to_string(),
            embedded_council: self.link.read().await.embedded.is_some(),
        })
    }

    /// Wipes this computer's copy (cache, settings, reminder record) and the keyring entry.
    /// The council's records are untouched.
    pub async fn wipe_local_data(&self) -> Result<DataSummary> {
        let (_, key) = self.client().await;
        self.secret_delete(key).await?;
        self.cache.wipe_everything().await?;
        self.data_summary().await
    }

    // ----- renewal reminders -------------------------------------------------------------

    /// The cached permits whose renewal window is open today and that have not yet had their
    /// notification; each is claimed in SQLite before it is returned, so it is raised once per
    /// permit per term, across restarts and overlapping runs.
    pub async fn claim_renewal_notices(&self) -> Result<Vec<RenewalNotice>> {
        let _one_at_a_time = self.reminders.lock().await;
        let Some(account) = self.cache.account().await? else {
            return Ok(vec![]);
        };
        let mut notices = Vec::new();
        for permit in self.cache.permits(&account.account_id).await? {
            let c = self.card(permit).await;
            if !(c.renewal_open && c.status == PermitStatus::Active) {
                continue;
            }
            let p = &c.permit;
            if self
                .cache
                .claim_renewal_notice(&p.id, p.expires_on, self.now())
                .await?
            {
                notices.push(RenewalNotice {
                    permit_id: p.id.clone(),
                    title: format!("You can renew your permit for {}", p.registration),
                    body: format!(
                        "Your {} for {} expires on {}. Open Kerbside to renew it.",
                        p.permit_type_label,
                        p.registration,
                        format_uk_date(p.expires_on)
                    ),
                });
            }
        }
        Ok(notices)
    }

    /// Claims the due notices and raises each through `notifier`. Returns how many were raised.
    pub async fn run_renewal_reminders(&self, notifier: &dyn Notifier) -> Result<usize> {
        let notices = self.claim_renewal_notices().await?;
        for notice in &notices {
            if let Err(error) = notifier.notify(notice) {
                tracing::warn!(%error, permit = %notice.permit_id, "could not raise a notification");
            }
        }
        Ok(notices.len())
    }
}

/// Why a permit has no payment to continue, for the resident.
fn nothing_to_pay(permit: &Permit) -> String {
    match permit.status {
        PermitStatus::AwaitingPayment | PermitStatus::PaymentFailed => "The time to pay for this permit has run out, so nothing was taken and it was not issued. Buy it again to get a new payment page.".to_string(),
        _ => format!(
            "This permit is {}: there is nothing to pay.",
            permit.status.label().to_lowercase()
        ),
    }
}
