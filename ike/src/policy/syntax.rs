//! The block structure of a Policy Agent file: `Statement [name]` lines followed by `{`,
//! one parameter per line, `}` on its own line; `#` starts a comment. Statements nest
//! (inline definitions). No meaning is given to keywords here.

use super::error::{Problem, ProblemKind};

/// A parameter line or a statement block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// The keyword as written.
    pub keyword: String,
    /// The words after the keyword.
    pub values: Vec<String>,
    /// The text after the keyword, trimmed (for values that contain blanks).
    pub rest: String,
    /// The 1-based line of the keyword.
    pub line: u32,
    /// The body of a statement block; `None` for a parameter.
    pub body: Option<Vec<Node>>,
}

impl Node {
    /// Whether this node's keyword is `keyword` (keywords are case-insensitive).
    pub fn is(&self, keyword: &str) -> bool {
        self.keyword.eq_ignore_ascii_case(keyword)
    }
}

/// The top-level statements of `text`, or every structural problem found.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, Vec<Problem>> {
    let mut problems = Vec::new();
    // The open blocks; the bottom entry is the file itself.
    let mut stack: Vec<Node> = vec![block("", 0)];
    let mut previous_was_parameter = false;
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let code = raw.split('#').next().unwrap_or_default().trim();
        let words: Vec<&str> = code.split_whitespace().collect();
        match words.as_slice() {
            [] => continue,
            ["{"] => {
                let open = stack
                    .last_mut()
                    .and_then(|parent| parent.body.as_mut())
                    .filter(|_| previous_was_parameter)
                    .and_then(Vec::pop);
                match open {
                    Some(mut header) => {
                        header.body = Some(Vec::new());
                        stack.push(header);
                    }
                    None => problems.push(problem(line, ProblemKind::MisplacedOpen)),
                }
                previous_was_parameter = false;
            }
            ["}"] => {
                close(&mut stack, line, &mut problems);
                previous_was_parameter = false;
            }
            [head @ .., "{"] => {
                let mut header = parameter(head, code, line);
                header.body = Some(Vec::new());
                stack.push(header);
                previous_was_parameter = false;
            }
            _ => {
                let node = parameter(&words, code, line);
                if let Some(body) = stack.last_mut().and_then(|parent| parent.body.as_mut()) {
                    body.push(node);
                }
                previous_was_parameter = true;
            }
        }
    }
    while stack.len() > 1 {
        if let Some(open) = stack.pop() {
            problems.push(problem(
                open.line,
                ProblemKind::Unclosed {
                    statement: open.keyword,
                },
            ));
        }
    }
    let top = stack.pop().and_then(|file| file.body).unwrap_or_default();
    for node in top.iter().filter(|n| n.body.is_none()) {
        problems.push(problem(
            node.line,
            ProblemKind::OutsideStatement {
                parameter: node.keyword.clone(),
            },
        ));
    }
    for node in &top {
        check_headers(node, &mut problems);
    }
    if problems.is_empty() {
        Ok(top)
    } else {
        problems.sort_by_key(|p| p.line);
        Err(problems)
    }
}

/// Closes the innermost open block into its parent.
fn close(stack: &mut Vec<Node>, line: u32, problems: &mut Vec<Problem>) {
    if stack.len() < 2 {
        problems.push(problem(line, ProblemKind::UnmatchedClose));
        return;
    }
    if let Some(done) = stack.pop()
        && let Some(body) = stack.last_mut().and_then(|parent| parent.body.as_mut())
    {
        body.push(done);
    }
}

/// A statement header takes at most a name.
fn check_headers(node: &Node, problems: &mut Vec<Problem>) {
    let Some(body) = &node.body else {
        return;
    };
    if node.values.len() > 1 {
        problems.push(problem(
            node.line,
            ProblemKind::ExtraHeaderWords {
                statement: node.keyword.clone(),
                found: node.values.clone(),
            },
        ));
    }
    for child in body {
        check_headers(child, problems);
    }
}

fn block(keyword: &str, line: u32) -> Node {
    Node {
        keyword: keyword.to_owned(),
        values: Vec::new(),
        rest: String::new(),
        line,
        body: Some(Vec::new()),
    }
}

fn parameter(words: &[&str], code: &str, line: u32) -> Node {
    let keyword = words.first().copied().unwrap_or_default();
    let rest = code
        .get(keyword.len()..)
        .unwrap_or_default()
        .trim()
        .trim_end_matches('{')
        .trim()
        .to_owned();
    Node {
        keyword: keyword.to_owned(),
        values: words.iter().skip(1).map(|w| (*w).to_owned()).collect(),
        rest,
        line,
        body: None,
    }
}

fn problem(line: u32, kind: ProblemKind) -> Problem {
    Problem { line, kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_on_their_own_lines_or_after_the_header() {
        let text = "# policy\nIpDataOffer Gold\n{\n  HowToEncap Tunnel # inline\n}\n\
                    KeyExchangeAction Kx {\n  KeyExchangeOffer\n  {\n    DHGroup Group14\n  }\n}\n";
        let top = parse(text).expect("parses");
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].values, ["Gold"]);
        let body = top[0].body.as_ref().expect("block");
        assert_eq!((body[0].keyword.as_str(), body[0].line), ("HowToEncap", 4));
        let inline = &top[1].body.as_ref().expect("block")[0];
        assert!(inline.is("keyexchangeoffer") && inline.values.is_empty());
        assert_eq!(inline.body.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn rest_keeps_blanks_inside_a_value() {
        let top = parse("RemoteSecurityEndpoint R\n{\nIdentity X500dn CN=Zone B,O=ibm\n}\n")
            .expect("parses");
        let identity = &top[0].body.as_ref().expect("block")[0];
        assert_eq!(identity.rest, "X500dn CN=Zone B,O=ibm");
    }

    #[test]
    fn structural_problems_are_all_reported_with_lines() {
        let problems = parse("}\nHowToEncap Tunnel\nIpDataOffer A B\n{\n{\n").expect_err("broken");
        let kinds: Vec<(u32, &ProblemKind)> = problems.iter().map(|p| (p.line, &p.kind)).collect();
        assert_eq!(
            kinds,
            [
                (1, &ProblemKind::UnmatchedClose),
                (
                    2,
                    &ProblemKind::OutsideStatement {
                        parameter: "HowToEncap".into()
                    }
                ),
                (
                    3,
                    &ProblemKind::Unclosed {
                        statement: "IpDataOffer".into()
                    }
                ),
                (5, &ProblemKind::MisplacedOpen),
            ]
        );
    }
}
