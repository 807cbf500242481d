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
