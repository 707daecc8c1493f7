//! Cloud Resource Manager v3: `projects:search` (ACTIVE projects the caller owns),
//! `projects.create` (an operation; a taken id is 409), `projects.get` and
//! `operations.get`.

use crate::clock::{now_ms, random_digits, rfc3339_utc};
use crate::errors::{bad_json, ApiResult, GoogleError};
use crate::http::{ok_json, Req};
use crate::oauth::{authenticate, SCOPE_PROJECTS, SCOPE_READ_ONLY};
use crate::operations::{get_lro, render_lro};
use crate::state::{LongRunningOperation, Project, ProjectSpec, ProjectState};
use crate::Sim;
use claw_free_protocol::google::ApiError;
use serde::Deserialize;
use serde_json::{json, Value};

const SERVICE: &str = "cloudresourcemanager.googleapis.com";

/// A project as v3 returns it.
pub fn render_project(project: &Project) -> Value {
    json!({
        "name": format!("projects/{}", project.number),
        "parent": "",
        "projectId": project.project_id,
        "state": project.state.as_str(),
        "displayName": project.display_name,
        "createTime": rfc3339_utc(project.created_ms),
        "updateTime": rfc3339_utc(project.created_ms),
        "etag": format!("W/\"{}\"", &project.number[..6]),
    })
}

/// The terms of a `projects:search` query this simulator understands.
struct SearchQuery {
    state: Option<ProjectState>,
    project_id: Option<String>,
}

impl SearchQuery {
    fn parse(query: &str) -> Result<Self, GoogleError> {
        let mut parsed = Self {
            state: None,
            project_id: None,
        };
        for term in query.split_whitespace().filter(|t| *t != "AND") {
            let (field, value) = term
                .split_once(':')
                .or_else(|| term.split_once('='))
                .ok_or_else(|| invalid_query(query))?;
            let value = value.trim_matches('"');
            match field.to_ascii_lowercase().as_str() {
                "state" | "lifecyclestate" => {
                    parsed.state =
                        Some(ProjectState::parse(value).ok_or_else(|| invalid_query(query))?)
                }
                "projectid" | "id" => parsed.project_id = Some(value.to_string()),
                _ => return Err(invalid_query(query)),
            }
        }
        Ok(parsed)
    }
}

fn invalid_query(query: &str) -> GoogleError {
    ApiError::new(
        400,
        "badRequest",
        format!("Request contains an invalid argument. Invalid query: {query:?}"),
    )
    .into()
}

/// `GET /v3/projects:search`.
pub fn search(sim: &Sim, req: &Req) -> ApiResult {
    let query = SearchQuery::parse(req.param("query").unwrap_or(""))?;
    let page_size: usize = req
        .number_param("pageSize", 1..=1000)
        .map_err(|_| ApiError::new(400, "badRequest", "Invalid page_size."))?
        .unwrap_or(500);
    let offset: usize = match req.param("pageToken") {
        None | Some("") => 0,
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::new(400, "badRequest", "Invalid page_token."))?,
    };
    let world = sim.world();
    let user = authenticate(&world, req, SERVICE, &[SCOPE_READ_ONLY])?;
    let now = now_ms();
    let wanted_state = query.state.unwrap_or(ProjectState::Active);
    let matching: Vec<Value> = world
        .projects
        .values()
        .filter(|p| p.owner_email == user.email && p.ready_at <= now)
        .filter(|p| p.state == wanted_state)
        .filter(|p| {
            query
                .project_id
                .as_ref()
                .is_none_or(|id| &p.project_id == id)
        })
        .map(render_project)
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(page_size)
        .cloned()
        .collect();
    // Google leaves out empty lists.
    let mut body = json!({});
    if !page.is_empty() {
        body["projects"] = Value::Array(page);
    }
    if offset + page_size < matching.len() {
        body["nextPageToken"] = json!((offset + page_size).to_string());
    }
    Ok(ok_json(&body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateProject {
    project_id: Option<String>,
    display_name: Option<String>,
    /// Accepted as Google does; the simulator has no organizations or project labels.
    #[serde(rename = "parent")]
    _parent: Option<String>,
    #[serde(rename = "labels")]
    _labels: Option<Value>,
}

/// Google's rule for project ids: 6 to 30 characters, a letter first, no trailing hyphen.
pub fn is_valid_project_id(id: &str) -> bool {
    let b = id.as_bytes();
    (6..=30).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn is_valid_display_name(name: &str) -> bool {
    (4..=30).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'' | '"' | '!'))
}

fn bad_field(field: &str, issue: &str) -> GoogleError {
    ApiError::new(
        400,
        "badRequest",
        format!("field [{field}] has issue [{issue}]"),
    )
    .with_error_info(
        "INVALID_ARGUMENT",
        "cloudresourcemanager.googleapis.com",
        json!({ "field": field }),
    )
    .into()
}

/// `POST /v3/projects`.
pub fn create(sim: &Sim, req: &Req) -> ApiResult {
    let body: CreateProject =
        serde_json::from_slice(&req.body).map_err(|e| bad_json(e.to_string()))?;
    let mut world = sim.world();
    let user = authenticate(&world, req, SERVICE, &[SCOPE_PROJECTS])?;
    let project_id = body.project_id.unwrap_or_default();
    if project_id.is_empty() {
        return Err(bad_field("project_id", "A project ID is required"));
    }
    if !is_valid_project_id(&project_id) {
        return Err(bad_field(
            "project_id",
            "project_id must be 6 to 30 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen",
        ));
    }
    let display_name = body.display_name.unwrap_or_else(|| project_id.clone());
    if !is_valid_display_name(&display_name) {
        return Err(bad_field(
            "display_name",
            "display_name must be 4 to 30 letters, digits, spaces, hyphens, quotes or exclamation marks",
        ));
    }
    if world.projects.contains_key(&project_id) {
        return Err(
            ApiError::new(409, "alreadyExists", "Requested entity already exists")
                .with_error_info(
                    "ALREADY_EXISTS",
                    SERVICE,
                    json!({ "projectId": project_id }),
                )
                .into(),
        );
    }
    let now = now_ms();
    let done_at = now + 2 * world.config.operation_step_ms;
    let billing = world.config.billing_for_new_projects;
    let project = render_project(world.add_project(ProjectSpec {
        project_id: &project_id,
        display_name: &display_name,
        owner_email: &user.email,
        compute_enabled: false,
        billing_enabled: billing,
        state: ProjectState::Active,
        ready_at: done_at,
    }));
    let name = format!("operations/cp.{}", random_digits(19));
    let mut response = project;
    response["@type"] = json!("type.googleapis.com/google.cloud.resourcemanager.v3.Project");
    let op = LongRunningOperation {
        name: name.clone(),
        owner_email: user.email,
        done_at,
        metadata: json!({
            "@type": "type.googleapis.com/google.cloud.resourcemanager.v3.CreateProjectMetadata",
            "createTime": rfc3339_utc(now),
            "gettable": true,
            "ready": true,
        }),
        response,
    };
    let rendered = render_lro(&op, now);
    world.lro.insert(name, op);
    Ok(ok_json(&rendered))
}

/// `GET /v3/projects/{id}`: 403 for projects the caller does not own, as Google hides them.
pub fn get(sim: &Sim, req: &Req, project_id: &str) -> ApiResult {
    let world = sim.world();
    let user = authenticate(&world, req, SERVICE, &[SCOPE_PROJECTS, SCOPE_READ_ONLY])?;
    let project = world
        .projects
        .get(project_id)
        .filter(|p| p.owner_email == user.email && p.ready_at <= now_ms())
        .or_else(|| {
            // Numbers work too: `projects/123`.
            world
                .projects
                .values()
                .find(|p| p.number == project_id && p.owner_email == user.email)
        })
        .ok_or_else(|| ApiError::new(403, "forbidden", "The caller does not have permission"))?;
    Ok(ok_json(&render_project(project)))
}

/// `GET /v3/operations/{id}`.
pub fn get_operation(sim: &Sim, req: &Req, id: &str) -> ApiResult {
    let world = sim.world();
    let user = authenticate(&world, req, SERVICE, &[SCOPE_PROJECTS, SCOPE_READ_ONLY])?;
    Ok(ok_json(&get_lro(
        &world,
        &format!("operations/{id}"),
        &user.email,
    )?))
}
