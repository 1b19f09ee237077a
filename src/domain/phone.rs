//! Phone numbers in E.164, from whatever a caller, a carrier or an LLM writes.

use std::fmt;

/// A phone number in E.164 form (`+` then 8-15 digits). North American numbers (country
/// code 1) also satisfy the NANP rules: ten digits, area code and exchange not starting with
/// 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing that looks like a number.
    #[error("no phone number given; ask the caller for their number")]
    Empty,
    /// Letters or symbols other than separators.
    #[error(
        "{0:?} contains characters that are not digits; ask the caller to say the number digit by digit"
    )]
    NotDigits(String),
    /// Too few digits for any number.
    #[error("{0:?} is too short; ask the caller for the full number including the area code")]
    TooShort(String),
    /// Too many digits.
    #[error("{0:?} has too many digits; ask the caller to repeat the number")]
    TooLong(String),
    /// A North American number whose area code or exchange is impossible.
    #[error(
        "{0:?} is not a valid North American number (area code and exchange cannot start with 0 or 1); ask the caller to repeat it"
    )]
    InvalidNanp(String),
}

fn nanp_ok(ten: &[u8]) -> bool {
    ten.len() == 10 && ten[0] >= b'2' && ten[3] >= b'2'
}

impl PhoneNumber {
    /// Parses `input`, taking numbers without a country code as North American (this is a
    /// US service center): `(555) 234-5678`, `555.234.5678`, `1-555-234-5678`, `+1 555 234 5678`,
    /// `+44 20 7946 0958`, `0044 20 7946 0958`.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneError::NotDigits(trimmed.to_string())),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        // International prefix written as 00 or 011 instead of +.
        if !plus {
            if let Some(rest) = digits.strip_prefix("011").filter(|r| r.len() >= 8) {
                digits = rest.to_string();
                plus = true;
            } else if let Some(rest) = digits.strip_prefix("00").filter(|r| r.len() >= 8) {
                digits = rest.to_string();
                plus = true;
            }
        }
        let bytes = digits.as_bytes();
        let e164 = if plus {
            if bytes[0] == b'0' {
                return Err(PhoneError::NotDigits(trimmed.to_string()));
            }
            if bytes[0] == b'1' {
                if bytes.len() < 11 {
                    return Err(PhoneError::TooShort(trimmed.to_string()));
                }
                if bytes.len() > 11 {
                    return Err(PhoneError::TooLong(trimmed.to_string()));
                }
                if !nanp_ok(&bytes[1..]) {
                    return Err(PhoneError::InvalidNanp(trimmed.to_string()));
                }
            }
            if bytes.len() < 8 {
                return Err(PhoneError::TooShort(trimmed.to_string()));
            }
            if bytes.len() > 15 {
                return Err(PhoneError::TooLong(trimmed.to_string()));
            }
            format!("+{digits}")
        } else {
            let national = match bytes.len() {
                10 => bytes,
                11 if bytes[0] == b'1' => &bytes[1..],
                n if n < 10 => return Err(PhoneError::TooShort(trimmed.to_string())),
                _ => return Err(PhoneError::TooLong(trimmed.to_string())),
            };
            if !nanp_ok(national) {
                return Err(PhoneError::InvalidNanp(trimmed.to_string()));
            }
            format!("+1{}", std::str::from_utf8(national).expect("ASCII digits"))
        };
        Ok(PhoneNumber(e164))
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_numbers_in_every_common_spelling_normalise() {
        for input in [
            "(555) 234-5678",
            "555.234.5678",
            "5552345678",
            "1-555-234-5678",
            "+1 555 234 5678",
            "  +15552345678 ",
            "011 1 555 234 5678",
        ] {
            assert_eq!(
                PhoneNumber::parse(input).map(|p| p.to_string()),
                Ok("+15552345678".to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            PhoneNumber::parse("0044 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn bad_numbers_say_what_to_ask_for() {
        assert_eq!(PhoneNumber::parse(""), Err(PhoneError::Empty));
        assert!(matches!(
            PhoneNumber::parse("234-5678"),
            Err(PhoneError::TooShort(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("1-800-FLOWERS"),
            Err(PhoneError::NotDigits(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("555-234-56789"),
            Err(PhoneError::TooLong(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("(055) 234-5678"),
            Err(PhoneError::InvalidNanp(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("555-134-5678"),
            Err(PhoneError::InvalidNanp(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("+1 555 234 567"),
            Err(PhoneError::TooShort(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("555'; DROP TABLE customers;--"),
            Err(PhoneError::NotDigits(_))
        ));
        let msg = PhoneNumber::parse("234-5678").unwrap_err().to_string();
        assert!(msg.contains("area code"), "{msg}");
    }
}
