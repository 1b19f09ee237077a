//! Vehicle identification numbers (ISO 3779 / 49 CFR 565).

use std::fmt;

/// A 17-character VIN: letters and digits without I, O and Q, with a correct check digit in
/// position 9 (required for vehicles sold in North America, which a US service center sees).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vin(String);

/// Why a VIN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VinError {
    /// Not 17 characters.
    #[error(
        "a VIN has 17 characters, {0:?} has {1}; ask the caller to read it again from the registration or the dashboard"
    )]
    WrongLength(String, usize),
    /// I, O, Q or a symbol.
    #[error(
        "{0:?} contains {1:?}, which never appears in a VIN (I, O and Q are not used); it was probably 1, 0 or another letter"
    )]
    BadCharacter(String, char),
    /// The check digit does not match.
    #[error(
        "{0:?} fails the VIN check digit, so a character was probably misheard; ask the caller to spell it again"
    )]
    CheckDigit(String),
}

fn value(c: char) -> Option<u32> {
    Some(match c {
        '0'..='9' => c as u32 - '0' as u32,
        'A' | 'J' => 1,
        'B' | 'K' | 'S' => 2,
        'C' | 'L' | 'T' => 3,
        'D' | 'M' | 'U' => 4,
        'E' | 'N' | 'V' => 5,
        'F' | 'W' => 6,
        'G' | 'P' | 'X' => 7,
        'H' | 'Y' => 8,
        'R' | 'Z' => 9,
        _ => return None,
    })
}

const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

impl Vin {
    /// Parses a VIN, ignoring case, spaces and dashes.
    pub fn parse(input: &str) -> Result<Self, VinError> {
        let vin: String = input
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let len = vin.chars().count();
        if len != 17 {
            return Err(VinError::WrongLength(input.trim().to_string(), len));
        }
        let mut sum = 0;
        for (i, c) in vin.chars().enumerate() {
            let v = value(c).ok_or_else(|| VinError::BadCharacter(vin.clone(), c))?;
            sum += v * WEIGHTS[i];
        }
        let expected = match sum % 11 {
            10 => 'X',
            d => char::from_digit(d, 10).expect("a remainder below 10 is a digit"),
        };
        if vin.chars().nth(8) != Some(expected) {
            return Err(VinError::CheckDigit(vin));
        }
        Ok(Vin(vin))
    }

    /// The normalised VIN.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Vin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_vins_parse_and_normalise() {
        assert_eq!(
            Vin::parse("1M8GDM9AXKP042788").unwrap().as_str(),
            "1M8GDM9AXKP042788"
        );
        assert_eq!(
            Vin::parse("1hgcm82633a004352").unwrap().as_str(),
            "1HGCM82633A004352"
        );
        assert_eq!(
            Vin::parse("1HG CM826 33A-004352").unwrap().as_str(),
            "1HGCM82633A004352"
        );
    }

    #[test]
    fn bad_vins_say_why() {
        assert!(matches!(
            Vin::parse("1HGCM82633A00435"),
            Err(VinError::WrongLength(_, 16))
        ));
        assert!(matches!(
            Vin::parse("1HGCM82633A0043521"),
            Err(VinError::WrongLength(_, 18))
        ));
        assert!(matches!(
            Vin::parse("1HGCM82633AO04352"),
            Err(VinError::BadCharacter(_, 'O'))
        ));
        assert!(matches!(
            Vin::parse("1HGCM82643A004352"),
            Err(VinError::CheckDigit(_))
        ));
        assert!(matches!(
            Vin::parse("1HGCM8263'A004352"),
            Err(VinError::BadCharacter(_, '\''))
        ));
    }
}
