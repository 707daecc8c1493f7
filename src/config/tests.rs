//! Configuration parsing, and the development configuration tests share.

use super::*;
use std::collections::{BTreeMap, HashMap};

/// The development variables of the site the unit tests play, with the simulator at `sim`.
pub fn development_vars(sim: &str) -> BTreeMap<String, String> {
    development::vars("http://127.0.0.1:8787", sim)
}

pub fn development_config() -> Config {
    let vars = development_vars("http://sim.test");
    Config::parse(|k| vars.get(k).cloned()).unwrap()
}

#[test]
fn a_chat_page_only_on_the_simulator_s_telegram() {
    assert_eq!(
        development_config().endpoints.chat_url().as_deref(),
        Some("http://sim.test/_chat")
    );
    let mut endpoints = development_config().endpoints;
    endpoints.telegram_api = google_defaults::TELEGRAM_API.into();
    assert_eq!(endpoints.chat_url(), None);
}

#[test]
fn development_config_points_at_the_simulator() {
    let config = development_config();
    assert_eq!(config.endpoints.compute_api, "http://sim.test");
    assert_eq!(
        config.redirect_uri(),
        "http://127.0.0.1:8787/api/auth/callback/google"
    );
    assert!(!config.serves_https());
    assert_eq!(config.limits.ready_timeout_secs, 300);
}

#[test]
fn development_mode_is_only_for_a_site_on_this_machine() {
    for (origin, on_this_machine) in [
        ("http://127.0.0.1:8787", true),
        ("http://localhost:8787", true),
        ("http://[::1]:8787", true),
        ("http://127.0.0.2", true),
        ("https://claw.free", false),
        ("http://10.0.0.5:8787", false),
        ("http://localhost.evil.test", false),
        ("http://127.0.0.1.evil.test", false),
        ("http://127.0.0.1@evil.test", false),
        ("http://[::1].evil.test", false),
    ] {
        let mut vars = development_vars("http://127.0.0.1:9090");
        vars.insert("SITE_ORIGIN".into(), origin.into());
        let parsed = Config::parse(|k| vars.get(k).cloned());
        if on_this_machine {
            assert!(parsed.is_ok(), "{origin}");
        } else {
            let err = parsed.unwrap_err();
            assert!(
                err.contains("only for a site on this machine"),
                "{origin}: {err}"
            );
        }
    }
}

#[test]
fn production_refuses_the_simulator_and_the_development_key() {
    let mut vars = development_vars("http://127.0.0.1:9090");
    vars.insert("ENVIRONMENT".into(), "production".into());
    vars.insert("SITE_ORIGIN".into(), "https://claw.free".into());
    let err = Config::parse(|k| vars.get(k).cloned()).unwrap_err();
    assert!(err.contains("GOOGLE_AUTH_URL"), "{err}");

    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("SITE_ORIGIN".into(), "https://claw.free".into());
    vars.insert("GOOGLE_CLIENT_ID".into(), "id".into());
    vars.insert("GOOGLE_CLIENT_SECRET".into(), "secret".into());
    vars.insert("SESSION_KEY".into(), DEVELOPMENT_SESSION_KEY.into());
    let err = Config::parse(|k| vars.get(k).cloned()).unwrap_err();
    assert!(err.contains("development key"), "{err}");

    vars.insert(
        "COMPUTE_API".into(),
        "https://compute.googleapis.com.evil.test".into(),
    );
    vars.insert(
        "SESSION_KEY".into(),
        "c2VjcmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMhISE=".into(),
    );
    assert!(Config::parse(|k| vars.get(k).cloned()).is_err());
    vars.remove("COMPUTE_API");
    let config = Config::parse(|k| vars.get(k).cloned()).unwrap();
    assert_eq!(config.endpoints.compute_api, google_defaults::COMPUTE_API);
    assert_eq!(
        config.image,
        "projects/claw-free-images/global/images/family/nixos-openclaw"
    );
}
