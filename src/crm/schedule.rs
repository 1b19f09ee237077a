//! The appointment book's clock: the business time zone and booking policy, turning local
//! days and times into UTC instants and back into words a caller understands.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{BookingPolicy, BusinessSettings};

/// The time zone and rules every booking is made under.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The business time zone.
    pub tz: Tz,
    /// Grid, lead time and horizon.
    pub policy: BookingPolicy,
}

impl Schedule {
    /// The schedule of the shop `business` describes.
    pub fn for_business(business: &BusinessSettings) -> Self {
        Self {
            tz: business.timezone,
            policy: business.booking,
        }
    }

    /// Today in the business time zone.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz).date_naive()
    }

    /// The last day bookings are taken for.
    pub fn last_day(&self, now: DateTime<Utc>) -> NaiveDate {
        self.today(now) + Duration::days(self.policy.horizon_days.into())
    }

    /// The earliest start that may be booked.
    pub fn not_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::minutes(self.policy.min_lead_minutes.into())
    }

    /// Spacing of offered start times.
    pub fn step(&self) -> Duration {
        Duration::minutes(self.policy.slot_step_minutes.into())
    }

    /// `[start, end)` of a local day, in UTC (23 or 25 hours long on DST changes).
    pub fn day_window(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = |d: NaiveDate| {
            self.tz
                .from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                // No zone skips a whole hour around midnight into nothing; fall back to UTC.
                .unwrap_or_else(|| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("ok")))
        };
        (start(day), start(day + Duration::days(1)))
    }

    /// A wall-clock time in the business time zone as an instant; `None` when it does not
    /// exist (skipped by a DST change).
    pub fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// "2026-11-24T09:00": the form tools exchange with the LLM (local, no offset).
    pub fn local_iso(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    }

    /// "Tuesday, November 24 at 9:00 AM": the form the agent reads out.
    pub fn spoken(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%A, %B %-d at %-I:%M %p")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule {
            tz: chrono_tz::America::Chicago,
            policy: BookingPolicy::default(),
        }
    }

    #[test]
    fn local_days_and_words() {
        let s = schedule();
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 3, 0, 0).unwrap(); // 9 pm Sunday in Chicago
        assert_eq!(s.today(now), NaiveDate::from_ymd_opt(2026, 11, 22).unwrap());
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap();
        assert_eq!(s.local_iso(t), "2026-11-24T09:00");
        assert_eq!(s.spoken(t), "Tuesday, November 24 at 9:00 AM");
        // The day DST ends in Chicago has 25 hours.
        let (a, b) = s.day_window(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(b - a, Duration::hours(25));
    }
}
