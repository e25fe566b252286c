//! Analyses over plain data that no single command owns: the EXPLAIN plan model (`plan`) and
//! what plan rules share. They never talk to a server, so they are tested from JSON text.

pub mod candidates;
pub mod plan;

use crate::findings::Finding;
use crate::findings::Severity;
use plan::Node;

/// A finding about one plan node, named the way the plan tree shows it.
pub fn node_finding(
    rule: &str,
    severity: Severity,
    node: &Node,
    message: String,
    evidence: Vec<String>,
    remedy: String,
) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        object: node.label(),
        message,
        evidence,
        remedy,
        fix: None,
    }
}

/// `12345` → `12,345`, for evidence lines.
pub fn count(n: f64) -> String {
    let s = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_have_separators() {
        assert_eq!(super::count(1234567.0), "1,234,567");
        assert_eq!(super::count(12.0), "12");
        assert_eq!(super::count(-1000.0), "-1,000");
    }
}
