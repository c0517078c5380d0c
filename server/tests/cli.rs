//! The administrative CLI, run as the real binary against a fresh SQLite data directory.

// Tests: a failed step should stop the test, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

struct DataDir(std::path::PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn backplane(data: &DataDir, args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_backplane"));
    command
        .args(args)
        .env("BACKPLANE_DATA_DIR", &data.0)
        .env_remove("DATABASE_URL")
        .env_remove("BACKPLANE_CONFIG");
    match password {
        Some(password) => command.env("BACKPLANE_ADMIN_PASSWORD", password),
        None => command.env_remove("BACKPLANE_ADMIN_PASSWORD"),
    };
    command.output().expect("run backplane")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn create_instance_headless_then_recover_a_locked_out_superuser() {
    let data = DataDir(std::env::temp_dir().join(format!("bp-cli-{}", std::process::id())));
    let create = [
        "admin",
        "create-instance",
        "--homerealm",
        "acme",
        "--name",
        "Acme IT",
        "--email",
        "owner@acme.example",
    ];

    let weak = backplane(&data, &create, Some("weak"));
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("at least 6 characters"),
        "{weak:?}"
    );

    let created = backplane(&data, &create, Some("Correct-Horse-9"));
    assert!(created.status.success(), "{created:?}");
    let out = stdout(&created);
    assert!(
        out.contains("Instance acme created with Superuser owner@acme.example."),
        "{out}"
    );
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("TOTP secret: "))
        .expect("secret printed");
    assert_eq!(secret.len(), 32);
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("  ") && l.len() == 21)
            .count(),
        10,
        "ten recovery codes"
    );

    let duplicate = backplane(&data, &create, Some("Correct-Horse-9"));
    assert!(
        String::from_utf8_lossy(&duplicate.stderr).contains("already taken"),
        "{duplicate:?}"
    );

    let listed = backplane(&data, &["admin", "list-instances"], None);
    assert_eq!(stdout(&listed), "acme\tAcme IT\n");

    let reset = backplane(&data, &for_user("reset-2fa", "owner@acme.example"), None);
    assert!(stdout(&reset).contains("is reset"), "{reset:?}");
    let password = for_user("set-password", "owner@acme.example");
    assert!(
        backplane(&data, &password, Some("Another-Pass-1"))
            .status
            .success()
    );
    let unknown = backplane(&data, &for_user("reset-2fa", "nobody@acme.example"), None);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("No user"),
        "{unknown:?}"
    );
}

/// `admin COMMAND` for one user of the instance `acme`.
fn for_user<'a>(command: &'a str, email: &'a str) -> [&'a str; 6] {
    ["admin", command, "--homerealm", "acme", "--email", email]
}
