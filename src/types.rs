//! The values a person or Google hands the Worker, parsed at the edge into types that
//! cannot hold a bad value: a project id, a free-tier region and its zones, a bot name
//! and the VM name derived from it, a Telegram token, the wizard's choices.

use crate::error::ApiError;
pub use claw_free_protocol::metadata::TelegramUserId;
use claw_free_protocol::names::is_valid_resource_name;
pub use claw_free_protocol::provider::Provider;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused, in a sentence for the person who typed it. It becomes a
/// 400 where a request carried the value ([`From<Invalid> for ApiError`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

/// `value`, kept as a `T` by `wrap` when it `passed` its check; otherwise the
/// `reason` a person reads.
fn kept_if<T>(
    passed: bool,
    value: &str,
    wrap: fn(String) -> T,
    reason: &str,
) -> Result<T, Invalid> {
    if passed {
        Ok(wrap(value.to_string()))
    } else {
        Err(Invalid::new(reason))
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::BadRequest(invalid.0)
    }
}

/// What every checked string type shares: `as_str`, serde through `String` (a value
/// read back from storage is checked again by `parse`), and `Display`.
macro_rules! checked_string {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                Self::parse(&value).map_err(|e| e.message().to_string())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A Google Cloud project id: 6 to 30 lowercase letters, digits or `-`, starting with
/// a letter and not ending with `-` (older domain-scoped ids `example.com:name` are
/// accepted for existing projects).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let name = match value.split_once(':') {
            Some((domain, name)) if is_domain(domain) => name,
            Some(_) => return Err(invalid_project_id()),
            None => value,
        };
        if Self::is_valid_new(name) {
            Ok(Self(value.to_string()))
        } else {
            Err(invalid_project_id())
        }
    }

    /// The stricter rule for a project claw.free creates (no domain prefix).
    pub fn parse_new(value: &str) -> Result<Self, Invalid> {
        if Self::is_valid_new(value) {
            Ok(Self(value.to_string()))
        } else {
            Err(invalid_project_id())
        }
    }

    fn is_valid_new(name: &str) -> bool {
        (6..=30).contains(&name.len()) && is_valid_resource_name(name)
    }
}

fn is_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 63
        && domain.contains('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

fn invalid_project_id() -> Invalid {
    Invalid::new(
        "A project ID is 6 to 30 lowercase letters, digits or hyphens, starts with a letter and does not end with a hyphen.",
    )
}

checked_string!(ProjectId);

/// A project's display name: 4 to 30 letters, digits, spaces, `-`, `'`, `"` or `!`
/// (Resource Manager's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDisplayName(String);

impl ProjectDisplayName {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let value = value.trim();
        let ok = (4..=30).contains(&value.chars().count())
            && value
                .chars()
                .all(|c| c.is_alphanumeric() || " -'\"!".contains(c));
        kept_if(
            ok,
            value,
            Self,
            "A project name is 4 to 30 letters, digits, spaces, hyphens, quotes or exclamation marks.",
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One of the three regions where an e2-micro is in Google's free tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Region {
    UsWest1,
    UsCentral1,
    UsEast1,
}

impl Region {
    pub const ALL: [Region; 3] = [Region::UsWest1, Region::UsCentral1, Region::UsEast1];

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == value)
            .ok_or_else(|| {
                Invalid::new(
                    "The region must be one of the free-tier regions: us-west1, us-central1 or us-east1.",
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsWest1 => "us-west1",
            Self::UsCentral1 => "us-central1",
            Self::UsEast1 => "us-east1",
        }
    }

    /// The region's zones, in the order a deploy tries them.
    pub fn zones(self) -> &'static [&'static str] {
        match self {
            Self::UsWest1 => &["us-west1-b", "us-west1-a", "us-west1-c"],
            Self::UsCentral1 => &[
                "us-central1-a",
                "us-central1-b",
                "us-central1-c",
                "us-central1-f",
            ],
            Self::UsEast1 => &["us-east1-b", "us-east1-c", "us-east1-d"],
        }
    }

    pub fn first_zone(self) -> Zone {
        Zone(self.zones()[0].to_string())
    }

    /// The zone after `zone` in this region, if any is left.
    pub fn next_zone(self, zone: &Zone) -> Option<Zone> {
        let zones = self.zones();
        let at = zones.iter().position(|z| *z == zone.as_str())?;
        zones.get(at + 1).map(|z| Zone(z.to_string()))
    }
}

impl TryFrom<String> for Region {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value).map_err(|e| e.message().to_string())
    }
}

impl From<Region> for String {
    fn from(value: Region) -> Self {
        value.as_str().to_string()
    }
}

/// A zone of one of the free-tier regions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

impl Zone {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let known = Region::ALL.iter().any(|r| r.zones().contains(&value));
        kept_if(
            known,
            value,
            Self,
            "That is not a zone claw.free deploys to.",
        )
    }
}

checked_string!(Zone);

/// The name a person gives their bot, as they typed it (trimmed, one line, at most
/// 64 characters), together with the slug its VM name is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotName {
    display: String,
    slug: String,
}

/// The shortest and longest slug taken from a bot name.
pub const MIN_SLUG: usize = 3;
pub const MAX_SLUG: usize = 40;
const MAX_BOT_NAME_CHARS: usize = 64;

impl BotName {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let display = value.trim();
        if display.is_empty() {
            return Err(Invalid::new("Give your bot a name."));
        }
        if display.chars().count() > MAX_BOT_NAME_CHARS {
            return Err(Invalid::new(format!(
                "A bot name is at most {MAX_BOT_NAME_CHARS} characters."
            )));
        }
        if display.chars().any(char::is_control) {
            return Err(Invalid::new("A bot name is one line of text."));
        }
        let slug = slugify(display);
        if slug.len() < MIN_SLUG {
            return Err(Invalid::new(format!(
                "A bot name needs at least {MIN_SLUG} letters or digits (starting with a letter a-z) to make its server's name; \"{display}\" gives \"{slug}\"."
            )));
        }
        Ok(Self {
            display: display.to_string(),
            slug,
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    /// Lowercase letters, digits and single `-`, starting with a letter, 3 to 40 long.
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// The VM name: the slug, `-`, and six hex characters from `suffix`.
    pub fn vm_name(&self, suffix: [u8; 3]) -> VmName {
        let name = format!(
            "{}-{:02x}{:02x}{:02x}",
            self.slug, suffix[0], suffix[1], suffix[2]
        );
        debug_assert!(is_valid_resource_name(&name));
        VmName(name)
    }
}

/// The slug: ASCII-folded, lowercased, every run of other characters one `-`, leading
/// characters up to the first letter dropped, cut to 40 without a trailing `-`.
fn slugify(input: &str) -> String {
    let mut slug = String::new();
    for c in input.chars().flat_map(fold_to_ascii) {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || (c.is_ascii_digit() && !slug.is_empty()) {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG);
    while slug.ends_with('-') {
        slug.pop();
    }
    slug
}

/// Latin letters with accents become their base letter, so "Café" gives "cafe".
fn fold_to_ascii(c: char) -> impl Iterator<Item = char> {
    let folded: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => {
            "a"
        }
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' | 'č' | 'Č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        'š' | 'Š' => "s",
        'ž' | 'Ž' => "z",
        _ => "",
    };
    let keep = folded.is_empty().then_some(c);
    folded.chars().chain(keep)
}

/// A VM name claw.free created: always a valid GCE resource name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VmName(String);

impl VmName {
    /// Parses a VM name from a URL (the bot routes): any valid GCE name.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        kept_if(
            is_valid_resource_name(value),
            value,
            Self,
            "That is not a valid VM name.",
        )
    }
}

checked_string!(VmName);

/// A Telegram bot token from @BotFather: `<bot id>:<secret>`. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramToken(String);

impl TelegramToken {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let value = value.trim();
        let ok = value.split_once(':').is_some_and(|(id, secret)| {
            (5..=16).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_digit())
                && (30..=64).contains(&secret.len())
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        kept_if(
            ok,
            value,
            Self,
            "That does not look like a Telegram bot token. @BotFather gives one like 123456789:AAH...; paste it whole.",
        )
    }

    /// The token itself: only for the Telegram URL and the age plaintext.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TelegramToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TelegramToken(..)")
    }
}

/// The wizard's choices before sign-in, carried through OAuth into the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choices {
    pub provider: Provider,
    /// Only `telegram` today.
    pub channel: String,
    /// Only `gcp` today.
    pub cloud: String,
    pub region: Option<Region>,
}

impl Choices {
    /// Parses the sign-in link's query. Missing choices take the defaults the old
    /// frontend assumed (kimi, telegram, gcp).
    pub fn parse(
        provider: Option<&str>,
        channel: Option<&str>,
        cloud: Option<&str>,
        region: Option<&str>,
    ) -> Result<Self, Invalid> {
        let provider = Provider::parse(provider.unwrap_or("kimi")).map_err(Invalid)?;
        let channel = channel.unwrap_or("telegram");
        if channel != "telegram" {
            return Err(Invalid::new("Telegram is the only channel for now."));
        }
        let cloud = cloud.unwrap_or("gcp");
        if cloud != "gcp" {
            return Err(Invalid::new("Google Cloud is the only cloud for now."));
        }
        let region = region
            .filter(|r| !r.is_empty())
            .map(Region::parse)
            .transpose()?;
        Ok(Self {
            provider,
            channel: channel.to_string(),
            cloud: cloud.to_string(),
            region,
        })
    }

    /// The page's query string after sign-in: `provider=..&channel=..&cloud=..`.
    pub fn to_query(&self) -> String {
        let mut pairs = vec![
            ("provider", self.provider.as_str()),
            ("channel", self.channel.as_str()),
            ("cloud", self.cloud.as_str()),
        ];
        if let Some(region) = self.region {
            pairs.push(("region", region.as_str()));
        }
        crate::http::query_string(&pairs)
    }
}

#[cfg(test)]
mod tests;
