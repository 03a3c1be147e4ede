//! Expectations about the serial log that scenarios check, phrased so a failure says what
//! was expected in the log's own words.

use std::fmt;

/// Which serial lines a check is looking for.
#[derive(Clone, Copy, Debug)]
pub enum Pattern<'a> {
    /// A line that is exactly this text (ignoring trailing whitespace).
    Line(&'a str),
    /// A line starting with this text.
    Prefix(&'a str),
    /// A line starting with the first text and containing the second after it.
    PrefixContaining(&'a str, &'a str),
}

impl Pattern<'_> {
    /// Whether `line` is such a line.
    pub fn matches(&self, line: &str) -> bool {
        match *self {
            Self::Line(text) => line.trim_end() == text,
            Self::Prefix(prefix) => line.starts_with(prefix),
            Self::PrefixContaining(prefix, needle) => {
                line.strip_prefix(prefix).is_some_and(|rest| rest.contains(needle))
            }
        }
    }
}

impl fmt::Display for Pattern<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(text) => write!(f, "line `{text}`"),
            Self::Prefix(prefix) => write!(f, "line starting `{prefix}`"),
            Self::PrefixContaining(prefix, needle) => {
                write!(f, "line starting `{prefix}` containing `{needle}`")
            }
        }
    }
}

/// The first line matching `pattern`.
pub fn find<'l>(lines: &'l [String], pattern: &Pattern<'_>) -> Option<&'l str> {
    lines.iter().map(String::as_str).find(|line| pattern.matches(line))
}

/// Checks that lines matching `patterns` appear in this order, each after the previous.
pub fn in_order(lines: &[String], patterns: &[Pattern<'_>]) -> Result<(), String> {
    let mut from = 0;
    for pattern in patterns {
        match lines[from..].iter().position(|line| pattern.matches(line)) {
            Some(at) => from += at + 1,
            None if from == 0 => return Err(format!("expected: a {pattern}\nbut: there is none")),
            None => {
                let previous = &lines[from - 1];
                return Err(if lines.iter().any(|line| pattern.matches(line)) {
                    format!("expected: a {pattern} after `{previous}`\nbut: it only appears before")
                } else {
                    format!("expected: a {pattern} after `{previous}`\nbut: there is none")
                });
            }
        }
    }
    Ok(())
}

/// Checks that no line matches `pattern`.
pub fn absent(lines: &[String], pattern: &Pattern<'_>) -> Result<(), String> {
    match lines.iter().position(|line| pattern.matches(line)) {
        None => Ok(()),
        Some(at) => {
            Err(format!("expected: no {pattern}\nbut: serial line {} is `{}`", at + 1, lines[at]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|line| line.to_string()).collect()
    }

    #[test]
    fn patterns_match_as_described() {
        assert!(Pattern::Line("a b").matches("a b  "));
        assert!(!Pattern::Line("a b").matches("a bc"));
        assert!(Pattern::Prefix("kernel: acpi:").matches("kernel: acpi: 2 CPUs"));
        assert!(
            Pattern::PrefixContaining("kernel: fault:", "vector=14")
                .matches("kernel: fault: x vector=14 rip=0")
        );
        assert!(
            !Pattern::PrefixContaining("kernel: fault:", "vector=1")
                .matches("vector=1 kernel: fault:")
        );
        assert_eq!(
            Pattern::PrefixContaining("p", "n").to_string(),
            "line starting `p` containing `n`"
        );
    }

    #[test]
    fn order_is_enforced() {
        let lines = log(&["a", "b", "c"]);
        assert_eq!(in_order(&lines, &[Pattern::Line("a"), Pattern::Line("c")]), Ok(()));
        assert_eq!(
            in_order(&lines, &[Pattern::Line("b"), Pattern::Line("a")]),
            Err("expected: a line `a` after `b`\nbut: it only appears before".into())
        );
        assert_eq!(
            in_order(&lines, &[Pattern::Line("z")]),
            Err("expected: a line `z`\nbut: there is none".into())
        );
        assert_eq!(
            in_order(&lines, &[Pattern::Line("a"), Pattern::Line("z")]),
            Err("expected: a line `z` after `a`\nbut: there is none".into())
        );
    }

    #[test]
    fn absence_names_the_offending_line() {
        let lines = log(&["a", "oops"]);
        assert_eq!(absent(&lines, &Pattern::Line("z")), Ok(()));
        assert_eq!(
            absent(&lines, &Pattern::Prefix("oo")),
            Err("expected: no line starting `oo`\nbut: serial line 2 is `oops`".into())
        );
        assert_eq!(find(&lines, &Pattern::Prefix("o")), Some("oops"));
    }
}
