//! A cursor over the operands of one statement, with the typed readers the statement parsers
//! share. Every reader reports a syntax error (EZZ0401I) at the token where it stopped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::lexer::Token;
use super::message::{Action, Message, MessageKind};

/// The operands of one statement.
pub(crate) struct Operands<'a> {
    tokens: &'a [Token],
    pos: usize,
    last: &'a Token,
    file: &'a str,
}

impl<'a> Operands<'a> {
    /// The operands `tokens` of the statement whose keyword is `keyword`.
    pub fn new(keyword: &'a Token, tokens: &'a [Token], file: &'a str) -> Self {
        Self {
            tokens,
            pos: 0,
            last: keyword,
            file,
        }
    }

    /// The next operand, without consuming it.
    pub fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    /// Whether the next operand is the keyword `keyword` (upper case).
    pub fn peek_is(&self, keyword: &str) -> bool {
        self.peek().is_some_and(|t| t.upper == keyword)
    }

    /// Consumes and returns the next operand.
    pub fn next(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.pos)?;
        self.pos += 1;
        self.last = token;
        Some(token)
    }

    /// Consumes the next operand if it is `keyword`.
    pub fn eat(&mut self, keyword: &str) -> bool {
        if self.peek_is(keyword) {
            self.pos += 1;
            if let Some(token) = self.tokens.get(self.pos - 1) {
                self.last = token;
            }
            true
        } else {
            false
        }
    }

    /// Whether every operand has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// The profile name messages show.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// The line of the last consumed token (the keyword before any).
    pub fn line(&self) -> u32 {
        self.last.line
    }

    /// EZZ0401I at the next operand, or at the last one when there is none.
    pub fn syntax_error(&self) -> Message {
        let token = self.peek().unwrap_or(self.last);
        syntax_error_at(self.file, token)
    }

    /// The next operand; a syntax error when there is none.
    pub fn token(&mut self) -> Result<&'a Token, Message> {
        match self.peek() {
            Some(_) => self.next().ok_or_else(|| self.syntax_error()),
            None => Err(self.syntax_error()),
        }
    }

    /// The keyword `keyword`, or a syntax error.
    pub fn keyword(&mut self, keyword: &str) -> Result<(), Message> {
        if self.eat(keyword) {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }

    /// An IPv4 address.
    pub fn ipv4(&mut self) -> Result<Ipv4Addr, Message> {
        let address = self
            .peek()
            .and_then(|t| Ipv4Addr::from_str(&t.text).ok())
            .ok_or_else(|| self.syntax_error())?;
        self.next();
        Ok(address)
    }

    /// Whether the next operand is an IPv4 address.
    pub fn peek_ipv4(&self) -> bool {
        self.peek()
            .is_some_and(|t| Ipv4Addr::from_str(&t.text).is_ok())
    }

    /// A decimal number in `min..=max`.
    pub fn number<T>(&mut self, min: T, max: T) -> Result<T, Message>
    where
        T: FromStr + PartialOrd,
    {
        let value = self
            .peek()
            .and_then(|t| parse_decimal::<T>(&t.text))
            .filter(|v| *v >= min && *v <= max)
            .ok_or_else(|| self.syntax_error())?;
        self.next();
        Ok(value)
    }

    /// Whether the next operand is a decimal number.
    pub fn peek_number(&self) -> bool {
        self.peek()
            .is_some_and(|t| !t.text.is_empty() && t.text.bytes().all(|b| b.is_ascii_digit()))
    }

    /// A dotted-decimal subnet mask, as a prefix length.
    pub fn mask(&mut self) -> Result<u8, Message> {
        let prefix = self
            .peek()
            .and_then(|t| Ipv4Addr::from_str(&t.text).ok())
            .and_then(mask_prefix_len)
            .ok_or_else(|| self.syntax_error())?;
        self.next();
        Ok(prefix)
    }

    /// Whether the next operand is a dotted-decimal subnet mask.
    pub fn peek_mask(&self) -> bool {
        self.peek()
            .and_then(|t| Ipv4Addr::from_str(&t.text).ok())
            .and_then(mask_prefix_len)
            .is_some()
    }

    /// An `address/len` operand.
    pub fn ipv4_prefix(&mut self) -> Result<(Ipv4Addr, u8), Message> {
        let parsed = self
            .peek()
            .and_then(|t| split_prefix(&t.text))
            .ok_or_else(|| self.syntax_error())?;
        self.next();
        Ok(parsed)
    }

    /// An IPv4 or IPv6 address with an optional `/len` (32 or 128 when absent).
    pub fn ip_prefix(&mut self) -> Result<(IpAddr, u8), Message> {
        let parsed = self
            .peek()
            .and_then(|t| {
                let (address, len) = match t.text.split_once('/') {
                    Some((address, len)) => (address, Some(len)),
                    None => (t.text.as_str(), None),
                };
                let address = IpAddr::from_str(address).ok()?;
                let max = if address.is_ipv4() { 32 } else { 128 };
                let len = match len {
                    Some(len) => parse_decimal::<u8>(len).filter(|l| *l <= max)?,
                    None => max,
                };
                Some((address, len))
            })
            .ok_or_else(|| self.syntax_error())?;
        self.next();
        Ok(parsed)
    }

    /// Whether the operand after the next one is an IPv6 address.
    pub fn second_is_ipv6(&self) -> bool {
        self.tokens
            .get(self.pos + 1)
            .is_some_and(|t| Ipv6Addr::from_str(&t.text).is_ok())
    }

    /// An IPv6 address.
    pub fn ipv6(&mut self) -> Result<Ipv6Addr, Message> {
        let address = self
            .peek()
            .and_then(|t| Ipv6Addr::from_str(&t.text).ok())
            .ok_or_else(|| self.syntax_error())?;
        self.next();
        Ok(address)
    }

    /// The remaining operands, as written.
    pub fn rest(&mut self) -> Vec<String> {
        let mut rest = Vec::new();
        while let Some(token) = self.next() {
            rest.push(token.text.clone());
        }
        rest
    }

    /// A syntax error if operands are left.
    pub fn finish(&self) -> Result<(), Message> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }
}

/// EZZ0401I at `token`; the caller may widen the action.
pub(crate) fn syntax_error_at(file: &str, token: &Token) -> Message {
    Message::new(
        MessageKind::SyntaxError {
            file: file.to_owned(),
            token: token.text.clone(),
        },
        token.line,
        Action::StatementRejected,
    )
}

/// A number made of decimal digits only (no sign, no blanks).
fn parse_decimal<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The prefix length of a contiguous mask, `None` for a non-contiguous one.
pub(crate) fn mask_prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        u8::try_from(ones).ok()
    } else {
        None
    }
}

/// `a.b.c.d/len` with len in 0..=32.
pub(crate) fn split_prefix(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (address, len) = text.split_once('/')?;
    let address = Ipv4Addr::from_str(address).ok()?;
    let len: u8 = parse_decimal(len)?;
    (len <= 32).then_some((address, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::lexer::tokenize;

    #[test]
    fn mask_must_be_contiguous() {
        assert_eq!(mask_prefix_len(Ipv4Addr::new(255, 255, 255, 240)), Some(28));
        assert_eq!(mask_prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(mask_prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(mask_prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
    }

    #[test]
    fn prefix_length_is_bounded() {
        assert_eq!(
            split_prefix("192.0.2.1/24"),
            Some((Ipv4Addr::new(192, 0, 2, 1), 24))
        );
        assert_eq!(split_prefix("192.0.2.1/33"), None);
        assert_eq!(split_prefix("192.0.2.1/-1"), None);
    }

    #[test]
    fn missing_operand_reports_the_last_token() {
        let tokens = tokenize("VIPAROUTE DEFINE\n");
        let (keyword, operands) = tokens.split_first().expect("tokens");
        let mut cursor = Operands::new(keyword, operands, "PROF");
        assert!(cursor.eat("DEFINE"));
        let error = cursor.ipv4().expect_err("no address");
        assert_eq!(
            error.kind,
            MessageKind::SyntaxError {
                file: "PROF".into(),
                token: "DEFINE".into()
            }
        );
    }

    #[test]
    fn number_outside_range_is_a_syntax_error() {
        let tokens = tokenize("X 255 -3");
        let (keyword, operands) = tokens.split_first().expect("tokens");
        let mut cursor = Operands::new(keyword, operands, "PROF");
        assert!(cursor.number(1u8, 254).is_err());
        assert_eq!(cursor.number(0u16, 300).ok(), Some(255));
        assert!(cursor.number(0u16, 300).is_err());
    }
}
