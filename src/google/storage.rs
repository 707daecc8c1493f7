//! Cloud Storage's JSON API as linking calls it: the private cache bucket (uniform
//! bucket-level access, public access prevention enforced, in the VM's region) and
//! grants on its IAM policy. Creating a bucket this project already owns is success, so
//! linking can run again; a name taken by anyone else is not.

use super::{Bearer, GoogleFailure};
use crate::http::{encode, Method, OutboundRequest};
use crate::ports::HttpClient;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bucket {
    #[serde(default)]
    project_number: String,
}

/// Whether a bucket could be made ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketReady {
    Created,
    /// It was there already, in this project.
    Existed,
    /// The name belongs to another project (bucket names are global).
    TakenElsewhere,
}

/// Cloud Storage's calls at `api`, with the caller's token: `bearer.storage(api)`.
pub struct Storage<'a, H> {
    bearer: Bearer<'a, H>,
    api: &'a str,
}

impl<'a, H: HttpClient> Bearer<'a, H> {
    pub fn storage(self, api: &'a str) -> Storage<'a, H> {
        Storage { bearer: self, api }
    }
}

impl<H: HttpClient> Storage<'_, H> {
    /// Creates `name` in `project` (number `project_number`), private, in `location`.
    pub async fn create_bucket(
        &self,
        project: &str,
        project_number: &str,
        name: &str,
        location: &str,
    ) -> Result<BucketReady, GoogleFailure> {
        let (api, bearer) = (self.api, self.bearer);
        let url = format!("{api}/storage/v1/b?project={}", encode(project));
        let body = json!({
            "name": name,
            "location": location,
            "storageClass": "STANDARD",
            "iamConfiguration": {
                "uniformBucketLevelAccess": { "enabled": true },
                "publicAccessPrevention": "enforced",
            },
        });
        match bearer.post_json::<Value>(url, &body).await {
            Ok(_) => Ok(BucketReady::Created),
            Err(GoogleFailure::AlreadyExists) => {
                let url = format!("{api}/storage/v1/b/{}", encode(name));
                match bearer.get_json::<Bucket>(url).await {
                    Ok(bucket) if bucket.project_number == project_number => {
                        Ok(BucketReady::Existed)
                    }
                    Ok(_) | Err(GoogleFailure::PermissionDenied(_)) => {
                        Ok(BucketReady::TakenElsewhere)
                    }
                    Err(other) => Err(other),
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Grants `role` to `member` on bucket `name` (`GET`/`PUT .../iam`, with the etag).
    pub async fn grant_on_bucket(
        &self,
        name: &str,
        role: &str,
        member: &str,
    ) -> Result<(), GoogleFailure> {
        let url = format!("{}/storage/v1/b/{}/iam", self.api, encode(name));
        self.bearer
            .grant_with(
                || OutboundRequest::get(url.clone()),
                |policy| {
                    let mut put = OutboundRequest::post_json(url.clone(), policy);
                    put.method = Method::Put;
                    put
                },
                role,
                member,
            )
            .await
    }
}
