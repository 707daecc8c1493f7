//! Where the agent keeps things on the VM, all under `--root`.

use std::path::{Path, PathBuf};

use claw_free_protocol::metadata::SecretName;

use crate::cli::{rooted, Options};

/// OpenClaw's configuration file, inside the state folder.
pub const OPENCLAW_CONFIG: &str = "openclaw.json";
/// The wizard's choices for claw.free's own programs (the bootstrap provider).
pub const CLAW_FREE_CONFIG: &str = "claw-free.json";
/// The bootstrap provider's API key (root-only), which OpenClaw's configuration
/// gives the gateway; the provider refuses every caller without it.
pub const PROVIDER_KEY: &str = "setup-provider.key";

#[derive(Debug, Clone)]
pub struct Paths {
    pub state_dir: PathBuf,
    pub secrets_dir: PathBuf,
    pub openclaw_config: PathBuf,
    /// Written last by setup: its presence means setup finished.
    pub setup_marker: PathBuf,
    /// Where setup builds a fresh configuration before moving it into place.
    pub staging_dir: PathBuf,
    /// The version of the last secret set applied, so a reboot does not re-apply it.
    pub applied_secret_version: PathBuf,
    pub host_key: PathBuf,
    pub host_key_pub: PathBuf,
    /// The Telegram token as the gateway reads it: the systemd credential (named like
    /// the secret) that systemd copies from the root-only secret file at each start.
    /// OpenClaw's `channels.telegram.tokenFile` names this file, never the secret's.
    pub gateway_token_file: PathBuf,
    /// The bootstrap provider's API key ([`PROVIDER_KEY`]).
    pub provider_key: PathBuf,
}

impl Paths {
    pub fn new(options: &Options) -> Self {
        let state_dir = rooted(&options.root, &options.state_dir);
        let host_key = rooted(&options.root, &options.host_key);
        let mut host_key_pub = host_key.clone().into_os_string();
        host_key_pub.push(".pub");
        Self {
            secrets_dir: state_dir.join("secrets"),
            openclaw_config: state_dir.join(OPENCLAW_CONFIG),
            setup_marker: state_dir.join(".setup-complete"),
            staging_dir: state_dir.join(".setup-staging"),
            applied_secret_version: state_dir.join(".secret-version"),
            provider_key: state_dir.join(PROVIDER_KEY),
            state_dir,
            host_key,
            host_key_pub: PathBuf::from(host_key_pub),
            gateway_token_file: secret_in(
                &rooted(&options.root, &options.gateway_credentials_dir),
                &SecretName::telegram_token(),
            ),
        }
    }

    /// The file that holds one secret.
    pub fn secret(&self, name: &SecretName) -> PathBuf {
        secret_in(&self.secrets_dir, name)
    }

    pub fn setup_complete(&self) -> bool {
        self.setup_marker.is_file()
    }
}

/// The file of secret `name` inside a secrets folder (the live one, the staged one, or
/// the gateway's credentials).
fn secret_in(secrets_dir: &Path, name: &SecretName) -> PathBuf {
    // SecretName admits only [a-z0-9-], so this never leaves the folder.
    secrets_dir.join(name.as_str())
}
