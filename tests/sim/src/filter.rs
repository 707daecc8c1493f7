//! Compute's list `filter` expressions, the part the Worker uses: terms such as
//! `labels.claw-free=bot`, `status != TERMINATED` or `name:my-*`, optionally in
//! parentheses, joined by spaces or `AND`. Anything else is refused with a reason.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Has,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    path: Vec<String>,
    op: Op,
    value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(Vec<Term>);

impl Filter {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        let skip_space = |i: &mut usize| {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
        };
        loop {
            skip_space(&mut i);
            if i >= chars.len() {
                break;
            }
            let word: String = chars[i..]
                .iter()
                .take_while(|c| c.is_alphabetic())
                .collect();
            if word == "AND"
                && chars
                    .get(i + 3)
                    .is_some_and(|c| c.is_whitespace() || *c == '(')
            {
                i += 3;
                continue;
            }
            if word == "OR" || word == "NOT" {
                return Err(format!(
                    "{word} is not supported; join terms with spaces or AND."
                ));
            }
            let open = chars[i] == '(';
            if open {
                i += 1;
                skip_space(&mut i);
            }
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '.' | '-' | '_'))
            {
                i += 1;
            }
            let field: String = chars[start..i].iter().collect();
            if field.is_empty() {
                return Err(format!("expected a field name at position {start}."));
            }
            skip_space(&mut i);
            let op = match (chars.get(i), chars.get(i + 1)) {
                (Some('!'), Some('=')) => {
                    i += 2;
                    Op::Ne
                }
                (Some('='), _) => {
                    i += 1;
                    Op::Eq
                }
                (Some(':'), _) => {
                    i += 1;
                    Op::Has
                }
                _ => return Err(format!("expected =, != or : after '{field}'.")),
            };
            skip_space(&mut i);
            let value = if chars.get(i) == Some(&'"') {
                i += 1;
                let begin = i;
                while i < chars.len() && chars[i] != '"' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("a quoted value is not closed.".into());
                }
                let v: String = chars[begin..i].iter().collect();
                i += 1;
                v
            } else {
                let begin = i;
                while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ')' {
                    i += 1;
                }
                chars[begin..i].iter().collect()
            };
            if value.is_empty() {
                return Err(format!("'{field}' has no value."));
            }
            skip_space(&mut i);
            if open {
                if chars.get(i) != Some(&')') {
                    return Err("a parenthesis is not closed.".into());
                }
                i += 1;
            }
            terms.push(Term {
                path: field.split('.').map(str::to_string).collect(),
                op,
                value,
            });
        }
        if terms.is_empty() {
            return Err("the filter has no terms.".into());
        }
        Ok(Self(terms))
    }

    /// Whether a rendered resource matches every term.
    pub fn matches(&self, resource: &Value) -> bool {
        self.0.iter().all(|term| {
            let mut node = Some(resource);
            for part in &term.path {
                node = node.and_then(|n| n.get(part));
            }
            let actual = match node {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            };
            match term.op {
                Op::Eq => actual.is_some_and(|a| wildcard(&term.value, &a)),
                Op::Ne => !actual.is_some_and(|a| wildcard(&term.value, &a)),
                Op::Has => match actual {
                    Some(a) => term.value == "*" || wildcard(&term.value, &a),
                    None => false,
                },
            }
        })
    }
}

/// `pattern` with `*` matching any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_filters_select_bots() {
        let bot = json!({"name": "my-bot", "status": "RUNNING", "labels": {"claw-free": "bot"}});
        let other = json!({"name": "web", "status": "RUNNING"});
        let f = Filter::parse(&claw_free_protocol::labels::managed_filter()).unwrap();
        assert!(f.matches(&bot));
        assert!(!f.matches(&other));
        let f = Filter::parse(r#"(labels.claw-free = "bot") AND (status != TERMINATED)"#).unwrap();
        assert!(f.matches(&bot));
        assert!(Filter::parse("name:my-*").unwrap().matches(&bot));
        assert!(Filter::parse("labels.claw-free:*").unwrap().matches(&bot));
        assert!(!Filter::parse("labels.claw-free:*").unwrap().matches(&other));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(Filter::parse("a=1 OR b=2").is_err());
        assert!(Filter::parse("(a=1").is_err());
        assert!(Filter::parse("name").is_err());
        assert!(Filter::parse("name=\"x").is_err());
        assert!(Filter::parse("   ").is_err());
    }
}
