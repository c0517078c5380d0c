//! TLS to PostgreSQL: `sslmode` (and `sslrootcert`) in the database URL are honoured, over
//! rustls. Run against the local server with its self-signed certificate; skipped (and said so)
//! where that server has TLS off.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use domain::testkit::TestDb;
use domain::{Backend, Db};

/// Debian's self-signed certificate for its PostgreSQL (`ssl-cert` package).
const SELF_SIGNED: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

async fn encrypted(db: &Db) -> bool {
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap()
}

fn with(url: &str, parameters: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{parameters}")
}

#[tokio::test]
async fn sslmode_in_the_database_url_is_honoured() {
    let Some(test) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let tls_on: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&test.db.pool)
        .await
        .unwrap();
    if tls_on != "on" || !std::path::Path::new(SELF_SIGNED).exists() {
        eprintln!("skipped: this PostgreSQL has TLS off or no {SELF_SIGNED}");
        return;
    }

    let required = Db::connect(&with(&test.url, "sslmode=require")).await.unwrap();
    assert!(encrypted(&required).await, "sslmode=require encrypts");
    let plain = Db::connect(&with(&test.url, "sslmode=disable")).await.unwrap();
    assert!(!encrypted(&plain).await, "sslmode=disable does not");

    let trusted = with(&test.url, &format!("sslmode=verify-ca&sslrootcert={SELF_SIGNED}"));
    let verified = Db::connect(&trusted).await.unwrap();
    assert!(
        encrypted(&verified).await,
        "the certificate checks out against its own root"
    );

    // The certificate names `localhost`: verify-full holds the host name to it.
    if test.url.contains("@127.0.0.1") {
        let by_name = test.url.replace("@127.0.0.1", "@localhost");
        let full = with(
            &by_name,
            &format!("sslmode=verify-full&sslrootcert={SELF_SIGNED}"),
        );
        assert!(encrypted(&Db::connect(&full).await.unwrap()).await);
    }
    let wrong_name = with(
        &test.url.replace("@localhost", "@127.0.0.1"),
        &format!("sslmode=verify-full&sslrootcert={SELF_SIGNED}"),
    );
    let refusal = Db::connect(&wrong_name)
        .await
        .expect_err("127.0.0.1 is not the name in the certificate");
    assert!(
        refusal.to_string().to_lowercase().contains("certificate"),
        "the refusal names the certificate: {refusal}"
    );
}
