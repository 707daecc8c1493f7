//! The Worker's configuration, parsed once per request from `[vars]` and secrets.
//!
//! Every Google URL, the OAuth client, the image and the limits live here. In
//! production every endpoint must be Google's own over HTTPS, and the development
//! session key is refused, so a production Worker can never be pointed at the simulator.

use crate::crypto::SealingKey;

/// Production endpoints, used when a var is not set.
pub mod google_defaults {
    pub const AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
    pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
    pub const USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";
    pub const REVOKE_URL: &str = "https://oauth2.googleapis.com/revoke";
    pub const CRM_API: &str = "https://cloudresourcemanager.googleapis.com";
    pub const SERVICEUSAGE_API: &str = "https://serviceusage.googleapis.com";
    pub const COMPUTE_API: &str = "https://compute.googleapis.com";
    pub const TELEGRAM_API: &str = "https://api.telegram.org";
    pub const CONSOLE_URL: &str = "https://console.cloud.google.com";
}

/// Hosts a production Worker may call.
const PRODUCTION_HOSTS: &[&str] = &[
    "accounts.google.com",
    "oauth2.googleapis.com",
    "openidconnect.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "serviceusage.googleapis.com",
    "compute.googleapis.com",
    "api.telegram.org",
    "console.cloud.google.com",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Production,
    /// `wrangler dev` against the simulator.
    Development,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub auth_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub revoke_url: String,
    pub crm_api: String,
    pub serviceusage_api: String,
    pub compute_api: String,
    pub telegram_api: String,
    pub console_url: String,
}

impl Endpoints {
    /// Where a person chats with a bot: on the Telegram simulator, its chat page; on
    /// Telegram itself none (the person opens the bot in their Telegram app).
    pub fn chat_url(&self) -> Option<String> {
        (self.telegram_api != google_defaults::TELEGRAM_API)
            .then(|| format!("{}/_chat", self.telegram_api.trim_end_matches('/')))
    }
}

/// Limits on what a stranger can trigger, per fixed one-hour window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub signins_per_ip: u32,
    pub telegram_lookups_per_ip: u32,
    pub deploys_per_session: u32,
    pub deploys_per_ip: u32,
    pub bot_actions_per_session: u32,
    /// How long a running VM has to report `ready` before the deploy fails.
    pub ready_timeout_secs: u64,
    /// A health report older than this turns the bot's dot red.
    pub health_stale_secs: u64,
    /// How many projects the bot list queries at most.
    pub max_projects_listed: usize,
    /// GitHub tokens one VM may be given per window (GitHub mode).
    pub vm_tokens_per_instance: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    /// `https://claw.free`: the only origin allowed to change state, and the OAuth redirect's base.
    pub site_origin: String,
    /// Origins that may call the API cross-origin (none by default).
    pub cors_origins: Vec<String>,
    pub client_id: String,
    pub client_secret: String,
    pub sealing_key: SealingKey,
    pub endpoints: Endpoints,
    /// `projects/<image project>/global/images/family/<family>`.
    pub image: String,
    pub limits: Limits,
    /// GitHub mode, when a GitHub App is configured.
    pub github: Option<crate::github::config::GitHubMode>,
    pub version: &'static str,
}

/// The session key of the development configuration (`development::vars`, the local
/// stack's); refused in production, since anyone can read it here.
pub const DEVELOPMENT_SESSION_KEY: &str = "Y2xhdy5mcmVlIGRldmVsb3BtZW50IGtleTsgbmV2ZXI=";

impl Config {
    /// Reads the configuration through `lookup` (vars and secrets by name).
    pub fn parse(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not configured"));
        let environment = match var("ENVIRONMENT").as_deref() {
            None | Some("production") => Environment::Production,
            Some("development") => Environment::Development,
            Some(other) => {
                return Err(format!(
                    "ENVIRONMENT must be production or development, not {other}"
                ))
            }
        };
        let url = |name: &str, default: &str| -> Result<String, String> {
            let value = var(name).unwrap_or_else(|| default.to_string());
            check_endpoint(name, &value, environment)?;
            Ok(value.trim_end_matches('/').to_string())
        };
        use google_defaults as g;
        let endpoints = Endpoints {
            auth_url: url("GOOGLE_AUTH_URL", g::AUTH_URL)?,
            token_url: url("GOOGLE_TOKEN_URL", g::TOKEN_URL)?,
            userinfo_url: url("GOOGLE_USERINFO_URL", g::USERINFO_URL)?,
            revoke_url: url("GOOGLE_REVOKE_URL", g::REVOKE_URL)?,
            crm_api: url("CRM_API", g::CRM_API)?,
            serviceusage_api: url("SERVICEUSAGE_API", g::SERVICEUSAGE_API)?,
            compute_api: url("COMPUTE_API", g::COMPUTE_API)?,
            telegram_api: url("TELEGRAM_API", g::TELEGRAM_API)?,
            console_url: url("CONSOLE_URL", g::CONSOLE_URL)?,
        };
        let session_key = required("SESSION_KEY")?;
        if environment == Environment::Production && session_key == DEVELOPMENT_SESSION_KEY {
            return Err("SESSION_KEY is the development key; set a real secret".into());
        }
        let site_origin = required("SITE_ORIGIN")?.trim_end_matches('/').to_string();
        if environment == Environment::Production && !site_origin.starts_with("https://") {
            return Err("SITE_ORIGIN must be https in production".into());
        }
        // Development mode accepts any endpoint (the simulator): a site anyone else
        // can reach must never run in it.
        if environment == Environment::Development && !is_loopback_origin(&site_origin) {
            return Err(format!(
                "ENVIRONMENT=development is only for a site on this machine (127.0.0.1, localhost or [::1]), not {site_origin}"
            ));
        }
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match var(name) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("{name} must be a whole number")),
            }
        };
        let image_project = var("IMAGE_PROJECT").unwrap_or_else(|| "claw-free-images".into());
        let image_family = var("IMAGE_FAMILY").unwrap_or_else(|| "nixos-openclaw".into());
        Ok(Self {
            environment,
            site_origin,
            cors_origins: var("CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_string())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            client_id: required("GOOGLE_CLIENT_ID")?,
            client_secret: required("GOOGLE_CLIENT_SECRET")?,
            sealing_key: SealingKey::from_base64(&session_key)?,
            endpoints,
            image: format!("projects/{image_project}/global/images/family/{image_family}"),
            limits: Limits {
                signins_per_ip: number("LIMIT_SIGNINS_PER_IP", 30)? as u32,
                telegram_lookups_per_ip: number("LIMIT_TELEGRAM_PER_IP", 60)? as u32,
                deploys_per_session: number("LIMIT_DEPLOYS_PER_SESSION", 5)? as u32,
                deploys_per_ip: number("LIMIT_DEPLOYS_PER_IP", 10)? as u32,
                bot_actions_per_session: number("LIMIT_BOT_ACTIONS_PER_SESSION", 60)? as u32,
                ready_timeout_secs: number("READY_TIMEOUT_SECS", 300)?,
                health_stale_secs: number("HEALTH_STALE_SECS", 180)?,
                max_projects_listed: number("MAX_PROJECTS_LISTED", 20)? as usize,
                vm_tokens_per_instance: number("LIMIT_VM_TOKENS_PER_INSTANCE", 20)? as u32,
            },
            github: crate::github::config::GitHubMode::parse(&var, environment)?,
            version: env!("CARGO_PKG_VERSION"),
        })
    }

    /// Where Google sends the person back after consent.
    pub fn redirect_uri(&self) -> String {
        format!("{}/api/auth/callback/google", self.site_origin)
    }

    /// Whether the site is served over https (HSTS is sent only then).
    pub fn serves_https(&self) -> bool {
        self.site_origin.starts_with("https://")
    }
}

/// Whether `origin` (`scheme://host[:port]`) names this machine.
fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    if rest.contains(['/', '?', '#', '@']) {
        return false;
    }
    let host = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => rest.split(':').next().unwrap_or(""),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

fn check_endpoint(name: &str, value: &str, environment: Environment) -> Result<(), String> {
    let host = value
        .strip_prefix("https://")
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    let allowed = match environment {
        Environment::Production => host.is_some_and(|h| PRODUCTION_HOSTS.contains(&h)),
        Environment::Development => value.starts_with("https://") || value.starts_with("http://"),
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "{name} must be a Google endpoint over https in production, not {value}"
        ))
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub mod development;
#[cfg(test)]
pub(crate) mod tests;
