//! What Security Token Service would decide for a Workload Identity provider: the
//! attribute mapping applied to a token's claims, then the attribute condition. Google
//! evaluates full CEL; the simulator evaluates the subset claw.free writes (`X == 'v'`
//! terms joined by `&&`, mappings of single claims) and says so for anything else,
//! rather than guess.

use serde_json::Value;
use std::collections::BTreeMap;

/// The attributes a token gets: each mapping `assertion.claim` read from the claims.
pub fn map_attributes(
    mapping: &BTreeMap<String, String>,
    claims: &Value,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (target, source) in mapping {
        let claim = source
            .trim()
            .strip_prefix("assertion.")
            .filter(|c| c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
            .ok_or_else(|| format!("the simulator maps only single claims, not {source:?}"))?;
        if let Some(value) = claims.get(claim) {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(target.clone(), text);
        }
    }
    Ok(out)
}

/// Whether the condition lets the token in.
pub fn allows(
    condition: &str,
    claims: &Value,
    attributes: &BTreeMap<String, String>,
) -> Result<bool, String> {
    for term in condition.split("&&") {
        let (lhs, rhs) = term
            .split_once("==")
            .ok_or_else(|| format!("the simulator evaluates only `x == 'v'` terms: {term:?}"))?;
        let lhs = lhs.trim();
        let rhs = rhs.trim();
        let expected = rhs
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .or_else(|| rhs.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
            .ok_or_else(|| format!("not a string literal: {rhs:?}"))?;
        let actual = if let Some(claim) = lhs.strip_prefix("assertion.") {
            claims.get(claim).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        } else if lhs.starts_with("attribute.") || lhs.starts_with("google.") {
            attributes.get(lhs).cloned()
        } else {
            return Err(format!("unknown name {lhs:?}"));
        };
        if actual.as_deref() != Some(expected) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_repository_and_branch_condition_lets_only_that_repository_and_branch_in() {
        let mapping: BTreeMap<String, String> = [
            ("google.subject", "assertion.sub"),
            ("attribute.repository_id", "assertion.repository_id"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let condition = "assertion.repository_id == '42' && assertion.ref == 'refs/heads/main'";
        let claims = json!({ "sub": "repo:a/b:ref:refs/heads/main", "repository_id": "42", "ref": "refs/heads/main" });
        let attrs = map_attributes(&mapping, &claims).unwrap();
        assert_eq!(attrs["attribute.repository_id"], "42");
        assert_eq!(allows(condition, &claims, &attrs), Ok(true));
        let other_branch = json!({ "repository_id": "42", "ref": "refs/heads/evil" });
        assert_eq!(allows(condition, &other_branch, &attrs), Ok(false));
        let other_repo = json!({ "repository_id": "43", "ref": "refs/heads/main" });
        assert_eq!(allows(condition, &other_repo, &attrs), Ok(false));
        assert!(allows("assertion.ref.startsWith('x')", &claims, &attrs).is_err());
    }
}
