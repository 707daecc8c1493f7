//! The bot's owner after first boot: when the Worker adds or changes
//! `TELEGRAM_OWNER_ID` in instance metadata, the secret watcher narrows OpenClaw's
//! Telegram channel to that person and restarts the app.
//!
//! Only a valid id is applied. A removed key changes nothing (the bot keeps answering
//! only the last owner: never widened silently), a malformed one is logged and changes
//! nothing, and a declared configuration that says who may write is never overridden.

use std::fs;
use std::io;

use crate::bot_settings::{self, TelegramAccess};
use crate::context::Context;
use crate::fsutil::{self, PRIVATE_FILE};
use crate::log;
use crate::metadata::Attributes;
use crate::openclaw_config;

/// Applies the owner in `attributes`, if there is one to apply, and restarts the app
/// when the configuration changed.
pub fn follow(ctx: &Context, attributes: &Attributes) {
    let owner = match bot_settings::telegram_access(&ctx.options.declared, attributes) {
        Ok(TelegramAccess::Owner(owner)) => owner,
        Ok(TelegramAccess::Pairing | TelegramAccess::Declared) => return,
        Err(reason) => {
            log::event(
                "owner",
                &format!("{reason}; the Telegram access is unchanged"),
            );
            return;
        }
    };
    let existing = match fs::read(&ctx.paths.openclaw_config) {
        Ok(bytes) => bytes,
        // Setup writes the owner itself; nothing to narrow yet.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            log::event("owner", &format!("cannot read openclaw.json: {}", e.kind()));
            return;
        }
    };
    let written = openclaw_config::with_telegram_owner(&existing, owner).and_then(|updated| {
        updated
            .map(|bytes| {
                fsutil::write_atomic(&ctx.paths.openclaw_config, &bytes, PRIVATE_FILE)
                    .map_err(|e| format!("cannot write openclaw.json: {}", e.kind()))
            })
            .transpose()
    });
    match written {
        Ok(Some(())) => {
            log::event(
                "owner",
                &format!("Telegram now answers only its owner ({owner})"),
            );
            let _ = ctx.app.restart("the bot's owner changed");
        }
        Ok(None) => {}
        Err(reason) => log::event("owner", &reason),
    }
}
