//! The end-to-end harness: a real council server on 127.0.0.1 (fresh SQLite, a set clock), the
//! real app binary in a real window (the Xvfb display of scripts/with-desktop-session.sh),
//! driven through tauri-driver + WebKitWebDriver with fantoccini. Each scenario gets a clean
//! app data folder and its own keyring entry (the council's URL is part of the entry's name and
//! its port is new each time); everything started is stopped on drop, also when a test fails.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use kerbside_api::{CouncilClient, FixedClock};
use kerbside_council::{spawn, CouncilConfig, RunningServer, Store};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "a long enough password";

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Scenarios run one at a time: they share the session bus (notifications are counted on it)
/// and two WebKit windows at once would only slow each other on two cores.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}
const WAIT: Duration = Duration::from_secs(20);

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether the driver said it could not listen on the port it was given.
fn port_taken(log: &Path) -> bool {
    std::fs::read_to_string(log).is_ok_and(|l| l.contains("Unable to listen for HTTP server"))
}

fn tauri_driver() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = Path::new(&home).join(".cargo/bin/tauri-driver");
    if cargo_bin.exists() {
        return cargo_bin;
    }
    PathBuf::from("tauri-driver")
}

pub struct Council {
    pub server: Option<RunningServer>,
    pub clock: Arc<FixedClock>,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Council {
    pub async fn start(now: &str) -> Council {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(at(now)));
        let server = start_server(dir.path(), clock.clone(), 0).await;
        Council {
            url: server.url.clone(),
            server: Some(server),
            clock,
            dir,
        }
    }

    pub fn client(&self) -> CouncilClient {
        CouncilClient::new(self.url.clone()).unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let server = self.server.as_ref().expect("council running");
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(server.state.store.pool())
            .await
            .unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    pub async fn restart(&mut self) {
        self.stop().await;
        let port = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.server = Some(start_server(self.dir.path(), self.clock.clone(), port).await);
    }
}

async fn start_server(dir: &Path, clock: Arc<FixedClock>, port: u16) -> RunningServer {
    let store = Store::connect(&format!("sqlite://{}", dir.join("council.db").display()))
        .await
        .unwrap();
    let server = spawn(
        ([127, 0, 0, 1], port).into(),
        store,
        clock,
        CouncilConfig::leicester_demo(),
        None,
    )
    .await
    .unwrap();
    kerbside_council::seed::seed_demo(&server.state)
        .await
        .unwrap();
    server
}

/// The app, running in its window, with a WebDriver session on it.
pub struct App {
    pub driver: Client,
    tauri_driver: Child,
    pub data_home: PathBuf,
    screens: PathBuf,
    shot: u32,
    name: String,
    /// Every axe violation seen on this app's screens; `quit` fails the test if there are any.
    axe_violations: Vec<String>,
}

/// Every screen's axe result in this test process, written to axe-results.txt after each check.
/// Serialises writes of axe-results.txt between the tests of one binary.
static AXE_RESULTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
window.axe
  .run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    resultTypes: ['violations'],
  })
  .then((r) => done(r.violations.flatMap((v) => v.nodes.map((n) =>
    v.id + ': ' + n.target.join(' ') + ' ' + (n.html || '').replace(/\s+/g, ' ').slice(0, 160) +
    ' (' + (n.failureSummary || v.help).replace(/\s+/g, ' ') + ')'))))
  .catch((e) => done(['axe-error: ' + e]));
"#;

fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. Install it with `npm --prefix ui install` (axe-core is a devDependency of ui/)",
            path.display()
        )
    })
}

pub struct AppDirs {
    pub root: tempfile::TempDir,
}

impl AppDirs {
    pub fn new() -> AppDirs {
        AppDirs {
            root: tempfile::tempdir().unwrap(),
        }
    }
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data/uk.kerbside.app")
    }

    /// The app's stderr (its log, `KERBSIDE_LOG`), with tauri-driver's and WebKitWebDriver's,
    /// which pass it through.
    pub fn app_log(&self) -> PathBuf {
        self.root.path().join("app-stderr.log")
    }

    fn log_sink(&self) -> Stdio {
        std::fs::File::create(self.app_log())
            .map(Stdio::from)
            .unwrap_or_else(|_| Stdio::null())
    }
}

impl App {
    /// Starts the app against `council_url` with its clock set to `now`.
    pub async fn launch(name: &str, dirs: &AppDirs, council_url: &str, now: &str) -> App {
        Self::launch_with_env(name, dirs, council_url, now, &[]).await
    }

    /// As [`App::launch`], with extra environment for the app (e.g. a dark GTK theme).
    pub async fn launch_with_env(
        name: &str,
        dirs: &AppDirs,
        council_url: &str,
        now: &str,
        env: &[(&str, &str)],
    ) -> App {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "the end-to-end suite needs a display and a session bus: run it through scripts/test.sh \
             (scripts/with-desktop-session.sh)"
        );
        // A port `free_port` found free can be taken by a test running beside this one before
        // the driver listens on it; the driver then fails at once, and the app is launched
        // again on other ports.
        let root = dirs.root.path();
        let mut attempt = 0;
        let (driver, tauri_driver) = 'launch: loop {
            attempt += 1;
            let port = free_port();
            let native_port = free_port();
            let mut tauri_driver = Command::new(tauri_driver())
                .args([
                    "--port",
                    &port.to_string(),
                    "--native-port",
                    &native_port.to_string(),
                ])
                // A home of its own too: login items (start at login) are written under $HOME.
                .env("HOME", root.join("home"))
                .env("XDG_DATA_HOME", root.join("data"))
                .env("XDG_CONFIG_HOME", root.join("config"))
                .env("XDG_CACHE_HOME", root.join("cache"))
                .env("KERBSIDE_COUNCIL_URL", council_url)
                .env("KERBSIDE_CLOCK", now)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(dirs.log_sink())
                .spawn()
                .expect("tauri-driver runs (scripts/setup.sh installs it)");
            let mut caps = serde_json::Map::new();
            caps.insert(
                "tauri:options".into(),
                serde_json::json!({ "application": env!("CARGO_BIN_EXE_kerbside") }),
            );
            caps.insert("browserName".into(), "wry".into());
            let deadline = Instant::now() + WAIT;
            let driver = loop {
                match ClientBuilder::native()
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
                {
                    Ok(client) => break client,
                    Err(_) if attempt < 3 && port_taken(&dirs.app_log()) => {
                        let _ = tauri_driver.kill();
                        let _ = tauri_driver.wait();
                        continue 'launch;
                    }
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => {
                        let _ = tauri_driver.kill();
                        // What tauri-driver, WebKitWebDriver and the app said is the only clue.
                        let log = std::fs::read_to_string(dirs.app_log()).unwrap_or_default();
                        let from = log.char_indices().rev().nth(4000).map_or(0, |(i, _)| i);
                        let tail = &log[from..];
                        panic!(
                            "could not start a WebDriver session on the app within {WAIT:?}: {e}\n\
                             --- the end of its log ---\n{tail}"
                        );
                    }
                }
            };
            break (driver, tauri_driver);
        };
        let screens = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e-screenshots");
        std::fs::create_dir_all(&screens).unwrap();
        App {
            driver,
            tauri_driver,
            data_home: root.join("data"),
            screens,
            shot: 0,
            name: name.into(),
            axe_violations: Vec::new(),
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        match self
            .driver
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let body = self.body_text().await;
                panic!(
                    "{}: no element {css} ({e}). The screen said:\n{body}",
                    self.name
                )
            }
        }
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.driver.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn body_text(&self) -> String {
        match self.driver.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the page text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.body_text().await;
            if text.contains(needle) {
                return text;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: waited for \u{201c}{needle}\u{201d}; the screen said:\n{text}",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Clicks `css`, looking again if a redraw (e.g. the council's fresher copy of a cached
    /// screen) replaced the element between finding and clicking it.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(e) if is_stale(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("{}: could not click {css}: {e}", self.name),
            }
        }
    }

    /// The text of `css`, once it is on screen (again after a redraw).
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.find(css).await.text().await {
                Ok(t) => return t,
                Err(e) if is_stale(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("{}: could not read {css}: {e}", self.name),
            }
        }
    }

    /// An attribute of `css` (again after a redraw).
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.find(css).await.attr(name).await {
                Ok(t) => return t,
                Err(e) if is_stale(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("{}: could not read {css}[{name}]: {e}", self.name),
            }
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// Saves a PNG of the current screen under target/e2e-screenshots/.
    pub async fn screenshot(&mut self, what: &str) {
        self.shot += 1;
        if let Ok(png) = self.driver.screenshot().await {
            let path = self
                .screens
                .join(format!("{}-{:02}-{what}.png", self.name, self.shot));
            std::fs::write(path, png).unwrap();
        }
    }

    /// Runs axe-core (WCAG 2.0/2.1/2.2 A and AA rules) on the current page and returns each
    /// violation as "rule: element …". The source is injected with WebDriver execute, which runs
    /// in the page and is not subject to the page's script-src. Records the screen's result.
    pub async fn axe(&self, screen: &str) -> Vec<String> {
        let loaded = self
            .driver
            .execute("return typeof window.axe;", vec![])
            .await
            .unwrap();
        if loaded.as_str() != Some("object") {
            self.driver
                .execute(
                    &format!("{}\nreturn typeof window.axe;", axe_source()),
                    vec![],
                )
                .await
                .expect("axe-core loads in the page");
        }
        let result = self
            .driver
            .execute_async(AXE_RUN, vec![])
            .await
            .expect("axe.run answers");
        let violations: Vec<String> = serde_json::from_value(result).unwrap();
        let key = format!("{}:{screen}", self.name);
        eprintln!("axe {key}: {} violations", violations.len());
        for v in &violations {
            eprintln!("    {v}");
        }
        // Each e2e test binary is its own process: merge into the file the earlier ones wrote
        // (scripts/test.sh removes it before the run), so it lists every screen of the suite.
        let _serial = AXE_RESULTS.lock().unwrap_or_else(|e| e.into_inner());
        let file = self.screens.join("axe-results.txt");
        let mut results: std::collections::BTreeMap<String, usize> = std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (k, n) = line.split_once('\t')?;
                Some((k.to_string(), n.parse().ok()?))
            })
            .collect();
        results.insert(key, violations.len());
        let text: String = results.iter().map(|(k, n)| format!("{k}\t{n}\n")).collect();
        let _ = std::fs::write(file, text);
        violations
    }

    /// A screen reached: a screenshot and an axe check, whose violations fail the test at `quit`
    /// (so one run reports every screen's violations, not only the first).
    pub async fn screen(&mut self, name: &str) {
        self.screenshot(name).await;
        let found = self.axe(name).await;
        self.axe_violations
            .extend(found.into_iter().map(|v| format!("{name}: {v}")));
    }

    /// Opens the permit whose card shows `registration` (e.g. "AB12 CDE").
    pub async fn open_permit(&self, registration: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // A background sync may redraw the list at any time: look again on a stale element.
            for card in self
                .driver
                .find_all(Locator::Css("[data-testid=permit-card]"))
                .await
                .unwrap_or_default()
            {
                if !card.text().await.unwrap_or_default().contains(registration) {
                    continue;
                }
                if let Ok(view) = card.find(Locator::Css("[data-testid=view-permit]")).await {
                    if view.click().await.is_ok() {
                        return;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: no permit card for {registration}; the screen said:\n{}",
                    self.name,
                    self.body_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// The registrations on the permit cards shown, with each card's data-status (read in one
    /// script, so a redraw by a background sync cannot leave a stale element half way).
    pub async fn cards(&self) -> Vec<(String, String)> {
        let found = self
            .driver
            .execute(
                "return [...document.querySelectorAll('[data-testid=permit-card]')].map((c) => [\
                 c.querySelector('[data-testid=permit-registration]')?.textContent ?? '', \
                 c.dataset.status ?? '']);",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(found).unwrap()
    }

    /// Waits for `f` to hold, polling; panics with the screen's text after `within`.
    pub async fn wait_until<F, Fut>(&self, what: &str, within: Duration, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + within;
        while !f().await {
            if Instant::now() > deadline {
                panic!(
                    "{}: waited {within:?} for {what}; the screen said:\n{}",
                    self.name,
                    self.body_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits (10 s at most) until a permit card shows `registration` with `status`.
    pub async fn wait_for_card(&self, registration: &str, status: &str) {
        self.wait_until(
            &format!("a card for {registration} that is {status}"),
            Duration::from_secs(10),
            || async {
                self.cards()
                    .await
                    .iter()
                    .any(|(reg, st)| reg == registration && st == status)
            },
        )
        .await;
    }

    /// Pays on the council's hosted payment page, which the app opens in its own window
    /// ("payment"): switches to it, fills the card form, submits, and switches back.
    pub async fn pay_in_payment_window(&mut self, card_number: &str, shot: &str) {
        let main = self.driver.window().await.unwrap();
        let deadline = Instant::now() + WAIT;
        let payment = loop {
            let windows = self.driver.windows().await.unwrap();
            if let Some(w) = windows.into_iter().find(|w| *w != main) {
                break w;
            }
            if Instant::now() > deadline {
                panic!("{}: the payment window did not open", self.name);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        self.driver.switch_to_window(payment).await.unwrap();
        self.find("#card_number").await;
        self.screen(shot).await;
        self.type_into("#card_number", card_number).await;
        self.type_into("#expiry_month", "04").await;
        self.type_into("#expiry_year", "2030").await;
        self.type_into("#cardholder_name", "Test Resident").await;
        self.type_into("#security_code", "123").await;
        self.click("button[type=submit]").await;
        self.driver.switch_to_window(main).await.unwrap();
    }

    /// Presses each key of `keys` in turn (text, or `fantoccini::key::Key` codes), as keyboard
    /// actions sent to whatever has focus.
    pub async fn press(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".into());
        for value in keys.chars() {
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.driver.perform_actions(actions).await.unwrap();
    }

    /// Whether the focused element matches `css`.
    pub async fn focused(&self, css: &str) -> bool {
        self.driver
            .execute(
                "const a = document.activeElement; return !!a && a.matches(arguments[0]);",
                vec![css.into()],
            )
            .await
            .unwrap()
            .as_bool()
            .unwrap_or(false)
    }

    /// Presses Tab until `css` has focus (at most 40 times): it must be reachable by keyboard.
    pub async fn tab_to(&self, css: &str) {
        self.find(css).await;
        for _ in 0..40 {
            if self.focused(css).await {
                return;
            }
            self.press(&fantoccini::key::Key::Tab).await;
        }
        panic!("{}: 40 presses of Tab never reached {css}", self.name);
    }

    pub async fn sign_in(&self, email: &str, password: &str) {
        self.type_into("#sign-in-email", email).await;
        self.type_into("#sign-in-password", password).await;
        self.click("#sign-in-button").await;
    }

    /// Closes the app; fails the test if any screen checked with `screen` had axe violations.
    pub async fn quit(mut self) {
        let _ = self.driver.clone().close().await;
        let _ = self.tauri_driver.kill();
        let _ = self.tauri_driver.wait();
        assert!(
            self.axe_violations.is_empty(),
            "{}: axe found {} accessibility violations:\n{}",
            self.name,
            self.axe_violations.len(),
            self.axe_violations.join("\n")
        );
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.tauri_driver.kill();
        let _ = self.tauri_driver.wait();
    }
}

fn is_stale(e: &fantoccini::error::CmdError) -> bool {
    matches!(
        e,
        fantoccini::error::CmdError::Standard(w)
            if w.error == fantoccini::error::ErrorStatus::StaleElementReference
    )
}

/// Counts `org.freedesktop.Notifications.Notify` calls on the session bus.
pub struct NotificationWatch {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl NotificationWatch {
    pub fn start() -> NotificationWatch {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("notify.log");
        let child = Command::new("dbus-monitor")
            .args([
                "--session",
                "interface='org.freedesktop.Notifications',member='Notify'",
            ])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor runs (scripts/setup.sh installs dbus-x11)");
        std::thread::sleep(Duration::from_millis(300));
        NotificationWatch {
            child,
            log,
            _dir: dir,
        }
    }

    pub fn notify_calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.split("method call")
            .filter(|block| block.contains("member=Notify"))
            .map(|b| b.to_string())
            .collect()
    }
}

impl Drop for NotificationWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
