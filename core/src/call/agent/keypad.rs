//! A phone number typed on the keypad: when the caller's number is hidden or not on file and
//! speech keeps mangling the digits, the model can ask for them on the keypad
//! (`enter_phone_on_keypad`). Keys are collected until `#`, `*` cancels, and a pause ends the
//! entry; what was typed becomes the caller's next turn. While it runs every digit is a digit
//! (the transfer key 0 included).

use std::time::{Duration, Instant};

/// How long the caller has to start typing.
pub const FIRST_KEY_WAIT: Duration = Duration::from_secs(15);
/// A pause this long after a key ends the entry.
pub const NEXT_KEY_WAIT: Duration = Duration::from_secs(6);
/// More digits than any phone number has (E.164: 15) end the entry.
const MAX_DIGITS: usize = 15;

/// An entry in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneEntry {
    digits: String,
    deadline: Instant,
}

/// How an entry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entered {
    /// The digits typed (none: nothing was typed in time).
    Digits(String),
    /// `*`: the caller does not want to type it.
    Cancelled,
}

impl Entered {
    /// The caller's turn, as the model reads it.
    pub fn as_turn(&self) -> String {
        match self {
            Entered::Digits(d) if d.is_empty() => "(typed nothing on the keypad)".to_string(),
            Entered::Digits(d) => format!("(typed on the keypad: {d})"),
            Entered::Cancelled => "(pressed * on the keypad: they do not want to type it)".into(),
        }
    }
}

impl PhoneEntry {
    /// An entry starting at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            digits: String::new(),
            deadline: now + FIRST_KEY_WAIT,
        }
    }

    /// When the entry ends if no key comes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// A key: the entry's end, or None while it goes on.
    pub fn press(&mut self, key: char, now: Instant) -> Option<Entered> {
        match key {
            '#' => Some(Entered::Digits(std::mem::take(&mut self.digits))),
            '*' => Some(Entered::Cancelled),
            d if d.is_ascii_digit() => {
                self.digits.push(d);
                self.deadline = now + NEXT_KEY_WAIT;
                (self.digits.len() >= MAX_DIGITS)
                    .then(|| Entered::Digits(std::mem::take(&mut self.digits)))
            }
            _ => None,
        }
    }

    /// The deadline passed: what was typed so far.
    pub fn expire(&mut self) -> Entered {
        Entered::Digits(std::mem::take(&mut self.digits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // an arbitrary origin for the virtual times below
    fn digits_until_pound_star_cancels_and_a_pause_ends_it() {
        let t0 = Instant::now();
        let mut e = PhoneEntry::new(t0);
        assert_eq!(e.deadline(), t0 + FIRST_KEY_WAIT);
        for d in "5125550101".chars() {
            assert_eq!(e.press(d, t0), None);
        }
        assert_eq!(e.press('A', t0), None, "not a key we know");
        assert_eq!(e.deadline(), t0 + NEXT_KEY_WAIT);
        let done = e.press('#', t0).unwrap();
        assert_eq!(done.as_turn(), "(typed on the keypad: 5125550101)");

        let mut e = PhoneEntry::new(t0);
        e.press('5', t0);
        assert_eq!(e.press('*', t0), Some(Entered::Cancelled));

        let mut e = PhoneEntry::new(t0);
        e.press('0', t0);
        e.press('7', t0);
        assert_eq!(e.expire(), Entered::Digits("07".into()));
        assert_eq!(
            PhoneEntry::new(t0).expire().as_turn(),
            "(typed nothing on the keypad)"
        );

        let mut e = PhoneEntry::new(t0);
        let ends: Vec<_> = "1234567890123456"
            .chars()
            .filter_map(|d| e.press(d, t0))
            .collect();
        assert_eq!(
            ends,
            [Entered::Digits("123456789012345".into())],
            "at most 15 digits"
        );
    }
}
