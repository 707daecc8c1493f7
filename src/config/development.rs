//! The development configuration: the Worker's variables for a site on this machine
//! whose every outside service is the simulator. The Worker's unit tests and the local
//! stack (integration tests, browser tests, `scripts/dev`) all start from it, so an
//! endpoint variable is pointed at the simulator in one place. Native only: on Workers
//! the variables come from `wrangler.toml` and secrets.

use super::DEVELOPMENT_SESSION_KEY;
use std::collections::BTreeMap;

/// Where the simulator serves what each URL variable names, as a path under its origin:
/// Google's own paths for the OAuth endpoints, the root for the APIs it serves whole, and
/// its stand-in for the Cloud console.
const SIMULATOR_PATHS: [(&str, &str); 11] = [
    ("GOOGLE_AUTH_URL", "/o/oauth2/v2/auth"),
    ("GOOGLE_TOKEN_URL", "/token"),
    ("GOOGLE_USERINFO_URL", "/v1/userinfo"),
    ("GOOGLE_REVOKE_URL", "/revoke"),
    ("CRM_API", ""),
    ("SERVICEUSAGE_API", ""),
    ("COMPUTE_API", ""),
    ("IAM_API", ""),
    ("STORAGE_API", ""),
    ("TELEGRAM_API", ""),
    ("CONSOLE_URL", "/console"),
];

/// The development variables of a site at `site` (an origin on this machine) with the
/// simulator at `sim` (an origin without a trailing `/`).
pub fn vars(site: &str, sim: &str) -> BTreeMap<String, String> {
    let fixed = [
        ("ENVIRONMENT", "development"),
        ("SITE_ORIGIN", site),
        ("GOOGLE_CLIENT_ID", "claw-free-local"),
        ("GOOGLE_CLIENT_SECRET", "local-secret"),
        ("SESSION_KEY", DEVELOPMENT_SESSION_KEY),
        ("IMAGE_PROJECT", "claw-free-images"),
    ];
    let urls = SIMULATOR_PATHS
        .iter()
        .map(|(name, path)| (name.to_string(), format!("{sim}{path}")));
    fixed
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .chain(urls)
        .collect()
}
