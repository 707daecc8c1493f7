//! The simulator's counted routes as one type: [`Endpoint::parse`] turns a method and
//! a path into a route with its path parameters, [`Endpoint::name`] is its request
//! counter (and fault target) name, [`Endpoint::known_params`] the query parameters
//! Google accepts on it. `lib.rs` dispatches on it with one exhaustive `match`.
//!
//! Each route is declared once, in the table below: its variant, its counter name and
//! its query parameters. Adding a route is one line there, one arm in `parse` and
//! one in the dispatch; the compiler finds a missing arm.

use axum::http::Method;

use crate::telegram;

macro_rules! endpoints {
    ($(
        $(#[$doc:meta])*
        $variant:ident $({ $($field:ident),* $(,)? })? => $name:literal, $params:expr;
    )*) => {
        /// A route of Google's or Telegram's APIs that the simulator counts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Endpoint<'a> {
            $($(#[$doc])* $variant $({ $($field: &'a str),* })?,)*
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
    InstancesGet { project, zone, instance } => "compute.instances.get", NO_PARAMS;
    InstancesDelete { project, zone, instance } => "compute.instances.delete", REQUEST_ID;
    InstancesSetMetadata { project, zone, instance } => "compute.instances.setMetadata", REQUEST_ID;
    InstancesGetGuestAttributes { project, zone, instance } =>
        "compute.instances.getGuestAttributes", Some(&["queryPath", "variableKey"]);
    InstancesGetSerialPortOutput { project, zone, instance } =>
        "compute.instances.getSerialPortOutput", Some(&["port", "start"]);
    InstancesStop { project, zone, instance } =>
        "compute.instances.stop", Some(&["requestId", "discardLocalSsd"]);
    InstancesStart { project, zone, instance } => "compute.instances.start", REQUEST_ID;
    InstancesSetServiceAccount { project, zone, instance } =>
        "compute.instances.setServiceAccount", REQUEST_ID;
    InstancesGetIamPolicy { project, zone, instance } =>
        "compute.instances.getIamPolicy", Some(&["optionsRequestedPolicyVersion"]);
    InstancesSetIamPolicy { project, zone, instance } => "compute.instances.setIamPolicy", NO_PARAMS;
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
    MetadataGet { project, zone, instance } => "metadata.get", None;
    /// A VM's metadata server, a guest attribute written.
    MetadataGuestAttributesPut { project, zone, instance } => "metadata.guestAttributes.put", None;
    StorageBucketsInsert => "storage.buckets.insert", None;
    StorageBucketsGet { bucket } => "storage.buckets.get", None;
    StorageBucketsGetIamPolicy { bucket } => "storage.buckets.getIamPolicy", None;
    StorageBucketsSetIamPolicy { bucket } => "storage.buckets.setIamPolicy", None;
    StorageObjectsList { bucket } => "storage.objects.list", None;
    StorageObjectsGet { bucket, object } => "storage.objects.get", None;
    StorageObjectsInsert { bucket } => "storage.objects.insert", None;
}

impl<'a> Endpoint<'a> {
    /// The route `method` and the path's segments name, or `None` for a route the
    /// simulator does not count (a 404 or 405 of its own).
    pub fn parse(method: &Method, s: &[&'a str]) -> Option<Self> {
        let get = method == Method::GET;
        let post = method == Method::POST;
        let put = method == Method::PUT;
        let delete = method == Method::DELETE;
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
            ["compute", "v1", "projects", project, "zones", zone, "instances", instance] if get => {
                Self::InstancesGet {
                    project,
                    zone,
                    instance,
                }
            }
            ["compute", "v1", "projects", project, "zones", zone, "instances", instance]
                if delete =>
            {
                Self::InstancesDelete {
                    project,
                    zone,
                    instance,
                }
            }
            ["compute", "v1", "projects", project, "zones", zone, "instances", instance, action] => {
                match action {
                    "setMetadata" if post => Self::InstancesSetMetadata {
                        project,
                        zone,
                        instance,
                    },
                    "getGuestAttributes" if get => Self::InstancesGetGuestAttributes {
                        project,
                        zone,
                        instance,
                    },
                    "serialPort" if get => Self::InstancesGetSerialPortOutput {
                        project,
                        zone,
                        instance,
                    },
                    "stop" if post => Self::InstancesStop {
                        project,
                        zone,
                        instance,
                    },
                    "start" if post => Self::InstancesStart {
                        project,
                        zone,
                        instance,
                    },
                    "setServiceAccount" if post => Self::InstancesSetServiceAccount {
                        project,
                        zone,
                        instance,
                    },
                    "getIamPolicy" if get => Self::InstancesGetIamPolicy {
                        project,
                        zone,
                        instance,
                    },
                    "setIamPolicy" if post => Self::InstancesSetIamPolicy {
                        project,
                        zone,
                        instance,
                    },
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
            ["_vm", project, zone, instance, "computeMetadata", "v1", ..] if put => {
                Self::MetadataGuestAttributesPut {
                    project,
                    zone,
                    instance,
                }
            }
            ["_vm", project, zone, instance, "computeMetadata", "v1", ..] if get => {
                Self::MetadataGet {
                    project,
                    zone,
                    instance,
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
            ["upload", "storage", "v1", "b", bucket, "o"] if post => {
                Self::StorageObjectsInsert { bucket }
            }
            _ => return None,
        })
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
            Some(Endpoint::InstancesStop {
                project: "p",
                zone: "z",
                instance: "i"
            })
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
