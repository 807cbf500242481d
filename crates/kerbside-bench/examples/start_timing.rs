use kerbside_desktop::cache::Cache;
use kerbside_desktop::{Kerbside, KeyringSecrets, SecretStore, StartOptions};
use std::sync::Arc;
use std::time::Instant;
#[tokio::main]
async fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let t = Instant::now();
    let c = Cache::open(&dir.join("kerbside-cache.db")).await.unwrap();
    println!("cache open {:?}", t.elapsed());
    let t = Instant::now();
    let _ = c.account().await.unwrap();
    println!("account {:?}", t.elapsed());
    drop(c);
    let t = Instant::now();
    let s = kerbside_council::Store::connect(&format!(
        "sqlite://{}",
        dir.join("demo-council.db").display()
    ))
    .await
    .unwrap();
    println!("council store connect {:?}", t.elapsed());
    drop(s);
    let secrets = Arc::new(KeyringSecrets::new("uk.kerbside.app"));
    let t = Instant::now();
    let got = secrets.get("session:embedded-demo-council").unwrap();
    println!("keyring get {:?} {}", t.elapsed(), got.is_some());
    let t = Instant::now();
    let got = secrets.get("session:embedded-demo-council").unwrap();
    println!("keyring get again {:?} {}", t.elapsed(), got.is_some());
    let t = Instant::now();
    let k = Kerbside::start(
        StartOptions {
            data_dir: dir.clone(),
            clock: Arc::new(kerbside_api::SystemClock),
            clock_is_set: false,
            council_url: None,
            keyring_service: "uk.kerbside.app".into(),
        },
        secrets,
    )
    .await
    .unwrap();
    println!("Kerbside::start {:?}", t.elapsed());
    let t = Instant::now();
    let _ = k.snapshot().await.unwrap();
    println!("snapshot {:?}", t.elapsed());
    let t = Instant::now();
    let v = k.cached_permits().await.unwrap();
    println!("cached_permits {:?} {}", t.elapsed(), v.permits.len());
}
