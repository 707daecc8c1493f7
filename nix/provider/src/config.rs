//! Configuration shared by `clawfree-provider` and `clawfree`: every external command,
//! every path and every timeout, from an optional JSON file (`--config PATH`, else
//! `$CLAWFREE_CONFIG`, else `/etc/clawfree/config.json` when it exists) and then
//! command-line flags, which win. Unknown keys and bad values are refused where they
//! enter, with a message naming the key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use claw_free_protocol::provider::Provider;
use serde::Deserialize;

/// The config file read when neither `--config` nor `$CLAWFREE_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/clawfree/config.json";

/// The OpenClaw model refs set for one provider when setup finishes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    pub primary: String,
    #[serde(default)]
    pub alternatives: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the OpenAI-compatible API listens. Loopback only by design.
    pub listen: String,
    /// Where the conversation's stage is kept.
    pub state_dir: PathBuf,
    /// The provider the user picked on claw.free; read from `metadata_url` when unset.
    pub provider: Option<Provider>,
    /// The GCE metadata server, to read `LLM_PROVIDER` when `provider` is unset.
    pub metadata_url: Option<String>,
    pub claude: PathBuf,
    pub codex: PathBuf,
    pub openclaw: PathBuf,
    /// The user `claude`, `codex` and `openclaw` run as (the gateway's), so that the
    /// logins they write belong to OpenClaw; unset runs them as ourselves.
    pub cli_user: Option<String>,
    /// The VM agent (`clawfree-agent`), which owns the root-only secrets.
    pub agent: PathBuf,
    /// The socket of the agent's root service `serve-set-secret`. When set, `clawfree
    /// secret set` sends the secret there instead of running `agent`, because the
    /// gateway's user (who runs the skill) may not write the root-only secrets.
    pub agent_socket: Option<PathBuf>,
    /// The socket of the agent's root service `serve-propose` (GitHub mode with a
    /// repository): `clawfree propose` sends its pull request there.
    pub propose_socket: Option<PathBuf>,
    /// OpenClaw's JSON configuration.
    pub openclaw_config: PathBuf,
    /// The Setup model's API key (root-only; the VM agent makes it at first boot and
    /// writes it into OpenClaw's configuration). See `access`.
    pub api_key_file: PathBuf,
    /// The command that restarts the OpenClaw gateway, as argv.
    pub restart_gateway: Vec<String>,
    /// How long a sign-in may run before its processes are killed.
    pub login_timeout_secs: u64,
    /// How long to wait for a sign-in command to print its link.
    pub output_wait_secs: u64,
    /// How long to wait for `claude setup-token` to finish after the code was sent.
    pub code_wait_secs: u64,
    /// How long a message waits for a device sign-in to complete before answering.
    pub device_wait_secs: u64,
    /// How long an `openclaw` or restart command may run.
    pub command_timeout_secs: u64,
    /// The delay between the last setup answer and the gateway restart, so that the
    /// answer reaches the user before the gateway goes down.
    pub restart_delay_ms: u64,
    /// OpenClaw model refs per provider.
    pub models: HashMap<Provider, Models>,
    /// NVIDIA's OpenAI-compatible API, where Kimi runs (a stand-in's, in tests).
    pub nvidia_base_url: String,

    // The `clawfree` command's settings.
    /// The systemd units `clawfree status` reports and `logs`/`restart` accept.
    pub services: Vec<String>,
    /// The gateway's unit (the default for `clawfree restart`).
    pub gateway_service: String,
    /// This provider's unit, restarted by `clawfree switch-llm`.
    pub provider_service: String,
    /// OpenClaw's local health endpoint.
    pub health_url: String,
    pub systemctl: PathBuf,
    pub journalctl: PathBuf,
    /// The system that is running (a symlink into the Nix store).
    pub current_system: PathBuf,
    /// The newest CI-built system pushed to this VM (a symlink the push workflow sets).
    pub pushed_system: PathBuf,
    /// The system profile `clawfree update` adds a generation to.
    pub system_profile: PathBuf,
    pub nix_env: PathBuf,
    /// A root unit that runs `clawfree update --in-place`. When set, `clawfree update`
    /// starts it instead of switching itself, because the gateway's user (who runs
    /// the skill) may not change the system profile.
    pub update_service: Option<String>,
    /// The file system whose free space `clawfree status` reports.
    pub disk_path: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3456".into(),
            state_dir: "/var/lib/clawfree-provider".into(),
            provider: None,
            metadata_url: None,
            claude: "claude".into(),
            codex: "codex".into(),
            openclaw: "openclaw".into(),
            cli_user: None,
            agent: "clawfree-agent".into(),
            agent_socket: None,
            propose_socket: None,
            openclaw_config: "/var/lib/openclaw/.openclaw/openclaw.json".into(),
            api_key_file: "/var/lib/openclaw/setup-provider.key".into(),
            restart_gateway: ["systemctl", "restart", "openclaw-gateway.service"]
                .map(String::from)
                .to_vec(),
            login_timeout_secs: 600,
            output_wait_secs: 30,
            code_wait_secs: 60,
            device_wait_secs: 10,
            command_timeout_secs: 60,
            restart_delay_ms: 3000,
            models: default_models(),
            nvidia_base_url: crate::openclaw::NVIDIA_BASE_URL.into(),
            services: [
                "openclaw-gateway.service",
                "clawfree-provider.service",
                "clawfree-setup.service",
                "clawfree-watch-secrets.service",
                "clawfree-health.service",
            ]
            .map(String::from)
            .to_vec(),
            gateway_service: "openclaw-gateway.service".into(),
            provider_service: "clawfree-provider.service".into(),
            health_url: "http://127.0.0.1:18789/health".into(),
            systemctl: "systemctl".into(),
            journalctl: "journalctl".into(),
            current_system: "/run/current-system".into(),
            pushed_system: "/nix/var/nix/profiles/clawfree-pushed".into(),
            system_profile: "/nix/var/nix/profiles/system".into(),
            nix_env: "nix-env".into(),
            update_service: None,
            disk_path: "/".into(),
        }
    }
}

/// The model refs documented by OpenClaw (see nix/provider/README.md).
fn default_models() -> HashMap<Provider, Models> {
    let models = |primary: &str, alternatives: &[&str]| Models {
        primary: primary.into(),
        alternatives: alternatives.iter().map(|s| s.to_string()).collect(),
    };
    HashMap::from([
        (Provider::Claude, models("anthropic/claude-opus-5", &[])),
        (
            Provider::Openai,
            models("openai/gpt-5.5", &["openai/gpt-5.4-mini"]),
        ),
        (Provider::Kimi, models("nvidia/moonshotai/kimi-k2.5", &[])),
    ])
}

impl Config {
    /// The listen address, which must be on loopback: the Setup model must never be
    /// reachable from outside the VM (and on the VM, `access` checks every caller).
    pub fn listen_address(&self) -> Result<SocketAddr, String> {
        let address: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| format!("listen must be IP:PORT, got {:?}", self.listen))?;
        if address.ip().is_loopback() {
            Ok(address)
        } else {
            Err(format!(
                "listen must be a loopback address (127.0.0.1 or ::1), got {address}"
            ))
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs)
    }

    pub fn models_for(&self, provider: Provider) -> Models {
        self.models
            .get(&provider)
            .cloned()
            .unwrap_or_else(|| default_models()[&provider].clone())
    }

    /// Reads the file named by `--config`, `$CLAWFREE_CONFIG` or the default path, then
    /// applies the other leading flags. Returns the config and the arguments from the
    /// first operand on (a subcommand and its own options).
    pub fn from_args(args: &[String]) -> Result<(Self, Vec<String>), String> {
        let mut file: Option<PathBuf> = std::env::var_os("CLAWFREE_CONFIG").map(PathBuf::from);
        let mut flags = Vec::new();
        let mut rest = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            // Flags come first; from the first operand on, everything belongs to the
            // subcommand (`clawfree logs gateway --lines 50`).
            let Some(name) = arg.strip_prefix("--") else {
                rest.push(arg.clone());
                rest.extend(iter.cloned());
                break;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (name.to_string(), None),
            };
            let value = match inline {
                Some(v) => v,
                None => iter
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("--{name} needs a value"))?,
            };
            if name == "config" {
                file = Some(value.into());
            } else {
                flags.push((name, value));
            }
        }
        let mut config = match file {
            Some(path) => Self::load(&path)?,
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Self::load(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => Self::default(),
        };
        for (name, value) in flags {
            config.set(&name, value)?;
        }
        Ok((config, rest))
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the config {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("the config {} is invalid: {e}", path.display()))
    }

    /// Sets one field from a flag: `--state-dir DIR`, `--login-timeout-secs 5`, ...
    fn set(&mut self, flag: &str, value: String) -> Result<(), String> {
        let secs = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("--{flag} takes a whole number, got {v:?}"))
        };
        match flag {
            "listen" => self.listen = value,
            "state-dir" => self.state_dir = value.into(),
            "provider" => self.provider = Some(Provider::parse(&value)?),
            "metadata-url" => self.metadata_url = Some(value),
            "claude" => self.claude = value.into(),
            "codex" => self.codex = value.into(),
            "openclaw" => self.openclaw = value.into(),
            "agent" => self.agent = value.into(),
            "agent-socket" => self.agent_socket = Some(value.into()),
            "propose-socket" => self.propose_socket = Some(value.into()),
            "cli-user" => self.cli_user = Some(value),
            "openclaw-config" => self.openclaw_config = value.into(),
            "api-key-file" => self.api_key_file = value.into(),
            "restart-gateway" => {
                self.restart_gateway = value.split_whitespace().map(String::from).collect();
                if self.restart_gateway.is_empty() {
                    return Err("--restart-gateway needs a command".into());
                }
            }
            "login-timeout-secs" => self.login_timeout_secs = secs(&value)?,
            "output-wait-secs" => self.output_wait_secs = secs(&value)?,
            "code-wait-secs" => self.code_wait_secs = secs(&value)?,
            "device-wait-secs" => self.device_wait_secs = secs(&value)?,
            "command-timeout-secs" => self.command_timeout_secs = secs(&value)?,
            "restart-delay-ms" => self.restart_delay_ms = secs(&value)?,
            "gateway-service" => self.gateway_service = value,
            "provider-service" => self.provider_service = value,
            "health-url" => self.health_url = value,
            "nvidia-base-url" => self.nvidia_base_url = value,
            "systemctl" => self.systemctl = value.into(),
            "journalctl" => self.journalctl = value.into(),
            "current-system" => self.current_system = value.into(),
            "pushed-system" => self.pushed_system = value.into(),
            "system-profile" => self.system_profile = value.into(),
            "nix-env" => self.nix_env = value.into(),
            "update-service" => self.update_service = Some(value),
            "disk-path" => self.disk_path = value.into(),
            _ => return Err(format!("unknown option --{flag}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_override_the_file_and_leave_operands() {
        let dir = std::env::temp_dir().join(format!("cfp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.json");
        std::fs::write(
            &file,
            r#"{"listen":"127.0.0.1:1","provider":"kimi","models":{"kimi":{"primary":"nvidia/x"}}}"#,
        )
        .unwrap();
        let (c, rest) = Config::from_args(&args(&[
            "--config",
            file.to_str().unwrap(),
            "--listen=127.0.0.1:2",
            "logs",
            "gateway",
            "--lines",
            "5",
        ]))
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert_eq!(c.provider, Some(Provider::Kimi));
        assert_eq!(c.models_for(Provider::Kimi).primary, "nvidia/x");
        assert_eq!(c.models_for(Provider::Openai).primary, "openai/gpt-5.5");
        assert_eq!(rest, args(&["logs", "gateway", "--lines", "5"]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_name() {
        let err = Config::from_args(&args(&["--login-timeout-secs", "soon"])).unwrap_err();
        assert!(err.contains("--login-timeout-secs"), "{err}");
        assert!(Config::from_args(&args(&["--provider", "gemini"])).is_err());
        assert!(Config::from_args(&args(&["--frobnicate", "1"])).is_err());
        assert!(Config::from_args(&args(&["--listen"])).is_err());
        let (public, _) = Config::from_args(&args(&["--listen", "0.0.0.0:3456"])).unwrap();
        assert!(public.listen_address().unwrap_err().contains("loopback"));
        let (local, _) = Config::from_args(&args(&["--listen", "127.0.0.1:0"])).unwrap();
        assert!(local.listen_address().is_ok());
    }
}
