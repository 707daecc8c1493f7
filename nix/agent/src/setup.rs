//! First boot: from instance metadata to OpenClaw's configuration, once.
//!
//! Everything is built in a staging folder inside the state folder (same filesystem, so
//! renames are atomic), moved into place, and the completion marker is written last.
//! A crash at any step leaves no marker; the next run throws the staging folder away and
//! starts again, so it converges instead of tripping over half-done work. With the
//! marker present, setup never rewrites the configuration (the bootstrap provider edits
//! it later), it only withdraws the previous boot's `ready`, keeps the Telegram channel
//! pointed at the gateway's token credential, and republishes the recipient and the
//! setup state.

use std::fs;

use claw_free_protocol::guest::{self, SetupState};
use claw_free_protocol::metadata::SecretName;
use claw_free_protocol::provider::Provider;
use serde::Serialize;

use crate::bot_settings::BotSettings;
use crate::context::Context;
use crate::fault::crash_point;
use crate::fsutil::{self, PRIVATE_DIR, PRIVATE_FILE, SHARED_DIR};
use crate::host_key::HostKey;
use crate::log;
use crate::metadata::Persistence;
use crate::openclaw_config::{self, ClawFreeConfig};
use crate::paths::{CLAW_FREE_CONFIG, OPENCLAW_CONFIG};
use crate::provider_key;
use crate::secrets;

/// The steps of a first setup, in order; each is a crash point for the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Metadata,
    Recipient,
    Staging,
    Config,
    InstallSecrets,
    InstallConfig,
    Marker,
}

impl Step {
    #[cfg(test)]
    pub const ALL: [Step; 7] = [
        Step::Metadata,
        Step::Recipient,
        Step::Staging,
        Step::Config,
        Step::InstallSecrets,
        Step::InstallConfig,
        Step::Marker,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Metadata => "metadata",
            Step::Recipient => "recipient",
            Step::Staging => "staging",
            Step::Config => "config",
            Step::InstallSecrets => "install-secrets",
            Step::InstallConfig => "install-config",
            Step::Marker => "marker",
        }
    }

    fn enter(self) {
        crash_point(self.name());
    }
}

/// What the completion marker records.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Marker<'a> {
    provider: Provider,
    bot_name: &'a str,
}

/// Runs setup. On a failure a person must fix, publishes `setup=failed:<reason>`.
pub fn run(ctx: &Context) -> Result<(), String> {
    // A write cut short by a crash leaves a private temporary; nothing else needs it.
    for dir in [&ctx.paths.state_dir, &ctx.paths.secrets_dir] {
        if let Err(e) = fsutil::remove_stale_temporaries(dir) {
            log::event(
                "setup",
                &format!(
                    "cannot clear temporaries in {}: {}",
                    dir.display(),
                    e.kind()
                ),
            );
        }
    }
    let result = if ctx.paths.setup_complete() {
        log::event(
            "setup",
            "already complete; republishing the recipient and state",
        );
        // Guest attributes outlive a reboot: the `ready` of the previous boot still
        // stands, and it speaks for a system that has not started yet. Take it back
        // before anything else, so the Worker never reads `ready` for a configuration
        // this boot has not checked; health publishes `ready` again once the app
        // answers.
        publish_state(ctx, &SetupState::Configuring)?;
        // A configuration written by an older agent may name the root-only secret
        // file, which the gateway cannot read; setup runs before the gateway at each
        // boot, so pointing it at the credential here converges every VM.
        secrets::point_config_at_token(&ctx.paths)?;
        publish_recipient(ctx)
    } else {
        first_setup(ctx)
    };
    match result {
        Ok(()) => {
            let state = if ctx.paths.secret(&SecretName::telegram_token()).is_file() {
                SetupState::Starting
            } else {
                SetupState::WaitingSecret
            };
            publish_state(ctx, &state)
        }
        Err(reason) => {
            log::event("setup", &format!("failed: {reason}"));
            let _ = ctx.metadata.publish(
                guest::SETUP,
                &SetupState::Failed(reason.clone()).to_string(),
                Persistence::Attempts(5),
            );
            Err(reason)
        }
    }
}

fn first_setup(ctx: &Context) -> Result<(), String> {
    let paths = &ctx.paths;
    Step::Metadata.enter();
    let (attributes, _) = ctx.metadata.attributes();
    let settings = BotSettings::resolve(&ctx.options.declared, &attributes)?;
    publish_state(ctx, &SetupState::Configuring)?;

    Step::Recipient.enter();
    publish_recipient(ctx)?;

    Step::Staging.enter();
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("{what}: {}", e.kind())
    };
    // The gateway's user passes through it to its own folder; what is private in it is
    // private by its own mode (the secrets folder, the configuration).
    fsutil::ensure_dir(&paths.state_dir, SHARED_DIR)
        .map_err(io("cannot create the state folder"))?;
    // Whatever a crashed run left here is incomplete by definition: start over.
    fsutil::remove_tree(&paths.staging_dir).map_err(io("cannot clear the staging folder"))?;
    let staged_secrets = paths.staging_dir.join("secrets");
    fsutil::ensure_dir(&paths.staging_dir, PRIVATE_DIR)
        .map_err(io("cannot create the staging folder"))?;
    fsutil::ensure_dir(&staged_secrets, PRIVATE_DIR)
        .map_err(io("cannot create the secrets folder"))?;

    Step::Config.enter();
    let provider_key = provider_key::load_or_create(&paths.provider_key)
        .map_err(io("cannot make the bootstrap provider's key"))?;
    // The configuration names the token as the unprivileged gateway reads it: its
    // systemd credential, a copy of the secret file made when the gateway starts.
    // What a declarative flake renders is written over the agent's own settings.
    let openclaw = openclaw_config::render_over_base(
        &openclaw_config::bootstrap(
            settings.bot_name.as_str(),
            &paths.gateway_token_file,
            settings.access,
            &provider_key,
        ),
        ctx.options.declared.base_config.as_ref(),
    );
    let claw_free = openclaw_config::render(&ClawFreeConfig {
        provider: settings.provider,
        bot_name: settings.bot_name.as_str(),
    });
    fsutil::write_atomic(
        &paths.staging_dir.join(OPENCLAW_CONFIG),
        &openclaw,
        PRIVATE_FILE,
    )
    .map_err(io("cannot write openclaw.json"))?;
    fsutil::write_atomic(
        &paths.staging_dir.join(CLAW_FREE_CONFIG),
        &claw_free,
        PRIVATE_FILE,
    )
    .map_err(io("cannot write claw-free.json"))?;

    Step::InstallSecrets.enter();
    if paths.secrets_dir.is_dir() {
        // A secret set locally (or a previous run) may already be there: keep it.
        fsutil::ensure_dir(&paths.secrets_dir, PRIVATE_DIR)
            .map_err(io("cannot fix the secrets folder"))?;
    } else {
        fs::rename(&staged_secrets, &paths.secrets_dir)
            .map_err(io("cannot install the secrets folder"))?;
    }

    Step::InstallConfig.enter();
    for name in [CLAW_FREE_CONFIG, OPENCLAW_CONFIG] {
        fs::rename(paths.staging_dir.join(name), paths.state_dir.join(name))
            .map_err(io("cannot install the configuration"))?;
    }
    if paths.secret(&SecretName::telegram_token()).is_file() {
        log::event("setup", "a Telegram token is already stored");
    }
    fsutil::sync_dir(&paths.state_dir).map_err(io("cannot sync the state folder"))?;
    fsutil::remove_tree(&paths.staging_dir).map_err(io("cannot remove the staging folder"))?;

    Step::Marker.enter();
    let marker = openclaw_config::render(&Marker {
        provider: settings.provider,
        bot_name: settings.bot_name.as_str(),
    });
    fsutil::write_atomic(&paths.setup_marker, &marker, PRIVATE_FILE)
        .map_err(io("cannot write the setup marker"))?;
    log::event(
        "setup",
        &format!(
            "configured for provider {} (bootstrap model first); Telegram answers {}",
            settings.provider, settings.access
        ),
    );
    Ok(())
}

fn publish_recipient(ctx: &Context) -> Result<(), String> {
    let key = HostKey::load(&ctx.paths.host_key, &ctx.paths.host_key_pub)?;
    ctx.metadata
        .publish(
            guest::RECIPIENT,
            key.recipient(),
            Persistence::UntilAnswered,
        )
        .map_err(|e| e.to_string())
}

pub fn publish_state(ctx: &Context, state: &SetupState) -> Result<(), String> {
    log::event("setup", &format!("state {state}"));
    ctx.metadata
        .publish(guest::SETUP, &state.to_string(), Persistence::UntilAnswered)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_distinct() {
        let mut names: Vec<_> = Step::ALL.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Step::ALL.len());
    }
}
