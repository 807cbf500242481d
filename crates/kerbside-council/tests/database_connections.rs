//! The council's pooled connections to PostgreSQL. They are not pinged before every use (that
//! is a round trip per request, docs/BENCHMARKS.md fix 23), only after lying idle, so
//! connections PostgreSQL has dropped (a restart, a failover, an administrator) while the
//! council was quiet are replaced without a resident seeing an error.

mod support;

use support::{fresh_postgres_database, TestCouncil};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_connections_dropped_while_the_council_was_quiet_are_replaced_unseen() {
    use sqlx::Connection;
    let url = fresh_postgres_database().await;
    let council = TestCouncil::start_on(&url, "2027-03-01T09:00:00Z", None).await;
    let token = council
        .resident_at("quiet@example.org", "5", "Hazel Street", "LE2 7JN", None)
        .await;
    // Several requests at once, so the pool holds several connections.
    let lists = (0..8).map(|_| council.client.permits(&token));
    for list in futures_util::future::join_all(lists).await {
        list.unwrap();
    }

    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let dropped: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        !dropped.is_empty(),
        "the council's connections were dropped"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    for n in 0..20 {
        council
            .client
            .permits(&token)
            .await
            .unwrap_or_else(|e| panic!("request {n} after the connections were dropped: {e}"));
    }
}

/// A council opens at most the connections it was given (`--database-connections`), however
/// many residents ask at once; by default four per core, from 4 to 16 (fix 33).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_council_opens_no_more_connections_than_it_was_given() {
    use sqlx::Connection;
    let default = kerbside_council::default_postgres_connections();
    assert!((4..=16).contains(&default), "{default}");
    let cores = std::thread::available_parallelism().unwrap().get() as u32;
    assert_eq!(default, (cores * 4).clamp(4, 16));

    let url = fresh_postgres_database().await;
    let store = kerbside_council::Store::connect_with_connections(&url, Some(3))
        .await
        .unwrap();
    assert_eq!(store.pool().options().get_max_connections(), 3);
    // Twelve reads at once, each holding its connection for 200 ms inside PostgreSQL.
    let reads = (0..12).map(|_| {
        let pool = store.pool().clone();
        async move {
            sqlx::query("SELECT pg_sleep(0.2)")
                .execute(&pool)
                .await
                .unwrap();
        }
    });
    let counting = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        let opened: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        opened
    };
    let (_, opened) = tokio::join!(futures_util::future::join_all(reads), counting);
    assert_eq!(opened, 3, "connections open while twelve reads waited");
}
