//! The `[meter]` and `[metrics]` sections: where the peak-hour meter keeps
//! its samples and how long, and where Prometheus scrapes.

use std::net::SocketAddr;

use serde::Deserialize;
use upf_meter::store::Retention;

/// `[meter]`: the peak-hour meter (docs/reports.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    /// Sample the traffic per POI every second and store it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `sqlite:PATH` (the default, one file) or `postgres://...` (a fleet
    /// writing to one database).
    #[serde(default = "default_store")]
    pub store: String,
    /// This gateway's name in the store (every row carries it); default: the host name.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Keep one-second rows this many hours.
    #[serde(default = "default_seconds_hours")]
    pub keep_seconds_hours: u64,
    /// Keep minute rows this many days (the reports' busiest sliding hour
    /// and 95th percentile need them; 0 = forever).
    #[serde(default = "default_minutes_days")]
    pub keep_minutes_days: u64,
    /// Keep hour rows this many days (0 = forever).
    #[serde(default)]
    pub keep_hours_days: u64,
}

fn yes() -> bool {
    true
}
fn default_store() -> String {
    "sqlite:/var/lib/mvno-upf/meter.db".into()
}
fn default_seconds_hours() -> u64 {
    48
}
fn default_minutes_days() -> u64 {
    5 * 366
}

impl Default for MeterConfig {
    fn default() -> Self {
        MeterConfig {
            enabled: true,
            store: default_store(),
            gateway: None,
            keep_seconds_hours: default_seconds_hours(),
            keep_minutes_days: default_minutes_days(),
            keep_hours_days: 0,
        }
    }
}

impl MeterConfig {
    /// Checks the section: `(field, reason)` on error.
    pub fn check(&self) -> Result<(), (String, String)> {
        let s = self.store.as_str();
        let known = s.starts_with("sqlite:")
            || s.starts_with("postgres://")
            || s.starts_with("postgresql://")
            || s.starts_with('/');
        if self.enabled && !known {
            return Err((
                "meter.store".into(),
                format!("{s:?}: expected sqlite:PATH, an absolute path, or postgres://..."),
            ));
        }
        if self.keep_seconds_hours == 0 {
            return Err((
                "meter.keep_seconds_hours".into(),
                "must be at least 1 (the minute rollup reads the seconds)".into(),
            ));
        }
        if let Some(g) = &self.gateway {
            if g.is_empty() || g.len() > 64 {
                return Err(("meter.gateway".into(), "must be 1..=64 characters".into()));
            }
        }
        Ok(())
    }

    /// The gateway's name: as configured, else the host name.
    pub fn gateway_name(&self) -> String {
        self.gateway.clone().unwrap_or_else(host_name)
    }

    /// Retention in seconds per resolution.
    pub fn retention(&self) -> Retention {
        let days = |d: u64| (d > 0).then_some(d as i64 * 86_400);
        Retention {
            seconds: Some(self.keep_seconds_hours as i64 * 3600),
            minutes: days(self.keep_minutes_days),
            hours: days(self.keep_hours_days),
        }
    }
}

/// The host name (`/proc/sys/kernel/hostname`), or "upf".
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "upf".into())
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address and port to serve `GET /metrics` on (e.g. "127.0.0.1:9464").
    pub listen: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_field() {
        let m = |t: &str| toml::from_str::<MeterConfig>(t).unwrap();
        assert_eq!(m("").check(), Ok(()));
        assert_eq!(m("").retention().minutes, Some(5 * 366 * 86_400));
        assert_eq!(m("keep_minutes_days = 0").retention().minutes, None);
        assert_eq!(
            m("store = \"mysql://x\"").check().unwrap_err().0,
            "meter.store"
        );
        assert_eq!(
            m("keep_seconds_hours = 0").check().unwrap_err().0,
            "meter.keep_seconds_hours"
        );
        assert_eq!(m("gateway = \"\"").check().unwrap_err().0, "meter.gateway");
        assert!(toml::from_str::<MeterConfig>("stor = \"x\"").is_err());
    }
}
