//! Offsite backup copies: where an appliance copies its recovery points. A copy target is
//! another restic-format repository (in an S3-compatible bucket or on another volume), so the
//! stock `restic` restores from it with the target's password, without the appliance.

use serde::{Deserialize, Serialize};

use crate::policy::{Retention, Schedule};

/// Where the copies go. Its `Debug` leaves the secret key out, so no log line carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CopyLocation {
    /// A bucket of an S3-compatible service; the repository lies under `prefix`.
    S3 {
        /// `https://s3.eu-central-1.amazonaws.com`, `http://minio.lan:9000`.
        endpoint: String,
        bucket: String,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        region: String,
        access_key_id: String,
        /// Secret: sealed at rest in the portal, never sent to browsers.
        secret_access_key: String,
    },
    /// A directory on another volume the appliance mounts (a NAS share, a USB disk).
    Path { path: String },
}

impl std::fmt::Debug for CopyLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyLocation::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id,
                ..
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("prefix", prefix)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            CopyLocation::Path { path } => f.debug_struct("Path").field("path", path).finish(),
        }
    }
}

impl CopyLocation {
    /// The same location with its secret key (S3 only) replaced by `replace(secret)`.
    pub fn map_secret<E>(self, replace: impl FnOnce(String) -> Result<String, E>) -> Result<CopyLocation, E> {
        match self {
            CopyLocation::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id,
                secret_access_key,
            } => Ok(CopyLocation::S3 {
                endpoint,
                bucket,
                prefix,
                region,
                access_key_id,
                secret_access_key: replace(secret_access_key)?,
            }),
            path @ CopyLocation::Path { .. } => Ok(path),
        }
    }

    /// The same location one level down: `<prefix>/<name>` in the bucket, `<path>/<name>` on
    /// the volume.
    pub fn joined(mut self, name: &str) -> CopyLocation {
        let join = |base: &str| {
            let base = base.trim_end_matches('/');
            if base.is_empty() {
                name.to_owned()
            } else {
                format!("{base}/{name}")
            }
        };
        match &mut self {
            CopyLocation::S3 { prefix, .. } => *prefix = join(prefix.trim_start_matches('/')),
            CopyLocation::Path { path } => *path = join(path),
        }
        self
    }

    /// The same location without its secret key, to show people.
    pub fn without_secret(self) -> CopyLocation {
        let emptied: Result<CopyLocation, std::convert::Infallible> = self.map_secret(|_| Ok(String::new()));
        match emptied {
            Ok(location) => location,
        }
    }

    /// The secret key, for an S3 location.
    pub fn secret_key(&self) -> Option<&str> {
        match self {
            CopyLocation::S3 {
                secret_access_key, ..
            } => Some(secret_access_key),
            CopyLocation::Path { .. } => None,
        }
    }

    /// The location in words, without secrets: `s3://bucket/prefix at endpoint`, `/mnt/nas`.
    pub fn describe(&self) -> String {
        match self {
            CopyLocation::S3 {
                endpoint,
                bucket,
                prefix,
                ..
            } => {
                let prefix = prefix.trim_matches('/');
                let path = if prefix.is_empty() {
                    bucket.clone()
                } else {
                    format!("{bucket}/{prefix}")
                };
                format!("s3://{path} at {endpoint}")
            }
            CopyLocation::Path { path } => path.clone(),
        }
    }

    /// Names the first field that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            CopyLocation::S3 {
                endpoint,
                bucket,
                access_key_id,
                secret_access_key,
                ..
            } => {
                let scheme = endpoint.split("://").next().unwrap_or_default();
                if !(scheme == "https" || scheme == "http") || !endpoint.contains("://") {
                    return Err(format!(
                        "Endpoint {endpoint:?} must be an http:// or https:// URL, such as https://s3.eu-central-1.amazonaws.com."
                    ));
                }
                let valid_bucket = (3..=63).contains(&bucket.len())
                    && bucket
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
                if !valid_bucket {
                    return Err(format!(
                        "Bucket {bucket:?} is not a valid bucket name (3–63 lowercase letters, digits, dots and hyphens)."
                    ));
                }
                if access_key_id.trim().is_empty() {
                    return Err("Access key ID is required.".into());
                }
                if secret_access_key.is_empty() {
                    return Err("Secret access key is required.".into());
                }
                Ok(())
            }
            CopyLocation::Path { path } => {
                let plain = path.starts_with('/') && !path.split('/').any(|part| part == "." || part == "..");
                if plain && !path.trim_matches('/').is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "Path {path:?} must be a plain absolute directory (no \".\" or \"..\"), such as /mnt/offsite."
                    ))
                }
            }
        }
    }
}

/// An appliance's copy target, as the appliance receives it (`Debug` without the secrets).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyTarget {
    pub location: CopyLocation,
    /// The target repository's password, generated by the portal (secret, like the keys).
    pub repository_password: String,
    /// Upload limit in KiB/s (S3 targets); unlimited when `None`.
    #[serde(default)]
    pub bandwidth_kib: Option<u32>,
    /// Which copies the target keeps: its own rules, so it can keep more than the appliance.
    #[serde(default)]
    pub retention: Retention,
    /// When the appliance copies: on this schedule (in its zone), or after each good backup
    /// when `None`.
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

impl std::fmt::Debug for CopyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyTarget")
            .field("location", &self.location)
            .field("bandwidth_kib", &self.bandwidth_kib)
            .field("retention", &self.retention)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

impl CopyTarget {
    /// The same target with each secret replaced by `seal(secret)`: sealing for storage,
    /// opening for delivery to the appliance.
    pub fn map_secrets<E>(self, mut seal: impl FnMut(String) -> Result<String, E>) -> Result<CopyTarget, E> {
        Ok(CopyTarget {
            location: self.location.map_secret(&mut seal)?,
            repository_password: seal(self.repository_password)?,
            ..self
        })
    }

    /// "s3://bucket/prefix at https://…, 2048 KiB/s, keeping last 30, after each backup".
    pub fn describe(&self) -> String {
        let limit = self
            .bandwidth_kib
            .map(|kib| format!(", {kib} KiB/s"))
            .unwrap_or_default();
        format!(
            "{}{limit}, keeping {}, {}",
            self.location.describe(),
            self.retention.describe(),
            describe_copy_schedule(self.schedule.as_ref())
        )
    }
}

/// "after each backup", or the schedule's words ("Daily from 2026-01-05 at 22:00").
pub fn describe_copy_schedule(schedule: Option<&Schedule>) -> String {
    schedule.map_or_else(|| "after each backup".into(), Schedule::describe)
}

/// What the copy target form sends. An empty secret access key keeps the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyTargetRequest {
    pub location: CopyLocation,
    pub bandwidth_kib: Option<u32>,
    pub retention: Retention,
    /// `None`: after each good backup.
    pub schedule: Option<Schedule>,
}

/// An appliance's copy target as users see it: never with its secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyTargetView {
    /// With `secret_access_key` empty.
    pub location: CopyLocation,
    pub summary: String,
    pub bandwidth_kib: Option<u32>,
    pub retention: Retention,
    pub schedule: Option<Schedule>,
    pub updated_at: i64,
    pub updated_by: String,
    /// An appliance's target that follows its organization's.
    #[serde(default)]
    pub from_organization: bool,
}

impl CopyTargetView {
    pub fn of(target: CopyTarget, updated_at: i64, updated_by: String) -> CopyTargetView {
        CopyTargetView {
            summary: target.describe(),
            location: target.location.without_secret(),
            bandwidth_kib: target.bandwidth_kib,
            retention: target.retention,
            schedule: target.schedule,
            updated_at,
            updated_by,
            from_organization: false,
        }
    }
}

/// Bandwidth limits accepted: 64 KiB/s to 10 GiB/s.
pub const BANDWIDTH_KIB: std::ops::RangeInclusive<u32> = 64..=10 * 1024 * 1024;

/// Names a bandwidth limit out of [`BANDWIDTH_KIB`].
pub fn check_bandwidth(kib: Option<u32>) -> Result<(), String> {
    match kib {
        Some(kib) if !BANDWIDTH_KIB.contains(&kib) => Err(format!(
            "The bandwidth limit must be between {} and {} KiB/s (or empty for no limit).",
            BANDWIDTH_KIB.start(),
            BANDWIDTH_KIB.end()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(endpoint: &str, bucket: &str) -> CopyLocation {
        CopyLocation::S3 {
            endpoint: endpoint.into(),
            bucket: bucket.into(),
            prefix: "acme/".into(),
            region: String::new(),
            access_key_id: "AKIA".into(),
            secret_access_key: "secret".into(),
        }
    }

    #[test]
    fn a_location_one_level_down() {
        let joined = s3("https://s3.example.com", "offsite").joined("appliance-7");
        assert_eq!(
            joined.describe(),
            "s3://offsite/acme/appliance-7 at https://s3.example.com"
        );
        let bare = CopyLocation::S3 {
            endpoint: "https://s3.example.com".into(),
            bucket: "offsite".into(),
            prefix: String::new(),
            region: String::new(),
            access_key_id: "AKIA".into(),
            secret_access_key: "secret".into(),
        };
        assert_eq!(
            bare.joined("appliance-7").describe(),
            "s3://offsite/appliance-7 at https://s3.example.com"
        );
        let path = CopyLocation::Path {
            path: "/mnt/nas/".into(),
        }
        .joined("appliance-7");
        assert_eq!(
            path,
            CopyLocation::Path {
                path: "/mnt/nas/appliance-7".into()
            }
        );
    }

    #[test]
    fn locations_name_what_is_wrong() {
        assert!(s3("https://s3.example.com", "offsite-copies").validate().is_ok());
        assert!(
            s3("ftp://s3.example.com", "offsite")
                .validate()
                .unwrap_err()
                .contains("Endpoint")
        );
        assert!(
            s3("https://s3.example.com", "Bad_Bucket")
                .validate()
                .unwrap_err()
                .contains("Bucket")
        );
        let path = |p: &str| CopyLocation::Path { path: p.into() }.validate();
        assert!(path("/mnt/offsite").is_ok());
        for bad in ["mnt/offsite", "/mnt/../etc", "/", ""] {
            assert!(path(bad).unwrap_err().contains("Path"), "{bad}");
        }
    }

    #[test]
    fn secrets_are_mapped_and_never_described() {
        let target = CopyTarget {
            location: s3("https://s3.example.com", "offsite"),
            repository_password: "hunter2".into(),
            bandwidth_kib: Some(2048),
            retention: Retention {
                keep_last: Some(30),
                ..Retention::default()
            },
            schedule: None,
        };
        let described = target.describe();
        let debugged = format!("{target:?}");
        assert!(
            !debugged.contains("hunter2") && !debugged.contains("secret") && debugged.contains("AKIA"),
            "{debugged}"
        );
        assert_eq!(
            described,
            "s3://offsite/acme at https://s3.example.com, 2048 KiB/s, keeping last 30, after each backup"
        );
        let sealed = target
            .clone()
            .map_secrets(|s| Ok::<_, ()>(format!("sealed({s})")))
            .unwrap();
        assert_eq!(sealed.repository_password, "sealed(hunter2)");
        let CopyLocation::S3 {
            secret_access_key,
            access_key_id,
            ..
        } = &sealed.location
        else {
            unreachable!()
        };
        assert_eq!(
            (secret_access_key.as_str(), access_key_id.as_str()),
            ("sealed(secret)", "AKIA")
        );
    }
}
