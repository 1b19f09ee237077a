//! The English names of the weekdays and months, lower case, in calendar order (Monday first,
//! January first): one list for everything that reads or says a date aloud (the booking
//! gate's read-backs, the spoken-date parser, the built-in agent's understanding).

/// Monday first.
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// January first.
pub const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
