//! Delivering a secret to a VM, encrypted to the VM's own key, inside the one request
//! that received it, and the trust in that key.
//!
//! The VM publishes its age recipient as the `openclaw/recipient` guest attribute,
//! which any process on the VM can overwrite. So the first recipient seen is pinned
//! in instance metadata (`openclaw-recipient`), which the VM cannot write, in the
//! same `setMetadata` that carries the first ciphertext; every later secret is
//! encrypted to the pinned key, and a VM that publishes another one is refused until
//! the owner re-keys from the bot list ([`rekey`]). Only `ssh-ed25519` keys (the
//! VM's SSH host key) are accepted. The armored ciphertext goes into the instance
//! metadata (`openclaw-secret-<name>` and `openclaw-secret-version`) with the
//! metadata fingerprint. Nothing is stored: the plaintext lives only in this request.

use crate::app::App;
use crate::crypto;
use crate::error::ApiError;
use crate::google::compute::{GuestAttributes, Instance, InstanceRef, Metadata, MetadataItem};
use crate::google::{AccessToken, GoogleFailure};
use crate::ports::Platform;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use claw_free_protocol::labels;
use claw_free_protocol::metadata::{self, SecretName, MAX_SECRET_CIPHERTEXT, PINNED_RECIPIENT};

/// How many times a metadata write is tried when the fingerprint moved under it.
pub const MAX_ATTEMPTS: usize = 3;

/// A key a secret may be encrypted to: an `ssh-ed25519` public key, kept as
/// `ssh-ed25519 <base64>` (a comment after it is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRecipient(String);

impl VmRecipient {
    /// The SSH wire encoding of an Ed25519 key: the type's length and name, then
    /// the 32-byte key's length.
    const BLOB_PREFIX: &'static [u8] = b"\0\0\0\x0bssh-ed25519\0\0\0\x20";

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let (Some("ssh-ed25519"), Some(key)) = (parts.next(), parts.next()) else {
            return None;
        };
        let blob = STANDARD.decode(key).ok()?;
        let well_formed =
            blob.len() == Self::BLOB_PREFIX.len() + 32 && blob.starts_with(Self::BLOB_PREFIX);
        well_formed.then(|| Self(format!("ssh-ed25519 {key}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which key the VM's secrets go to, and whether it is to be pinned now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Trust {
    /// Pinned earlier, and the VM publishes the same key (or nothing, as after a
    /// restart, before the agent published it again).
    Pinned(VmRecipient),
    /// Nothing pinned yet: the key the VM publishes, pinned with this write.
    FirstSeen(VmRecipient),
}

impl Trust {
    fn recipient(&self) -> &VmRecipient {
        match self {
            Self::Pinned(r) | Self::FirstSeen(r) => r,
        }
    }
}

fn pinned_recipient(metadata: &Metadata) -> Option<&str> {
    metadata
        .items
        .iter()
        .find(|item| item.key == PINNED_RECIPIENT)
        .map(|item| item.value.as_str())
}

/// Why no key can be trusted for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distrust {
    /// The VM publishes another key than the pinned one.
    Changed,
    /// The pinned value in metadata is not a key (someone with project access edited it).
    DamagedPin,
    /// Nothing pinned, and the VM publishes a key that is not `ssh-ed25519`.
    Unusable,
    /// Nothing pinned, and the VM has published no key yet.
    NotYet,
}

impl Distrust {
    pub fn message(self) -> &'static str {
        match self {
            Self::Changed => "This bot's VM now publishes a different encryption key than the one claw.free trusted for it, so nothing was sent. If you rebuilt or restored the VM, confirm its new key from your bot list (Trust the new key), then send the token again. Otherwise something on the VM may be trying to read your token.",
            Self::DamagedPin => "claw.free's record of this VM's encryption key was changed and is not a key. Confirm the VM's key from your bot list (Trust the new key), then send the token again.",
            Self::Unusable => "The VM published an encryption key claw.free cannot use (only ssh-ed25519 keys are accepted). Its serial output may say why.",
            Self::NotYet => "The VM has not published its encryption key yet. It does so a minute or two after it starts; try again then.",
        }
    }
}

impl From<Distrust> for ApiError {
    fn from(distrust: Distrust) -> Self {
        ApiError::Conflict(distrust.message().into())
    }
}

/// Decides which key to encrypt to, from the pinned key and the published one.
fn trust(metadata: &Metadata, published: Option<&str>) -> Result<Trust, Distrust> {
    let published_key = published.map(VmRecipient::parse);
    match pinned_recipient(metadata) {
        Some(pinned) => {
            let pinned = VmRecipient::parse(pinned).ok_or(Distrust::DamagedPin)?;
            match published_key {
                None => Ok(Trust::Pinned(pinned)),
                Some(Some(now)) if now == pinned => Ok(Trust::Pinned(pinned)),
                Some(_) => Err(Distrust::Changed),
            }
        }
        None => match published_key {
            Some(Some(key)) => Ok(Trust::FirstSeen(key)),
            Some(None) => Err(Distrust::Unusable),
            None => Err(Distrust::NotYet),
        },
    }
}

/// Whether the VM publishes another key than the pinned one, or the pin is damaged
/// (the bot list offers to trust the key it publishes then).
pub fn key_changed(metadata: &Metadata, published: Option<&str>) -> bool {
    matches!(
        trust(metadata, published),
        Err(Distrust::Changed | Distrust::DamagedPin)
    )
}

/// Encrypts `plaintext` to the VM and writes it into the VM's metadata as secret
/// `name`. Returns the new secret version (unix milliseconds, always above the
/// previous one), which the VM publishes as `openclaw/secret-version` once applied.
///
/// 404 when the VM is not a claw.free bot, 409 while it is not running, has not
/// published its key yet, or publishes another key than the pinned one.
pub async fn deliver<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
    name: &SecretName,
    plaintext: &str,
) -> Result<u64, ApiError> {
    let attributes = app
        .google(token)
        .compute()
        .guest_attributes(instance)
        .await
        .map_err(|failure| failure.into_api_error(app.config, Some(instance.project.as_str())))?;
    deliver_to(app, token, instance, &attributes, name, plaintext).await
}

/// [`deliver`] to the key in `attributes`, guest attributes the caller has just read
/// (a status poll has them already, so it spends no call on them again).
pub async fn deliver_to<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
    attributes: &GuestAttributes,
    name: &SecretName,
    plaintext: &str,
) -> Result<u64, ApiError> {
    let vm = bot_instance(app, token, instance).await?;
    refuse_linked(&vm.metadata)?;
    if !vm.is_running() {
        return Err(ApiError::Conflict(
            "The VM is not running. Start it, wait a minute for it to boot, then send the token again.".into(),
        ));
    }
    let published = attributes.recipient().map(str::to_string);
    let mut version = 0;
    write_metadata(app, token, instance, vm, |current| {
        let trust = trust(current, published.as_deref()).map_err(ApiError::from)?;
        let armored =
            crypto::age_encrypt(app.platform, trust.recipient().as_str(), plaintext.as_bytes())
                .map_err(|_| {
                    ApiError::Conflict(
                        "The VM published an encryption key claw.free cannot use. Its serial output may say why.".into(),
                    )
                })?;
        if armored.len() > MAX_SECRET_CIPHERTEXT {
            return Err(ApiError::bad_request("That secret is too long."));
        }
        version = next_version(current, app.platform.now_ms());
        let mut updated = with_secret(current, name, &armored, version);
        if let Trust::FirstSeen(key) = &trust {
            updated = with_item(&updated, PINNED_RECIPIENT, key.as_str());
        }
        Ok(updated)
    })
    .await?;
    Ok(version)
}

/// A bot linked to a GitHub repository takes its secrets from the repository, never
/// through metadata: the repository is what the VM's system and its secrets roll back
/// with.
fn refuse_linked(metadata: &Metadata) -> Result<(), ApiError> {
    let linked = metadata
        .items
        .iter()
        .find(|item| item.key == crate::github::plan::METADATA_KEY)
        .and_then(|item| crate::github::plan::LinkedMetadata::parse(&item.value));
    match linked {
        Some(link) => Err(ApiError::Conflict(format!(
            "This bot is linked to the GitHub repository {}, so its Telegram token lives there, encrypted to the VM, as {}. Encrypt the new token to secrets/recipients and commit it (the repository's secrets/README.md shows how); the bot picks it up with the next rollout.",
            link.repository,
            crate::github::plan::TELEGRAM_TOKEN_FILE
        ))),
        None => Ok(()),
    }
}

/// The key the VM's secrets go to: the pinned one, or the one the VM publishes, pinned
/// now when nothing was (the same trust as for a delivery). `None` while the VM has
/// published no key yet.
pub async fn trusted_recipient<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
) -> Result<Option<VmRecipient>, ApiError> {
    let vm = bot_instance(app, token, instance).await?;
    let attributes = if vm.is_running() {
        app.google(token)
            .compute()
            .guest_attributes(instance)
            .await
            .map_err(|failure| {
                failure.into_api_error(app.config, Some(instance.project.as_str()))
            })?
    } else {
        GuestAttributes::default()
    };
    match trust(&vm.metadata, attributes.recipient()) {
        Ok(Trust::Pinned(key)) => Ok(Some(key)),
        Ok(Trust::FirstSeen(key)) => {
            write_metadata(app, token, instance, vm, |current| {
                Ok(with_item(current, PINNED_RECIPIENT, key.as_str()))
            })
            .await?;
            Ok(Some(key))
        }
        Err(Distrust::NotYet) => Ok(None),
        Err(distrust) => Err(ApiError::Conflict(distrust.message().into())),
    }
}

/// `POST /api/bots/:project/:zone/:vm/rekey`: the owner trusts the key the VM
/// publishes now (after rebuilding or restoring it). Returns the key trusted.
pub async fn rekey<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
) -> Result<VmRecipient, ApiError> {
    let google = |failure: GoogleFailure| {
        failure.into_api_error(app.config, Some(instance.project.as_str()))
    };
    let vm = bot_instance(app, token, instance).await?;
    if !vm.is_running() {
        return Err(ApiError::Conflict(
            "The VM is not running, so it publishes no key. Start it, wait a minute, then try again.".into(),
        ));
    }
    let attributes = app
        .google(token)
        .compute()
        .guest_attributes(instance)
        .await
        .map_err(google)?;
    let key = attributes
        .recipient()
        .and_then(VmRecipient::parse)
        .ok_or_else(|| {
            ApiError::Conflict(
                "The VM publishes no ssh-ed25519 encryption key right now. Wait a minute after it starts, then try again.".into(),
            )
        })?;
    write_metadata(app, token, instance, vm, |current| {
        Ok(with_item(current, PINNED_RECIPIENT, key.as_str()))
    })
    .await?;
    Ok(key)
}

/// Writes the metadata `update` makes from the current one, reading it again and
/// retrying when the fingerprint moved under the write.
pub(crate) async fn write_metadata<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
    mut vm: Instance,
    mut update: impl FnMut(&Metadata) -> Result<Metadata, ApiError>,
) -> Result<(), ApiError> {
    let mut attempt = 1;
    loop {
        let updated = update(&vm.metadata)?;
        match app
            .google(token)
            .compute()
            .set_metadata(instance, &updated)
            .await
        {
            Ok(_) => return Ok(()),
            Err(GoogleFailure::FingerprintMismatch) if attempt < MAX_ATTEMPTS => {
                attempt += 1;
                vm = bot_instance(app, token, instance).await?;
            }
            Err(failure) => {
                return Err(failure.into_api_error(app.config, Some(instance.project.as_str())))
            }
        }
    }
}

/// The instance, if it is a claw.free bot; a user's other VMs are never touched.
pub async fn bot_instance<P: Platform>(
    app: &App<'_, P>,
    token: &AccessToken,
    instance: &InstanceRef,
) -> Result<Instance, ApiError> {
    let not_a_bot = || {
        ApiError::NotFound(
            "There is no claw.free bot with that name in this project and zone.".into(),
        )
    };
    match app.google(token).compute().get(instance).await {
        Ok(vm) if is_bot(&vm) => Ok(vm),
        Ok(_) | Err(GoogleFailure::NotFound(_)) => Err(not_a_bot()),
        Err(failure) => Err(failure.into_api_error(app.config, Some(instance.project.as_str()))),
    }
}

/// Whether a VM carries the label claw.free puts on every bot.
pub fn is_bot(vm: &Instance) -> bool {
    vm.labels.get(labels::MANAGED).map(String::as_str) == Some(labels::MANAGED_VALUE)
}

/// A version above both the clock and the version already in metadata, so the agent
/// always sees a newer one even if clocks disagree.
fn next_version(current: &Metadata, now_ms: u64) -> u64 {
    let previous = current
        .items
        .iter()
        .find(|item| item.key == metadata::SECRET_VERSION)
        .and_then(|item| item.value.trim().parse::<u64>().ok())
        .unwrap_or(0);
    now_ms.max(previous + 1)
}

/// The metadata with the secret's ciphertext and the version set, every other item
/// kept, and the fingerprint Google checks.
fn with_secret(current: &Metadata, name: &SecretName, armored: &str, version: u64) -> Metadata {
    let with_ciphertext = with_item(current, &name.metadata_key(), armored);
    with_item(
        &with_ciphertext,
        metadata::SECRET_VERSION,
        &version.to_string(),
    )
}

/// The metadata with `key` set to `value`, every other item kept.
pub(crate) fn with_item(current: &Metadata, key: &str, value: &str) -> Metadata {
    let mut items: Vec<MetadataItem> = current
        .items
        .iter()
        .filter(|item| item.key != key)
        .cloned()
        .collect();
    items.push(MetadataItem {
        key: key.to_string(),
        value: value.to_string(),
    });
    Metadata {
        fingerprint: current.fingerprint.clone(),
        items,
    }
}

#[cfg(test)]
mod tests;
