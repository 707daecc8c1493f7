//! The simulator's counted routes as one type, for every service it stands in for
//! (Google's, GitHub's, Telegram's): [`Endpoint::parse`] turns a method and a path into
//! a route with its path parameters, [`Endpoint::name`] is its request counter (and
//! fault target) name, [`Endpoint::known_params`] the query parameters Google accepts
//! on it. `lib.rs` dispatches on it with one exhaustive `match`.
//!
//! Each route is declared once, in the table below: its variant, its counter name and
//! its query parameters. Adding a route is one line there, one arm in `parse` and
//! one in the dispatch; the compiler finds a missing arm.

use axum::http::Method;

use crate::state::VmKey;
use crate::telegram;

/// The instance a Compute or metadata-server route names, by its path's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstancePath<'a> {
    pub project: &'a str,
    pub zone: &'a str,
    pub instance: &'a str,
}

impl InstancePath<'_> {
    /// The key the world holds the instance under.
    pub fn key(&self) -> VmKey {
        VmKey::new(self.project, self.zone, self.instance)
    }
}

macro_rules! endpoints {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $($field:ident),* $(,)? })? $(($path:ident))?
            => $name:literal, $params:expr;
    )*) => {
        /// A route of Google's, GitHub's or Telegram's APIs that the simulator counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Endpoint<'a> {
            $($(#[$doc])* $variant $({ $($field: &'a str),* })? $(($path<'a>))?,)*
            /// `/bot{token}/{method}`: every Bot API method, served or not.
            Telegram { token: &'a str, method: &'a str },
        }

        impl Endpoint<'_> {
            /// The counter names of the routes declared in the table.
            const DECLARED: &'static [&'static str] = &[$($name),*];

            /// The request counter's name, which is also what a fault targets.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant { .. } => $name,)*
                    Self::Telegram { method, .. } => telegram::endpoint(method),
                }
            }

            /// The query parameters the route takes besides Google's standard ones;
            /// `None` for routes that are not Cloud APIs (no such check).
            pub fn known_params(&self) -> Option<&'static [&'static str]> {
                match self {
                    $(Self::$variant { .. } => $params,)*
                    Self::Telegram { .. } => None,
                }
            }
        }
    };
}

const NO_PARAMS: Option<&[&str]> = Some(&[]);
const REQUEST_ID: Option<&[&str]> = Some(&["requestId"]);
const IAM_LIST: Option<&[&str]> = Some(&["pageSize", "pageToken", "showDeleted"]);

endpoints! {
    OauthAuthorize => "oauth.authorize", None;
    OauthToken => "oauth.token", None;
    OauthUserinfo => "oauth.userinfo", None;
    OauthRevoke => "oauth.revoke", None;
    CrmProjectsSearch => "crm.projects.search", Some(&["query", "pageSize", "pageToken"]);
    CrmProjectsCreate => "crm.projects.create", NO_PARAMS;
    CrmProjectsGet { project } => "crm.projects.get", NO_PARAMS;
    CrmOperationsGet { operation } => "crm.operations.get", NO_PARAMS;
    ServicesGet { project, service } => "serviceusage.services.get", NO_PARAMS;
    ServicesEnable { project, service } => "serviceusage.services.enable", NO_PARAMS;
    ServiceusageOperationsGet { operation } => "serviceusage.operations.get", NO_PARAMS;
    InstancesInsert { project, zone } => "compute.instances.insert", REQUEST_ID;
    InstancesGet(InstancePath) => "compute.instances.get", NO_PARAMS;
    InstancesDelete(InstancePath) => "compute.instances.delete", REQUEST_ID;
    InstancesSetMetadata(InstancePath) => "compute.instances.setMetadata", REQUEST_ID;
    InstancesGetGuestAttributes(InstancePath) =>
        "compute.instances.getGuestAttributes", Some(&["queryPath", "variableKey"]);
    InstancesGetSerialPortOutput(InstancePath) =>
        "compute.instances.getSerialPortOutput", Some(&["port", "start"]);
    InstancesStop(InstancePath) =>
        "compute.instances.stop", Some(&["requestId", "discardLocalSsd"]);
    InstancesStart(InstancePath) => "compute.instances.start", REQUEST_ID;
    InstancesSetServiceAccount(InstancePath) =>
        "compute.instances.setServiceAccount", REQUEST_ID;
    InstancesGetIamPolicy(InstancePath) =>
        "compute.instances.getIamPolicy", Some(&["optionsRequestedPolicyVersion"]);
    InstancesSetIamPolicy(InstancePath) => "compute.instances.setIamPolicy", NO_PARAMS;
    ZoneOperationsGet { project, zone, operation } => "compute.zoneOperations.get", NO_PARAMS;
    InstancesAggregatedList { project } => "compute.instances.aggregatedList", Some(&[
        "filter",
        "maxResults",
        "pageToken",
        "orderBy",
        "returnPartialSuccess",
        "includeAllScopes",
        "serviceProjectNumber",
    ]);
    /// A VM's metadata server (`/_vm/{p}/{z}/{i}/computeMetadata/v1/...`), read.
    MetadataGet(InstancePath) => "metadata.get", None;
    /// A VM's metadata server, a guest attribute written.
    MetadataGuestAttributesPut(InstancePath) => "metadata.guestAttributes.put", None;
    StorageBucketsInsert => "storage.buckets.insert", None;
    StorageBucketsGet { bucket } => "storage.buckets.get", None;
    StorageBucketsGetIamPolicy { bucket } => "storage.buckets.getIamPolicy", None;
    StorageBucketsSetIamPolicy { bucket } => "storage.buckets.setIamPolicy", None;
    StorageObjectsList { bucket } => "storage.objects.list", None;
    StorageObjectsGet { bucket, object } => "storage.objects.get", None;
    StorageObjectsInsert { bucket } => "storage.objects.insert", None;
    CrmProjectsGetIamPolicy { project } => "crm.projects.getIamPolicy", NO_PARAMS;
    CrmProjectsSetIamPolicy { project } => "crm.projects.setIamPolicy", NO_PARAMS;
    IamPoolsCreate { project } =>
        "iam.workloadIdentityPools.create", Some(&["workloadIdentityPoolId"]);
    IamPoolsList { project } => "iam.workloadIdentityPools.list", IAM_LIST;
    IamPoolsGet { project, pool } => "iam.workloadIdentityPools.get", NO_PARAMS;
    IamPoolsOperationsGet { project, pool, operation } =>
        "iam.workloadIdentityPools.operations.get", NO_PARAMS;
    IamProvidersCreate { project, pool } =>
        "iam.workloadIdentityPools.providers.create", Some(&["workloadIdentityPoolProviderId"]);
    IamProvidersGet { project, pool, provider } =>
        "iam.workloadIdentityPools.providers.get", NO_PARAMS;
    IamProvidersOperationsGet { project, pool, provider, operation } =>
        "iam.workloadIdentityPools.providers.operations.get", NO_PARAMS;
    IamServiceAccountsCreate { project } => "iam.serviceAccounts.create", NO_PARAMS;
    IamServiceAccountsList { project } => "iam.serviceAccounts.list", IAM_LIST;
    IamServiceAccountsGet { project, account } => "iam.serviceAccounts.get", NO_PARAMS;
    IamServiceAccountsGetIamPolicy { project, account } =>
        "iam.serviceAccounts.getIamPolicy", NO_PARAMS;
    IamServiceAccountsSetIamPolicy { project, account } =>
        "iam.serviceAccounts.setIamPolicy", NO_PARAMS;
    /// `sts.googleapis.com/v1/token`.
    StsToken => "sts.token", NO_PARAMS;
    IamCredentialsGenerateAccessToken { account } =>
        "iamcredentials.serviceAccounts.generateAccessToken", NO_PARAMS;
    /// github.com's page that installs an App.
    GithubInstallationsNew { slug } => "github.installations.new", None;
    GithubOauthAuthorize => "github.oauth.authorize", None;
    GithubOauthAccessToken => "github.oauth.access_token", None;
    GithubAppsGet => "github.apps.get", None;
    GithubAppsInstallation { installation } => "github.apps.installation", None;
    GithubAppsAccessTokens { installation } => "github.apps.access_tokens", None;
    GithubUsersMe => "github.users.me", None;
    GithubUsersInstallations => "github.users.installations", None;
    GithubUsersInstallationRepositories { installation } =>
        "github.users.installation_repositories", None;
    GithubReposGet { owner, repo } => "github.repos.get", None;
    GithubReposGenerate { owner, repo } => "github.repos.generate", None;
    /// The file's path is the rest of the path (`Req::segments` from the fifth on).
    GithubContentsGet { owner, repo } => "github.repos.contents.get", None;
    GithubContentsPut { owner, repo } => "github.repos.contents.put", None;
    GithubEnvironmentsPut { owner, repo, environment } => "github.environments.put", None;
    GithubEnvironmentsPublicKey { owner, repo, environment } =>
        "github.environments.public_key", None;
    GithubEnvironmentsSecret { owner, repo, environment, secret } =>
        "github.environments.secret", None;
    GithubVariablesCreate { owner, repo } => "github.variables.create", None;
    GithubVariablesUpdate { owner, repo, variable } => "github.variables.update", None;
    GithubVariablesGet { owner, repo, variable } => "github.variables.get", None;
    GithubBranchProtectionPut { owner, repo, branch } => "github.branches.protection.put", None;
    GithubBranchProtectionGet { owner, repo, branch } => "github.branches.protection.get", None;
    /// The App's installation on a repository (with the App's JWT).
    GithubReposInstallation { owner, repo } => "github.repos.installation", None;
    /// The branch is the rest of the path (`Req::segments` from the seventh on).
    GithubGitRef { owner, repo } => "github.git.ref", None;
    GithubGitCreateRef { owner, repo } => "github.git.create_ref", None;
    /// The branch is the rest of the path (`Req::segments` from the seventh on).
    GithubGitDeleteRef { owner, repo } => "github.git.delete_ref", None;
    GithubPullsCreate { owner, repo } => "github.pulls.create", None;
}

impl<'a> Endpoint<'a> {
    /// The route `method` and the path's segments name, or `None` for a route the
    /// simulator does not count (a 404 or 405 of its own).
    pub fn parse(method: &Method, s: &[&'a str]) -> Option<Self> {
        let get = method == Method::GET;
        let post = method == Method::POST;
        let put = method == Method::PUT;
        let delete = method == Method::DELETE;
        let patch = method == Method::PATCH;
        Some(match *s {
            ["o", "oauth2", "v2", "auth"] if get => Self::OauthAuthorize,
            ["token"] if post => Self::OauthToken,
            ["v1", "userinfo"] | ["oauth2", "v3", "userinfo"] if get || post => Self::OauthUserinfo,
            ["revoke"] | ["o", "oauth2", "revoke"] if post => Self::OauthRevoke,
            ["v3", "projects:search"] if get => Self::CrmProjectsSearch,
            ["v3", "projects"] if post => Self::CrmProjectsCreate,
            ["v3", "projects", project] if get => Self::CrmProjectsGet { project },
            ["v3", "operations", operation] if get => Self::CrmOperationsGet { operation },
            ["v1", "projects", project, "services", service] if post => Self::ServicesEnable {
                project,
                service: service.strip_suffix(":enable")?,
            },
            ["v1", "projects", project, "services", service] if get => {
                Self::ServicesGet { project, service }
            }
            ["v1", "operations", operation] if get => Self::ServiceusageOperationsGet { operation },
            ["compute", "v1", "projects", project, "zones", zone, "instances"] if post => {
                Self::InstancesInsert { project, zone }
            }
            ["compute", "v1", "projects", project, "zones", zone, "instances", instance, ref action @ ..] =>
            {
                let at = InstancePath {
                    project,
                    zone,
                    instance,
                };
                match *action {
                    [] if get => Self::InstancesGet(at),
                    [] if delete => Self::InstancesDelete(at),
                    ["setMetadata"] if post => Self::InstancesSetMetadata(at),
                    ["getGuestAttributes"] if get => Self::InstancesGetGuestAttributes(at),
                    ["serialPort"] if get => Self::InstancesGetSerialPortOutput(at),
                    ["stop"] if post => Self::InstancesStop(at),
                    ["start"] if post => Self::InstancesStart(at),
                    ["setServiceAccount"] if post => Self::InstancesSetServiceAccount(at),
                    ["getIamPolicy"] if get => Self::InstancesGetIamPolicy(at),
                    ["setIamPolicy"] if post => Self::InstancesSetIamPolicy(at),
                    _ => return None,
                }
            }
            ["compute", "v1", "projects", project, "zones", zone, "operations", operation]
                if get =>
            {
                Self::ZoneOperationsGet {
                    project,
                    zone,
                    operation,
                }
            }
            ["compute", "v1", "projects", project, "aggregated", "instances"] if get => {
                Self::InstancesAggregatedList { project }
            }
            [bot, method] if (get || post) && bot.starts_with("bot") => Self::Telegram {
                token: &bot["bot".len()..],
                method,
            },
            ["_vm", project, zone, instance, "computeMetadata", "v1", ..] if get || put => {
                let at = InstancePath {
                    project,
                    zone,
                    instance,
                };
                if put {
                    Self::MetadataGuestAttributesPut(at)
                } else {
                    Self::MetadataGet(at)
                }
            }
            ["storage", "v1", "b"] if post => Self::StorageBucketsInsert,
            ["storage", "v1", "b", bucket] if get => Self::StorageBucketsGet { bucket },
            ["storage", "v1", "b", bucket, "iam"] if get => {
                Self::StorageBucketsGetIamPolicy { bucket }
            }
            ["storage", "v1", "b", bucket, "iam"] if put => {
                Self::StorageBucketsSetIamPolicy { bucket }
            }
            ["storage", "v1", "b", bucket, "o"] if get => Self::StorageObjectsList { bucket },
            ["storage", "v1", "b", bucket, "o", object] if get => {
                Self::StorageObjectsGet { bucket, object }
            }
            // POST: a media upload or a resumable session's start; PUT: its chunks.
            ["upload", "storage", "v1", "b", bucket, "o"] if post || put => {
                Self::StorageObjectsInsert { bucket }
            }
            ["v1" | "v3", "projects", p] if post => match p.rsplit_once(':')? {
                (project, "getIamPolicy") => Self::CrmProjectsGetIamPolicy { project },
                (project, "setIamPolicy") => Self::CrmProjectsSetIamPolicy { project },
                _ => return None,
            },
            ["v1", "projects", project, "locations", "global", "workloadIdentityPools", ref rest @ ..] => {
                match *rest {
                    [] if post => Self::IamPoolsCreate { project },
                    [] if get => Self::IamPoolsList { project },
                    [pool] if get => Self::IamPoolsGet { project, pool },
                    [pool, "operations", operation] if get => Self::IamPoolsOperationsGet {
                        project,
                        pool,
                        operation,
                    },
                    [pool, "providers"] if post => Self::IamProvidersCreate { project, pool },
                    [pool, "providers", provider] if get => Self::IamProvidersGet {
                        project,
                        pool,
                        provider,
                    },
                    [pool, "providers", provider, "operations", operation] if get => {
                        Self::IamProvidersOperationsGet {
                            project,
                            pool,
                            provider,
                            operation,
                        }
                    }
                    _ => return None,
                }
            }
            ["v1", "projects", project, "serviceAccounts"] if post => {
                Self::IamServiceAccountsCreate { project }
            }
            ["v1", "projects", project, "serviceAccounts"] if get => {
                Self::IamServiceAccountsList { project }
            }
            ["v1", "projects", project, "serviceAccounts", a] => match a.rsplit_once(':') {
                None if get => Self::IamServiceAccountsGet {
                    project,
                    account: a,
                },
                Some((account, "getIamPolicy")) if post => {
                    Self::IamServiceAccountsGetIamPolicy { project, account }
                }
                Some((account, "setIamPolicy")) if post => {
                    Self::IamServiceAccountsSetIamPolicy { project, account }
                }
                Some((account, "generateAccessToken")) if post => {
                    Self::IamCredentialsGenerateAccessToken { account }
                }
                _ => return None,
            },
            ["v1", "token"] if post => Self::StsToken,
            ["apps", slug, "installations", "new"] if get => Self::GithubInstallationsNew { slug },
            ["login", "oauth", "authorize"] if get => Self::GithubOauthAuthorize,
            ["login", "oauth", "access_token"] if post => Self::GithubOauthAccessToken,
            ["app"] if get => Self::GithubAppsGet,
            ["app", "installations", installation] if get => {
                Self::GithubAppsInstallation { installation }
            }
            ["app", "installations", installation, "access_tokens"] if post => {
                Self::GithubAppsAccessTokens { installation }
            }
            ["user"] if get => Self::GithubUsersMe,
            ["user", "installations"] if get => Self::GithubUsersInstallations,
            ["user", "installations", installation, "repositories"] if get => {
                Self::GithubUsersInstallationRepositories { installation }
            }
            ["repos", owner, repo, "branches", branch, "protection"] if put => {
                Self::GithubBranchProtectionPut {
                    owner,
                    repo,
                    branch,
                }
            }
            ["repos", owner, repo, "branches", branch, "protection"] if get => {
                Self::GithubBranchProtectionGet {
                    owner,
                    repo,
                    branch,
                }
            }
            ["repos", owner, repo] if get => Self::GithubReposGet { owner, repo },
            ["repos", owner, repo, "generate"] if post => Self::GithubReposGenerate { owner, repo },
            ["repos", owner, repo, "installation"] if get => {
                Self::GithubReposInstallation { owner, repo }
            }
            ["repos", owner, repo, "git", "ref", "heads", _, ..] if get => {
                Self::GithubGitRef { owner, repo }
            }
            ["repos", owner, repo, "git", "refs"] if post => {
                Self::GithubGitCreateRef { owner, repo }
            }
            ["repos", owner, repo, "git", "refs", "heads", _, ..] if method == Method::DELETE => {
                Self::GithubGitDeleteRef { owner, repo }
            }
            ["repos", owner, repo, "pulls"] if post => Self::GithubPullsCreate { owner, repo },
            ["repos", owner, repo, "contents", _, ..] if get => {
                Self::GithubContentsGet { owner, repo }
            }
            ["repos", owner, repo, "contents", _, ..] if put => {
                Self::GithubContentsPut { owner, repo }
            }
            ["repos", owner, repo, "environments", environment] if put => {
                Self::GithubEnvironmentsPut {
                    owner,
                    repo,
                    environment,
                }
            }
            ["repos", owner, repo, "environments", environment, "secrets", "public-key"] if get => {
                Self::GithubEnvironmentsPublicKey {
                    owner,
                    repo,
                    environment,
                }
            }
            ["repos", owner, repo, "environments", environment, "secrets", secret] if put => {
                Self::GithubEnvironmentsSecret {
                    owner,
                    repo,
                    environment,
                    secret,
                }
            }
            ["repos", owner, repo, "actions", "variables"] if post => {
                Self::GithubVariablesCreate { owner, repo }
            }
            ["repos", owner, repo, "actions", "variables", variable] if patch => {
                Self::GithubVariablesUpdate {
                    owner,
                    repo,
                    variable,
                }
            }
            ["repos", owner, repo, "actions", "variables", variable] if get => {
                Self::GithubVariablesGet {
                    owner,
                    repo,
                    variable,
                }
            }
            _ => return None,
        })
    }

    /// Whether a path the simulator does not serve is GitHub-shaped, so its 404 comes
    /// in GitHub's format.
    pub fn is_github_path(s: &[&str]) -> bool {
        matches!(s, ["app" | "user" | "repos" | "apps" | "login", ..])
    }
}

/// Every counter name, in the order the table declares them, then Telegram's.
pub fn names() -> Vec<&'static str> {
    let mut names = Endpoint::DECLARED.to_vec();
    names.extend(telegram::ENDPOINTS);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(method: Method, path: &'a str) -> Option<Endpoint<'a>> {
        let segments: Vec<&'a str> = path.trim_start_matches('/').split('/').collect();
        Endpoint::parse(&method, &segments)
    }

    #[test]
    fn routes_carry_their_path_parameters() {
        assert_eq!(
            parse(
                Method::POST,
                "/compute/v1/projects/p/zones/z/instances/i/stop"
            ),
            Some(Endpoint::InstancesStop(InstancePath {
                project: "p",
                zone: "z",
                instance: "i"
            }))
        );
        assert_eq!(
            parse(
                Method::POST,
                "/v1/projects/p/services/compute.googleapis.com:enable"
            ),
            Some(Endpoint::ServicesEnable {
                project: "p",
                service: "compute.googleapis.com"
            })
        );
        assert_eq!(
            parse(Method::GET, "/bot123:abc/getMe").map(|e| e.name()),
            Some("telegram.getMe")
        );
        assert_eq!(
            parse(Method::POST, "/v3/projects/claw-demo:setIamPolicy"),
            Some(Endpoint::CrmProjectsSetIamPolicy {
                project: "claw-demo"
            })
        );
        assert_eq!(
            parse(
                Method::POST,
                "/v1/projects/-/serviceAccounts/ci@p.iam.gserviceaccount.com:generateAccessToken"
            ),
            Some(Endpoint::IamCredentialsGenerateAccessToken {
                account: "ci@p.iam.gserviceaccount.com"
            })
        );
        assert_eq!(
            parse(
                Method::GET,
                "/v1/projects/123/locations/global/workloadIdentityPools/claw/providers/gh/operations/x"
            ),
            Some(Endpoint::IamProvidersOperationsGet {
                project: "123",
                pool: "claw",
                provider: "gh",
                operation: "x"
            })
        );
        assert_eq!(
            parse(Method::PUT, "/repos/ada/bot/contents/a/b.nix"),
            Some(Endpoint::GithubContentsPut {
                owner: "ada",
                repo: "bot"
            })
        );
        assert_eq!(
            parse(Method::PATCH, "/repos/ada/bot/actions/variables/X").map(|e| e.name()),
            Some("github.variables.update")
        );
    }

    #[test]
    fn a_known_path_with_another_method_or_action_is_not_a_route() {
        assert_eq!(
            parse(Method::PUT, "/compute/v1/projects/p/zones/z/instances/i"),
            None
        );
        assert_eq!(
            parse(
                Method::POST,
                "/compute/v1/projects/p/zones/z/instances/i/reset"
            ),
            None
        );
        assert_eq!(
            parse(
                Method::POST,
                "/v1/projects/p/services/compute.googleapis.com"
            ),
            None
        );
        assert_eq!(parse(Method::DELETE, "/repos/ada/bot"), None);
        assert_eq!(parse(Method::GET, "/repos/ada/bot/contents"), None);
        assert_eq!(
            parse(Method::POST, "/v3/projects/p:testIamPermissions"),
            None
        );
        assert!(Endpoint::is_github_path(&["repos", "ada", "bot"]));
        assert!(!Endpoint::is_github_path(&["v1", "token"]));
    }

    /// The counter names docs/CONTRACTS.md lists are exactly the routes' names.
    #[test]
    fn the_contract_lists_every_counter_name() {
        let contracts = include_str!("../../../docs/CONTRACTS.md");
        let start = contracts
            .find("Counter names: ")
            .expect("docs/CONTRACTS.md has its counter names");
        let end = start
            + contracts[start..]
                .find(".\n")
                .expect("the list ends with a period");
        let mut listed: Vec<&str> = contracts[start + "Counter names: ".len()..end]
            .split(',')
            .map(|n| n.trim().trim_matches('`'))
            .collect();
        let mut expected = names();
        listed.sort_unstable();
        expected.sort_unstable();
        assert_eq!(listed, expected);
    }
}
