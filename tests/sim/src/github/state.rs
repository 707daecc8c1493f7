//! What simulated GitHub remembers: users, GitHub Apps and their installations, the
//! tokens handed out (App user tokens, installation tokens), and repositories with
//! their files, branches and pull requests, environments, environment secrets (opened, so a test can read what a
//! client sealed) and Actions variables.

use crate::clock::{now_ms, random_token};
use std::collections::{BTreeMap, HashMap};

/// A GitHub account (a user; organizations are not modelled).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: u64,
    pub login: String,
    pub name: String,
    /// GitHub Pro (or better): protected branches on private repositories need it.
    pub pro: bool,
}

/// A registered GitHub App.
#[derive(Debug, Clone)]
pub struct App {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    /// Verifies the App's JWTs (GitHub keeps only the public half).
    pub public_key: rsa::RsaPublicKey,
    /// Where GitHub sends the browser after an installation.
    pub setup_url: String,
    /// The OAuth callback of the App's user authorization.
    pub callback_url: String,
    /// Repository permissions, e.g. `contents` → `write`.
    pub permissions: BTreeMap<String, String>,
    pub owner: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    All,
    Selected,
}

impl Selection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Selected => "selected",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Installation {
    pub id: u64,
    pub app_id: u64,
    /// The account it is installed on (and, here, the user who installed it).
    pub account: u64,
    pub selection: Selection,
    /// Repository ids when `selection` is `Selected`.
    pub repositories: Vec<u64>,
    pub created_ms: u64,
}

impl Installation {
    /// Whether the installation reaches this repository.
    pub fn covers(&self, repo: &Repo) -> bool {
        match self.selection {
            Selection::All => repo.owner == self.account,
            Selection::Selected => self.repositories.contains(&repo.id),
        }
    }
}

/// A token GitHub issued, and what it may do.
#[derive(Debug, Clone)]
pub enum Grant {
    /// `ghs_…`: an installation token, narrowed to some repositories and permissions.
    Installation {
        installation: u64,
        /// `None`: every repository the installation covers.
        repositories: Option<Vec<u64>>,
        permissions: BTreeMap<String, String>,
    },
    /// `ghu_…`: a user access token of a GitHub App (acts as the user, within the App).
    User { app_id: u64, user: u64 },
}

#[derive(Debug, Clone)]
pub struct Token {
    pub grant: Grant,
    pub expires_ms: u64,
}

/// An OAuth code of the App's user authorization, waiting to be exchanged.
#[derive(Debug, Clone)]
pub struct Code {
    pub app_id: u64,
    pub user: u64,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub expires_ms: u64,
}

#[derive(Debug, Clone)]
pub struct File {
    pub content: Vec<u8>,
    pub sha: String,
}

#[derive(Debug, Clone)]
pub struct Secret {
    /// What the client sealed, opened with the environment's private key.
    pub value: Vec<u8>,
    pub updated_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub id: u64,
    pub name: String,
    pub created_ms: u64,
    pub secrets: BTreeMap<String, Secret>,
}

#[derive(Debug, Clone)]
pub struct Variable {
    pub value: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: u64,
    pub owner: u64,
    pub name: String,
    pub private: bool,
    pub is_template: bool,
    pub description: String,
    pub created_ms: u64,
    /// The files of `main` (the only branch modelled), by path.
    pub files: BTreeMap<String, File>,
    /// How many commits `main` has had; each write is one.
    pub commits: u64,
    pub environments: BTreeMap<String, Environment>,
    pub variables: BTreeMap<String, Variable>,
    /// Branch protection, by branch: the rules as GitHub renders them.
    pub protection: BTreeMap<String, serde_json::Value>,
    /// Branches other than `main` ([`super::pulls`]).
    pub branches: BTreeMap<String, super::pulls::Branch>,
    pub pulls: Vec<super::pulls::Pull>,
}

/// The repository whose environments' secrets are sealed to this key pair. GitHub has
/// one pair per repository; its `key_id` changes when it is rotated.
#[derive(Clone)]
pub struct SealingKey {
    pub key_id: String,
    pub secret: crypto_box::SecretKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SealingKey {
    pub fn generate() -> Self {
        Self {
            key_id: crate::clock::random_digits(19),
            secret: crypto_box::SecretKey::generate(&mut rand_core::OsRng),
        }
    }
}

/// The whole of simulated GitHub.
#[derive(Debug)]
pub struct GitHub {
    pub accounts: Vec<Account>,
    pub apps: Vec<App>,
    pub installations: Vec<Installation>,
    pub tokens: HashMap<String, Token>,
    pub codes: HashMap<String, Code>,
    pub repos: Vec<Repo>,
    pub sealing_keys: HashMap<u64, SealingKey>,
    /// The account signed in on simulated github.com (whoever clicks "Install").
    pub signed_in: u64,
    /// The repositories (by name) the next installation is limited to; all when unset.
    pub install_choice: Option<Vec<String>>,
    /// How long installation tokens live (an hour, as on GitHub).
    pub installation_token_ttl_ms: u64,
    next_id: u64,
}

/// The template repository claw.free's linking flow generates owners' repositories from.
pub const TEMPLATE_OWNER: &str = "claw-free";
pub const TEMPLATE_REPO: &str = "bot-template";
/// The account every fresh simulator has signed in on github.com.
pub const DEFAULT_LOGIN: &str = "ada-lovelace";

impl Default for GitHub {
    fn default() -> Self {
        let mut gh = GitHub {
            accounts: Vec::new(),
            apps: Vec::new(),
            installations: Vec::new(),
            tokens: HashMap::new(),
            codes: HashMap::new(),
            repos: Vec::new(),
            sealing_keys: HashMap::new(),
            signed_in: 0,
            install_choice: None,
            installation_token_ttl_ms: super::app::INSTALLATION_TOKEN_TTL_MS,
            next_id: 1_000_000,
        };
        let ada = gh.add_account(DEFAULT_LOGIN, "Ada Lovelace");
        let org = gh.add_account(TEMPLATE_OWNER, "claw.free");
        gh.signed_in = ada;
        let template = gh.add_repo(org, TEMPLATE_REPO, false);
        if let Some(repo) = gh.repo_mut(template) {
            repo.is_template = true;
            repo.description = "An OpenClaw bot's system, built and rolled out by CI".into();
            for (path, text) in [
                ("flake.nix", "{ outputs = { self }: { }; }\n"),
                ("README.md", "# My OpenClaw bot\n"),
            ] {
                put_file(repo, path, text.as_bytes().to_vec());
            }
        }
        gh
    }
}

/// Writes a file on `main` as one commit and returns its new blob sha.
pub fn put_file(repo: &mut Repo, path: &str, content: Vec<u8>) -> String {
    let sha = blob_sha(&content);
    repo.files.insert(
        path.to_string(),
        File {
            content,
            sha: sha.clone(),
        },
    );
    repo.commits += 1;
    sha
}

/// Git's blob id: SHA-1 over `blob <len>\0<content>`; the simulator uses SHA-256 cut to
/// 40 hex digits, which has the same shape and is only ever compared, never recomputed.
pub fn blob_sha(content: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    hasher
        .finalize()
        .iter()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl GitHub {
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_account(&mut self, login: &str, name: &str) -> u64 {
        if let Some(a) = self.account_by_login(login) {
            return a.id;
        }
        let id = self.next_id();
        self.accounts.push(Account {
            id,
            login: login.to_string(),
            name: name.to_string(),
            pro: false,
        });
        id
    }

    pub fn account(&self, id: u64) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub fn account_by_login(&self, login: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.login.eq_ignore_ascii_case(login))
    }

    pub fn add_repo(&mut self, owner: u64, name: &str, private: bool) -> u64 {
        let id = self.next_id();
        self.repos.push(Repo {
            id,
            owner,
            name: name.to_string(),
            private,
            is_template: false,
            description: String::new(),
            created_ms: now_ms(),
            files: BTreeMap::new(),
            commits: 0,
            environments: BTreeMap::new(),
            variables: BTreeMap::new(),
            protection: BTreeMap::new(),
            branches: BTreeMap::new(),
            pulls: Vec::new(),
        });
        id
    }

    pub fn repo(&self, id: u64) -> Option<&Repo> {
        self.repos.iter().find(|r| r.id == id)
    }

    pub fn repo_mut(&mut self, id: u64) -> Option<&mut Repo> {
        self.repos.iter_mut().find(|r| r.id == id)
    }

    /// A repository by `owner/name` (GitHub compares both case-insensitively).
    pub fn repo_by_name(&self, owner: &str, name: &str) -> Option<&Repo> {
        let owner = self.account_by_login(owner)?.id;
        self.repos
            .iter()
            .find(|r| r.owner == owner && r.name.eq_ignore_ascii_case(name))
    }

    pub fn app(&self, id: u64) -> Option<&App> {
        self.apps.iter().find(|a| a.id == id)
    }

    pub fn installation(&self, id: u64) -> Option<&Installation> {
        self.installations.iter().find(|i| i.id == id)
    }

    /// A new token with this prefix (`ghs`, `ghu`, `ghr`).
    pub fn issue(&mut self, prefix: &str, grant: Grant, ttl_ms: u64) -> (String, u64) {
        let token = format!("{prefix}_{}", random_token(27).replace(['-', '_'], "x"));
        let expires_ms = now_ms() + ttl_ms;
        self.tokens
            .insert(token.clone(), Token { grant, expires_ms });
        (token, expires_ms)
    }

    /// The repository's sealing key, made on first use.
    pub fn sealing_key(&mut self, repo: u64) -> &SealingKey {
        self.sealing_keys
            .entry(repo)
            .or_insert_with(SealingKey::generate)
    }
}
