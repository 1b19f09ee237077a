//! Which start times can take a service on a given day: the pure core of
//! `find_available_slots`, and the capacity rule the booking transaction re-checks.
//!
//! Inputs are plain values (opening hours, bays, busy intervals, `now`), so every rule is
//! tested without a database: a slot lies within opening hours in the business time zone,
//! starts on the step grid, not in the past, and has enough bays free for its whole length.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A caller's "morning", "afternoon" or "evening", or no preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartOfDay {
    /// Starts before noon.
    Morning,
    /// Starts from noon until 5 pm.
    Afternoon,
    /// Starts from 5 pm.
    Evening,
    /// Any time.
    Any,
}

impl PartOfDay {
    fn admits(self, start: NaiveTime) -> bool {
        let noon = NaiveTime::from_hms_opt(12, 0, 0).expect("valid time");
        let five = NaiveTime::from_hms_opt(17, 0, 0).expect("valid time");
        match self {
            PartOfDay::Morning => start < noon,
            PartOfDay::Afternoon => start >= noon && start < five,
            PartOfDay::Evening => start >= five,
            PartOfDay::Any => true,
        }
    }
}

/// A bay occupied over an interval (an existing, not cancelled, appointment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// The bay.
    pub bay_id: i32,
    /// From.
    pub starts: DateTime<Utc>,
    /// Until (exclusive).
    pub ends: DateTime<Utc>,
}

/// A bookable start with the bays that would take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Start.
    pub starts: DateTime<Utc>,
    /// End.
    pub ends: DateTime<Utc>,
    /// Free bays for the whole interval, lowest ids first, as many as the service needs.
    pub bay_ids: Vec<i32>,
}

/// What the day looks like.
#[derive(Debug, Clone)]
pub struct DayRequest<'a> {
    /// The day, in the business time zone.
    pub day: NaiveDate,
    /// Opening and closing minutes after midnight; `None` when closed.
    pub hours: Option<(i16, i16)>,
    /// The business time zone.
    pub tz: Tz,
    /// Active bays.
    pub bays: &'a [i32],
    /// Busy intervals overlapping the day.
    pub busy: &'a [Busy],
    /// Service length.
    pub duration: Duration,
    /// Bays the service occupies at once.
    pub bays_needed: usize,
    /// Spacing of offered start times.
    pub step: Duration,
    /// Caller's preference.
    pub part_of_day: PartOfDay,
    /// Nothing earlier than this is offered (now plus any lead time).
    pub not_before: DateTime<Utc>,
}

/// Bays free over `[starts, ends)`, in id order.
pub fn free_bays(
    bays: &[i32],
    busy: &[Busy],
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
) -> Vec<i32> {
    let mut free: Vec<i32> = bays
        .iter()
        .copied()
        .filter(|bay| {
            !busy
                .iter()
                .any(|b| b.bay_id == *bay && b.starts < ends && starts < b.ends)
        })
        .collect();
    free.sort_unstable();
    free
}

/// Minute `minute` of `day` on the wall clock of `tz`, as an instant (the earlier one when
/// the clocks go back; `None` when skipped). Slot search and the booking check both use it,
/// so they agree on opening and closing times, DST days included.
pub fn local_time(tz: Tz, day: NaiveDate, minute: i16) -> Option<DateTime<Utc>> {
    let time = NaiveTime::from_hms_opt(minute as u32 / 60, minute as u32 % 60, 0)?;
    tz.from_local_datetime(&day.and_time(time))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Every slot of the day that fits the request, earliest first.
pub fn slots(req: &DayRequest<'_>) -> Vec<Slot> {
    let Some((opens, closes)) = req.hours else {
        return Vec::new();
    };
    let (Some(open_at), Some(close_at)) = (
        local_time(req.tz, req.day, opens),
        local_time(req.tz, req.day, closes),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut start = open_at;
    while start + req.duration <= close_at {
        let end = start + req.duration;
        let local_start = start.with_timezone(&req.tz).time();
        if start >= req.not_before && req.part_of_day.admits(local_start) {
            let free = free_bays(req.bays, req.busy, start, end);
            if free.len() >= req.bays_needed.max(1) {
                out.push(Slot {
                    starts: start,
                    ends: end,
                    bay_ids: free[..req.bays_needed.max(1)].to_vec(),
                });
            }
        }
        start += req.step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: Tz = chrono_tz::America::Chicago;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 24).unwrap() // a Tuesday
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        TZ.from_local_datetime(&day().and_hms_opt(h, m, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    }

    fn request<'a>(bays: &'a [i32], busy: &'a [Busy]) -> DayRequest<'a> {
        DayRequest {
            day: day(),
            hours: Some((8 * 60, 12 * 60)),
            tz: TZ,
            bays,
            busy,
            duration: Duration::minutes(60),
            bays_needed: 1,
            step: Duration::minutes(30),
            part_of_day: PartOfDay::Any,
            not_before: at(0, 0),
        }
    }

    fn starts(slots: &[Slot]) -> Vec<DateTime<Utc>> {
        slots.iter().map(|s| s.starts).collect()
    }

    #[test]
    fn slots_fill_opening_hours_on_the_step_grid_in_local_time() {
        let bays = [1];
        let s = slots(&request(&bays, &[]));
        // 8:00 ... 11:00 for a one-hour job closing at noon: seven starts.
        assert_eq!(
            starts(&s),
            [
                at(8, 0),
                at(8, 30),
                at(9, 0),
                at(9, 30),
                at(10, 0),
                at(10, 30),
                at(11, 0)
            ]
        );
        assert_eq!(s[0].ends, at(9, 0));
        // 8:00 in Chicago in November is 14:00 UTC.
        assert_eq!(s[0].starts.format("%H:%M").to_string(), "14:00");
    }

    #[test]
    fn busy_bays_and_capacity_are_respected() {
        let bays = [1, 2];
        let busy = [
            Busy {
                bay_id: 1,
                starts: at(9, 0),
                ends: at(10, 0),
            },
            Busy {
                bay_id: 2,
                starts: at(9, 30),
                ends: at(11, 0),
            },
        ];
        let s = slots(&request(&bays, &busy));
        // 8:30-9:30 overlaps bay 1 at 9:00 but bay 2 is free until 9:30: bay 2.
        let s830 = s.iter().find(|x| x.starts == at(8, 30)).unwrap();
        assert_eq!(s830.bay_ids, [2]);
        // 9:00-10:00: bay 1 busy, bay 2 busy from 9:30: no slot.
        assert!(!starts(&s).contains(&at(9, 0)));
        assert!(!starts(&s).contains(&at(9, 30)));
        // 10:00-11:00: bay 1 is free again.
        assert_eq!(
            s.iter().find(|x| x.starts == at(10, 0)).unwrap().bay_ids,
            [1]
        );

        let mut two = request(&bays, &busy);
        two.bays_needed = 2;
        // Both bays free together only before 9:00 (ending by 9:00) and from 11:00.
        assert_eq!(starts(&slots(&two)), [at(8, 0), at(11, 0)]);
        assert_eq!(slots(&two)[0].bay_ids, [1, 2]);
    }

    #[test]
    fn closed_days_past_times_and_parts_of_day_are_excluded() {
        let bays = [1];
        let mut closed = request(&bays, &[]);
        closed.hours = None;
        assert!(slots(&closed).is_empty());

        let mut later = request(&bays, &[]);
        later.not_before = at(9, 45);
        assert_eq!(starts(&slots(&later))[0], at(10, 0));

        let mut afternoon = request(&bays, &[]);
        afternoon.hours = Some((8 * 60, 18 * 60));
        afternoon.part_of_day = PartOfDay::Afternoon;
        let s = slots(&afternoon);
        assert_eq!(s.first().unwrap().starts, at(12, 0));
        assert_eq!(s.last().unwrap().starts, at(16, 30));
    }

    #[test]
    fn a_job_longer_than_the_day_has_no_slot() {
        let bays = [1];
        let mut long = request(&bays, &[]);
        long.duration = Duration::minutes(300);
        assert!(slots(&long).is_empty());
    }
}
