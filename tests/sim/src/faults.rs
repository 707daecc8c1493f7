//! Injected faults: per endpoint (a counter name), an HTTP error with an optional
//! body, a latency, a probability and a number of times; or, for `instances.insert`,
//! a failure reported inside the finished operation (zone exhausted, quota).

use crate::state::OperationFailure;
use serde::Deserialize;
use serde_json::Value;

/// `POST /_admin/faults` as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRequest {
    pub endpoint: String,
    pub status: Option<u16>,
    pub body: Option<Value>,
    pub probability: Option<f64>,
    pub latency_ms: Option<u64>,
    pub times: Option<u32>,
    pub operation_error: Option<OperationErrorRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperationErrorRequest {
    pub code: String,
    pub message: Option<String>,
}

/// What a fault does to a matching request.
#[derive(Debug, Clone)]
pub enum FaultEffect {
    /// Answer with this status and body instead of the real answer.
    Respond { status: u16, body: Option<Value> },
    /// Let `instances.insert` succeed, then fail its operation.
    FailOperation(OperationFailure),
    /// Only the latency.
    Delay,
}

#[derive(Debug, Clone)]
pub struct Fault {
    pub endpoint: String,
    pub effect: FaultEffect,
    pub probability: f64,
    pub latency_ms: u64,
    /// How many more requests it hits; `None` for every one.
    pub remaining: Option<u32>,
}

impl Fault {
    pub fn parse(request: FaultRequest) -> Result<Self, String> {
        if !crate::endpoint::names().contains(&request.endpoint.as_str()) {
            return Err(format!(
                "unknown endpoint {:?}; use one of: {}",
                request.endpoint,
                crate::endpoint::names().join(", ")
            ));
        }
        let probability = request.probability.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&probability) {
            return Err("probability must be between 0 and 1".into());
        }
        if request.times == Some(0) {
            return Err("times must be at least 1 (leave it out for every request)".into());
        }
        let effect = match (request.status, request.operation_error) {
            (Some(_), Some(_)) => {
                return Err("give either status (an HTTP error) or operationError, not both".into())
            }
            (Some(status), None) => {
                if !(400..=599).contains(&status) {
                    return Err("status must be an HTTP error status (400 to 599)".into());
                }
                FaultEffect::Respond {
                    status,
                    body: request.body,
                }
            }
            (None, Some(op)) => {
                if request.endpoint != "compute.instances.insert" {
                    return Err("operationError only applies to compute.instances.insert".into());
                }
                FaultEffect::FailOperation(operation_failure(&op.code, op.message)?)
            }
            (None, None) if request.latency_ms.is_some() => FaultEffect::Delay,
            (None, None) => {
                return Err("a fault needs a status, an operationError or a latencyMs".into())
            }
        };
        Ok(Self {
            endpoint: request.endpoint,
            effect,
            probability,
            latency_ms: request.latency_ms.unwrap_or(0),
            remaining: request.times,
        })
    }

    /// Whether this fault hits the current request (and uses up one of its times).
    pub fn strike(&mut self) -> bool {
        if self.remaining == Some(0) || !crate::clock::chance(self.probability) {
            return false;
        }
        if let Some(left) = self.remaining.as_mut() {
            *left -= 1;
        }
        true
    }
}

/// The operation failures Google reports for a VM that cannot be created, with its words.
fn operation_failure(code: &str, message: Option<String>) -> Result<OperationFailure, String> {
    let (default_message, http_status) = match code {
        "ZONE_RESOURCE_POOL_EXHAUSTED" => (
            "The zone '{zone}' does not have enough resources available to fulfill the request. \
             Try a different zone, or try again later.",
            503,
        ),
        "QUOTA_EXCEEDED" => (
            "Quota 'CPUS' exceeded.  Limit: 0.0 in region {region}.",
            403,
        ),
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS" => (
            "The zone '{zone}' does not have enough resources available to fulfill the request. \
             '(resource type:compute)'.",
            503,
        ),
        other if !other.is_empty() && other.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') => {
            ("The operation failed.", 400)
        }
        _ => return Err("operationError.code must be an upper-case Google code such as ZONE_RESOURCE_POOL_EXHAUSTED".into()),
    };
    Ok(OperationFailure {
        code: code.to_string(),
        message: message.unwrap_or_else(|| default_message.to_string()),
        http_status,
    })
}

/// The faults that hit this request: the total latency and the first effect.
pub fn strike(faults: &mut Vec<Fault>, endpoint: &str) -> (u64, Option<FaultEffect>) {
    let mut latency = 0;
    let mut effect = None;
    for fault in faults.iter_mut().filter(|f| f.endpoint == endpoint) {
        if fault.strike() {
            latency += fault.latency_ms;
            if effect.is_none() && !matches!(fault.effect, FaultEffect::Delay) {
                effect = Some(fault.effect.clone());
            }
        }
    }
    faults.retain(|f| f.remaining != Some(0));
    (latency, effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> Result<Fault, String> {
        Fault::parse(serde_json::from_str(json).map_err(|e| e.to_string())?)
    }

    #[test]
    fn refuses_bad_faults_clearly() {
        assert!(request(r#"{"endpoint":"compute.nope","status":500}"#)
            .unwrap_err()
            .contains("unknown endpoint"));
        assert!(request(r#"{"endpoint":"oauth.token","status":200}"#).is_err());
        assert!(request(r#"{"endpoint":"oauth.token"}"#).is_err());
        assert!(request(r#"{"endpoint":"oauth.token","status":500,"probability":2}"#).is_err());
        assert!(request(
            r#"{"endpoint":"oauth.token","operationError":{"code":"QUOTA_EXCEEDED"}}"#
        )
        .is_err());
    }

    #[test]
    fn times_run_out() {
        let mut faults =
            vec![request(r#"{"endpoint":"oauth.token","status":503,"times":2}"#).unwrap()];
        assert!(strike(&mut faults, "oauth.token").1.is_some());
        assert!(strike(&mut faults, "oauth.userinfo").1.is_none());
        assert!(strike(&mut faults, "oauth.token").1.is_some());
        assert!(strike(&mut faults, "oauth.token").1.is_none());
        assert!(faults.is_empty());
    }
}
