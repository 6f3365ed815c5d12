//! Readers for parameter values: each returns the value or records a problem on the
//! parameter's line.

use std::net::IpAddr;
use std::str::FromStr;

use super::error::{Problem, ProblemKind};
use super::model::AddrSpec;
use super::syntax::Node;

/// The problems found so far.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    /// Records `kind` on `line`.
    pub fn push(&mut self, line: u32, kind: ProblemKind) {
        self.0.push(Problem { line, kind });
    }

    /// Records an invalid value of `node`; returns `None` for the caller to pass on.
    pub fn invalid<T>(&mut self, node: &Node, expected: &'static str) -> Option<T> {
        self.push(
            node.line,
            ProblemKind::InvalidValue {
                parameter: node.keyword.clone(),
                value: node.rest.clone(),
                expected,
            },
        );
        None
    }

    /// Records an unsupported value of `node`.
    pub fn unsupported<T>(&mut self, node: &Node, supported: &'static str) -> Option<T> {
        self.push(
            node.line,
            ProblemKind::Unsupported {
                parameter: node.keyword.clone(),
                value: node.rest.clone(),
                supported,
            },
        );
        None
    }
}

/// The value of a one-word parameter, matched case-insensitively against `choices`.
pub(crate) fn choice<T: Copy>(
    node: &Node,
    choices: &[(&str, T)],
    expected: &'static str,
    problems: &mut Problems,
) -> Option<T> {
    let found = match node.values.as_slice() {
        [word] => choices
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|&(_, value)| value),
        _ => None,
    };
    found.or_else(|| problems.invalid(node, expected))
}

/// A decimal number in `min..=max`, the value at `index`.
pub(crate) fn number<T>(
    node: &Node,
    index: usize,
    min: T,
    max: T,
    expected: &'static str,
    problems: &mut Problems,
) -> Option<T>
where
    T: FromStr + PartialOrd,
{
    node.values
        .get(index)
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse::<T>().ok())
        .filter(|v| *v >= min && *v <= max)
        .or_else(|| problems.invalid(node, expected))
}

/// `n` or `n m` as an inclusive range (minutes, kilobytes, ports).
pub(crate) fn range<T>(
    node: &Node,
    min: T,
    max: T,
    expected: &'static str,
    problems: &mut Problems,
) -> Option<(T, T)>
where
    T: FromStr + PartialOrd + Copy,
{
    let first = number(node, 0, min, max, expected, problems)?;
    let last = match node.values.len() {
        1 => first,
        2 => number(node, 1, min, max, expected, problems)?,
        _ => return problems.invalid(node, expected),
    };
    if first <= last {
        Some((first, last))
    } else {
        problems.invalid(node, expected)
    }
}

/// `All`, `a`, `a/len` or `a-b` in one word.
pub(crate) fn addr_word(word: &str) -> Option<AddrSpec> {
    if word.eq_ignore_ascii_case("all") {
        return Some(AddrSpec::All);
    }
    if let Some((address, len)) = word.split_once('/') {
        let address = IpAddr::from_str(address).ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let len: u8 = len.parse().ok().filter(|l| *l <= max)?;
        return Some(AddrSpec::Prefix(address, len));
    }
    if let Some((first, last)) = word.split_once('-') {
        return addr_range(first, last);
    }
    IpAddr::from_str(word).ok().map(AddrSpec::Host)
}

/// A range of two addresses of one family, first not above last.
pub(crate) fn addr_range(first: &str, last: &str) -> Option<AddrSpec> {
    let first = IpAddr::from_str(first).ok()?;
    let last = IpAddr::from_str(last).ok()?;
    let ordered = match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) => f <= l,
        (IpAddr::V6(f), IpAddr::V6(l)) => f <= l,
        _ => false,
    };
    ordered.then_some(AddrSpec::Range(first, last))
}

/// An address specification given as one word.
pub(crate) fn addr_spec(node: &Node, problems: &mut Problems) -> Option<AddrSpec> {
    match node.values.as_slice() {
        [word] => addr_word(word),
        _ => None,
    }
    .or_else(|| problems.invalid(node, "All, an address, address/len or first-last"))
}

/// The words after the first value, as written (a value that may contain blanks).
pub(crate) fn after_first_word(node: &Node) -> &str {
    let first = node.values.first().map_or("", String::as_str);
    node.rest.get(first.len()..).unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_words() {
        let a: IpAddr = "192.0.2.1".parse().expect("address");
        let b: IpAddr = "192.0.2.9".parse().expect("address");
        assert_eq!(addr_word("ALL"), Some(AddrSpec::All));
        assert_eq!(addr_word("192.0.2.1"), Some(AddrSpec::Host(a)));
        assert_eq!(addr_word("192.0.2.1/24"), Some(AddrSpec::Prefix(a, 24)));
        assert_eq!(
            addr_word("192.0.2.1-192.0.2.9"),
            Some(AddrSpec::Range(a, b))
        );
        assert_eq!(addr_word("192.0.2.9-192.0.2.1"), None);
        assert_eq!(addr_word("192.0.2.1/33"), None);
        assert_eq!(addr_word("2001:db8::/129"), None);
    }
}
