//! The shared mode as an operator meets it: a PostgreSQL URL without `AUTOPOST_MASTER_KEY` is
//! refused with the reason and the remedy, and no key file is made; with the key, `migrate`
//! and `doctor` work, and the database password appears in none of their output.

use super::{assert_one_line_error, run, text};

#[test]
fn a_postgres_url_needs_the_master_key_and_the_password_is_never_shown() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(cluster) = autopost::test_cluster::cluster() else {
        return;
    };
    // The test server trusts loopback, so the password is ignored: it only has to stay hidden.
    let url = runtime.block_on(cluster.fresh_database()).replacen(
        "postgres://postgres@",
        "postgres://postgres:hunter2@",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let database = [("AUTOPOST_DATABASE_URL", url.as_str())];

    for command in ["migrate", "run", "doctor"] {
        let out = run(dir.path(), &[command], &database);
        let line = assert_one_line_error(&out);
        assert!(
            line.contains("AUTOPOST_MASTER_KEY: must be set when AUTOPOST_DATABASE_URL is a PostgreSQL database")
                && line.contains("same key"),
            "{command}: {line}"
        );
        assert!(!line.contains("hunter2"), "{command}: {line}");
        assert!(
            !dir.path().join("data").join("master.key").exists(),
            "{command}: no key file in the shared mode"
        );
    }

    let key = autopost::crypto::MasterKey::generate().to_base64();
    let vars = [
        ("AUTOPOST_DATABASE_URL", url.as_str()),
        ("AUTOPOST_MASTER_KEY", key.expose()),
    ];
    let out = run(dir.path(), &["migrate"], &vars);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("postgres://postgres:redacted@"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
    assert!(!dir.path().join("data").join("master.key").exists());

    let out = run(dir.path(), &["doctor"], &vars);
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{report}");
    assert!(report.contains("every migration is applied"), "{report}");
    assert!(
        report.contains("none is running now"),
        "migrate left no instance: {report}"
    );
    assert!(!report.contains("hunter2"), "{report}");
}
