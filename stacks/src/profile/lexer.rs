//! Splits a profile into blank-delimited tokens, each with its line number. A semicolon
//! starts a comment that runs to the end of the line; statements may span lines.

/// One token of the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// The token as written.
    pub text: String,
    /// The token in upper case, for keyword comparison (keywords are case-insensitive).
    pub upper: String,
    /// The 1-based line the token is on.
    pub line: u32,
}

/// The tokens of `text`, in order.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let code = raw_line.split(';').next().unwrap_or_default();
        for word in code.split_whitespace() {
            tokens.push(Token {
                text: word.to_owned(),
                upper: word.to_ascii_uppercase(),
                line,
            });
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_comments_and_keeps_line_numbers() {
        let tokens = tokenize("; header\nHome 192.0.2.1 lnk ; trailing\n\n  PORT 20 TCP\n");
        let seen: Vec<(&str, &str, u32)> = tokens
            .iter()
            .map(|t| (t.text.as_str(), t.upper.as_str(), t.line))
            .collect();
        assert_eq!(
            seen,
            [
                ("Home", "HOME", 2),
                ("192.0.2.1", "192.0.2.1", 2),
                ("lnk", "LNK", 2),
                ("PORT", "PORT", 4),
                ("20", "20", 4),
                ("TCP", "TCP", 4),
            ]
        );
    }

    #[test]
    fn empty_and_comment_only_input_has_no_tokens() {
        assert!(tokenize("").is_empty());
        assert!(tokenize(";;;\n   ; x y z").is_empty());
    }
}
