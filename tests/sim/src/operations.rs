//! Long-running operations and how time moves them: the Cloud APIs' `{name, done,
//! response|error}` and Compute's `compute#operation` (PENDING → RUNNING → DONE,
//! errors reported inside the finished operation).

use crate::clock::{now_ms, rfc3339_pacific};
use crate::compute::{link, zone_link};
use crate::errors::{self, GoogleError};
use crate::state::{ComputeOperation, LongRunningOperation, World};
use claw_free_protocol::google::{OperationError, OperationErrorItem};
use serde_json::{json, Value};

/// A Cloud API operation as `operations.get` returns it.
pub fn render_lro(op: &LongRunningOperation, now: u64) -> Value {
    let mut body = json!({ "name": op.name, "metadata": op.metadata });
    if now >= op.done_at {
        body["done"] = json!(true);
        body["response"] = op.response.clone();
    }
    // While running, `done` is left out: Google omits false booleans.
    body
}

/// `GET .../operations/{id}` for the Cloud APIs: the caller must be the one who started it.
pub fn get_lro(world: &World, name: &str, caller_email: &str) -> Result<Value, GoogleError> {
    match world.lro.get(name) {
        Some(op) if op.owner_email == caller_email => Ok(render_lro(op, now_ms())),
        Some(_) => Err(claw_free_protocol::google::ApiError::new(
            403,
            "forbidden",
            "The caller does not have permission",
        )
        .into()),
        None => Err(claw_free_protocol::google::ApiError::new(
            404,
            "notFound",
            format!("Operation '{name}' not found."),
        )
        .into()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpStatus {
    Pending,
    Running,
    Done,
}

impl OpStatus {
    pub fn of(op: &ComputeOperation, now: u64) -> Self {
        if now >= op.done_at {
            Self::Done
        } else if now >= op.running_at {
            Self::Running
        } else {
            Self::Pending
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Done => "DONE",
        }
    }
}

/// A Compute operation as Google returns it at `now`.
pub fn render_compute(op: &ComputeOperation, now: u64) -> Value {
    let status = OpStatus::of(op, now);
    let progress = match status {
        OpStatus::Pending => 0,
        OpStatus::Running => {
            let span = op.done_at.saturating_sub(op.running_at).max(1);
            (now.saturating_sub(op.running_at) * 100 / span).min(99)
        }
        OpStatus::Done => 100,
    };
    let zone = zone_link(&op.target.project, &op.target.zone);
    let mut body = json!({
        "kind": "compute#operation",
        "id": op.id,
        "name": op.name,
        "zone": zone,
        "operationType": op.kind.as_str(),
        "targetLink": link(&op.target.project, &format!("zones/{}/instances/{}", op.target.zone, op.target.instance)),
        "targetId": op.target_id,
        "status": status.as_str(),
        "user": op.user,
        "progress": progress,
        "insertTime": rfc3339_pacific(op.insert_ms),
        "selfLink": format!("{zone}/operations/{}", op.name),
    });
    if status != OpStatus::Pending {
        body["startTime"] = json!(rfc3339_pacific(op.running_at));
    }
    if status == OpStatus::Done {
        body["endTime"] = json!(rfc3339_pacific(op.done_at));
        if let Some(failure) = &op.failure {
            let error = OperationError {
                errors: vec![OperationErrorItem {
                    code: failure.code.clone(),
                    message: failure.message.clone(),
                }],
            };
            body["error"] = serde_json::to_value(error).unwrap_or(Value::Null);
            body["httpErrorStatusCode"] = json!(failure.http_status);
            body["httpErrorMessage"] = json!(http_reason(failure.http_status));
        }
    }
    body
}

fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "BAD REQUEST",
        403 => "FORBIDDEN",
        404 => "NOT FOUND",
        409 => "CONFLICT",
        429 => "TOO MANY REQUESTS",
        503 => "SERVICE UNAVAILABLE",
        _ => "INTERNAL SERVER ERROR",
    }
}

/// `zoneOperations.get` once the caller may read the project.
pub fn get_compute(
    world: &World,
    project: &str,
    zone: &str,
    name: &str,
) -> Result<Value, GoogleError> {
    world
        .compute_ops
        .get(&(project.to_string(), zone.to_string(), name.to_string()))
        .map(|op| render_compute(op, now_ms()))
        .ok_or_else(|| {
            errors::not_found(&format!(
                "projects/{project}/zones/{zone}/operations/{name}"
            ))
        })
}
