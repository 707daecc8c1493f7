//! Service Usage v1: a service's state, enabling it (an operation; refused like Google
//! when the project has no billing account), and its operations.

use crate::clock::{now_ms, random_token};
use crate::errors::{ApiResult, GoogleError};
use crate::http::{ok_json, Req};
use crate::oauth::{authenticate, SCOPE_READ_ONLY, SCOPE_SERVICE_MANAGEMENT};
use crate::operations::{get_lro, render_lro};
use crate::state::{LongRunningOperation, Project, World};
use crate::Sim;
use claw_free_protocol::google::ApiError;
use serde_json::{json, Value};

const SERVICE: &str = "serviceusage.googleapis.com";
pub const COMPUTE: &str = "compute.googleapis.com";

/// Services a project can ask about; all but Compute and the IAM family
/// (`crate::iam::OFF_BY_DEFAULT`) are always on in the simulator.
const KNOWN: &[(&str, &str)] = &[
    (COMPUTE, "Compute Engine API"),
    (
        "cloudresourcemanager.googleapis.com",
        "Cloud Resource Manager API",
    ),
    ("serviceusage.googleapis.com", "Service Usage API"),
    ("oslogin.googleapis.com", "Cloud OS Login API"),
    (crate::iam::IAM, "Identity and Access Management (IAM) API"),
    (
        crate::iam::IAM_CREDENTIALS,
        "IAM Service Account Credentials API",
    ),
    (crate::iam::STS, "Security Token Service API"),
    // On in every new Google project.
    ("storage.googleapis.com", "Cloud Storage API"),
];

fn render_service(project: &Project, service: &str, title: &str, enabled: bool) -> Value {
    json!({
        "name": format!("projects/{}/services/{service}", project.number),
        "parent": format!("projects/{}", project.number),
        "config": { "name": service, "title": title },
        "state": if enabled { "ENABLED" } else { "DISABLED" },
    })
}

/// When the service is (or becomes) enabled in the project; `None` while disabled.
fn enabled_at(world: &World, project: &Project, service: &str) -> Option<u64> {
    if service == COMPUTE {
        project.compute_enabled_at
    } else {
        world.iam.enabled_at(&project.project_id, service)
    }
}

fn is_enabled(world: &World, project: &Project, service: &str, now: u64) -> bool {
    enabled_at(world, project, service).is_some_and(|at| at <= now)
}

/// The project (by id or number) if the caller owns it; Google answers 403 otherwise.
fn owned<'w>(
    world: &'w World,
    project: &str,
    email: &str,
    service: &str,
) -> Result<&'w Project, GoogleError> {
    let now = now_ms();
    world
        .projects
        .values()
        .find(|p| (p.project_id == project || p.number == project) && p.ready_at <= now)
        .filter(|p| p.owner_email == email)
        .ok_or_else(|| {
            ApiError::new(
                403,
                "forbidden",
                format!("Permission denied to get service [{service}]"),
            )
            .with_error_info(
                "AUTH_PERMISSION_DENIED",
                SERVICE,
                json!({ "permission": "serviceusage.services.get" }),
            )
            .into()
        })
}

fn known(service: &str) -> Result<&'static str, GoogleError> {
    KNOWN
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, title)| *title)
        .ok_or_else(|| {
            ApiError::new(
                403,
                "forbidden",
                format!("Not found or permission denied for service(s): {service}."),
            )
            .with_error_info(
                "SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED",
                SERVICE,
                json!({ "services": service }),
            )
            .into()
        })
}

/// `GET /v1/projects/{p}/services/{s}`.
pub fn get(sim: &Sim, req: &Req, project: &str, service: &str) -> ApiResult {
    let world = sim.world();
    let user = authenticate(
        &world,
        req,
        SERVICE,
        &[SCOPE_SERVICE_MANAGEMENT, SCOPE_READ_ONLY],
    )?;
    let project = owned(&world, project, &user.email, service)?;
    let title = known(service)?;
    Ok(ok_json(&render_service(
        project,
        service,
        title,
        is_enabled(&world, project, service, now_ms()),
    )))
}

/// `POST /v1/projects/{p}/services/{s}:enable`.
pub fn enable(sim: &Sim, req: &Req, project_id: &str, service: &str) -> ApiResult {
    let mut world = sim.world();
    let user = authenticate(&world, req, SERVICE, &[SCOPE_SERVICE_MANAGEMENT])?;
    let project = owned(&world, project_id, &user.email, service)?.clone();
    let title = known(service)?;
    let now = now_ms();
    if service == COMPUTE && !project.billing_enabled {
        return Err(billing_not_found(&project.number, service));
    }
    let enabled_service = render_service(&project, service, title, true);
    let response = json!({
        "@type": "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse",
        "service": enabled_service,
    });
    if enabled_at(&world, &project, service).is_some() {
        // Enabling an enabled service (or one being enabled) finishes at once; like
        // Google, the change may take a moment more to reach Compute.
        let op = LongRunningOperation {
            name: "operations/noop.DONE_OPERATION".into(),
            owner_email: user.email,
            done_at: 0,
            metadata: json!({}),
            response,
        };
        return Ok(ok_json(&render_lro(&op, now)));
    }
    let done_at = now + 2 * world.config.operation_step_ms;
    if service == COMPUTE {
        if let Some(p) = world.projects.get_mut(&project.project_id) {
            p.compute_enabled_at = Some(done_at);
        }
    } else {
        world
            .iam
            .enabled
            .insert((project.project_id.clone(), service.to_string()), done_at);
    }
    let name = format!("operations/acf.p2-{}-{}", project.number, random_token(12));
    let op = LongRunningOperation {
        name: name.clone(),
        owner_email: user.email,
        done_at,
        metadata: json!({ "@type": "type.googleapis.com/google.protobuf.Empty" }),
        response,
    };
    let rendered = render_lro(&op, now);
    world.lro.insert(name, op);
    Ok(ok_json(&rendered))
}

/// Google's refusal to enable a paid service in a project without a billing account.
fn billing_not_found(number: &str, service: &str) -> GoogleError {
    let message = format!(
        "Billing account for project '{number}' is not found. Billing must be enabled for activation of service(s) '{service}' to proceed."
    );
    let mut error = ApiError::new(400, "failedPrecondition", message.clone())
        .with_status("FAILED_PRECONDITION")
        .with_error_info(
            "UREQ_PROJECT_BILLING_NOT_FOUND",
            SERVICE,
            json!({
                "project": number,
                "services": service,
                "reason": message,
                "billing_console_url": format!("https://console.cloud.google.com/billing/linkedaccount?project={number}"),
            }),
        );
    error.error.details.insert(
        0,
        json!({
            "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
            "violations": [{
                "type": "googleapis.com/billing-enabled",
                "subject": format!("?error_code=390001&project={number}&services={service}"),
                "description": message,
            }],
        }),
    );
    error.into()
}

/// `GET /v1/operations/{id}`.
pub fn get_operation(sim: &Sim, req: &Req, id: &str) -> ApiResult {
    let world = sim.world();
    let user = authenticate(&world, req, SERVICE, &[SCOPE_SERVICE_MANAGEMENT])?;
    let name = format!("operations/{id}");
    if name == "operations/noop.DONE_OPERATION" {
        return Ok(ok_json(
            &json!({ "name": name, "done": true, "response": { "@type": "type.googleapis.com/google.api.serviceusage.v1.EnableServiceResponse" } }),
        ));
    }
    Ok(ok_json(&get_lro(&world, &name, &user.email)?))
}
