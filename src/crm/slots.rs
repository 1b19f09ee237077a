//! Where an appointment fits: the bays busy over a span, the bookable slots of a range of days
//! (spread over the days, in the caller's part of the day), the check of one start time, and
//! the nearest alternatives when a time cannot be booked. Read-only; booking writes in
//! `booking`, inside the transaction that makes these checks safe.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::availability::{self, Busy, DayRequest, PartOfDay, Slot};
use super::booking::ACTIVE_STATUSES;
use super::catalog::{self, WeekHours, clock};
use super::error::{CrmError, Unavailable};
use super::schedule::Schedule;
use entity::{appointment, appointment_bay, closure, service_type};

/// How many alternatives a refused booking offers.
const ALTERNATIVES: usize = 3;

/// Bays held over `[from, to)` by active appointments other than `except`.
async fn busy_between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    except: Option<i32>,
) -> Result<Vec<Busy>, CrmError> {
    let mut q = appointment::Entity::find()
        .filter(appointment::Column::Status.is_in(ACTIVE_STATUSES))
        .filter(appointment::Column::StartsAt.lt(to))
        .filter(appointment::Column::EndsAt.gt(from));
    if let Some(id) = except {
        q = q.filter(appointment::Column::Id.ne(id));
    }
    let appointments = q.all(db).await?;
    if appointments.is_empty() {
        return Ok(Vec::new());
    }
    let holds = appointment_bay::Entity::find()
        .filter(appointment_bay::Column::AppointmentId.is_in(appointments.iter().map(|a| a.id)))
        .all(db)
        .await?;
    Ok(holds
        .iter()
        .filter_map(|h| {
            let a = appointments.iter().find(|a| a.id == h.appointment_id)?;
            Some(Busy {
                bay_id: h.bay_id,
                starts: a.starts_at,
                ends: a.ends_at,
            })
        })
        .collect())
}

/// What a slot search asks for.
#[derive(Debug, Clone)]
pub struct SlotQuery<'a> {
    /// The service.
    pub service: &'a service_type::Model,
    /// First day (business time zone).
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// Caller's preference.
    pub part_of_day: PartOfDay,
}

/// The shop's calendar over a range of days, loaded once.
struct Calendar {
    week: WeekHours,
    closed: Vec<closure::Model>,
    bays: Vec<i32>,
    busy: Vec<Busy>,
}

impl Calendar {
    async fn load(
        db: &impl ConnectionTrait,
        schedule: &Schedule,
        from: NaiveDate,
        to: NaiveDate,
        except: Option<i32>,
    ) -> Result<Self, CrmError> {
        let (start, _) = schedule.day_window(from);
        let (_, end) = schedule.day_window(to);
        Ok(Self {
            week: catalog::week_hours(db).await?,
            closed: catalog::closures(db, from, to).await?,
            bays: catalog::active_bays(db).await?,
            busy: busy_between(db, start, end, except).await?,
        })
    }

    fn day_slots(
        &self,
        schedule: &Schedule,
        service: &service_type::Model,
        day: NaiveDate,
        part_of_day: PartOfDay,
        now: DateTime<Utc>,
    ) -> Vec<Slot> {
        availability::slots(&DayRequest {
            day,
            hours: catalog::hours_on(&self.week, &self.closed, day),
            tz: schedule.tz,
            bays: &self.bays,
            busy: &self.busy,
            duration: Duration::minutes(service.duration_minutes.into()),
            bays_needed: service.bays_needed.max(1) as usize,
            step: schedule.step(),
            part_of_day,
            not_before: schedule.not_before(now),
        })
    }
}

/// Every bookable slot for `q`, earliest first; days beyond the horizon are left out.
async fn all_slots(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    q: &SlotQuery<'_>,
    now: DateTime<Utc>,
    except: Option<i32>,
) -> Result<Vec<Slot>, CrmError> {
    let from = q.from.max(schedule.today(now));
    let to = q.to.min(schedule.last_day(now));
    if from > to {
        return Ok(Vec::new());
    }
    let cal = Calendar::load(db, schedule, from, to, except).await?;
    let mut out = Vec::new();
    let mut day = from;
    while day <= to {
        out.extend(cal.day_slots(schedule, q.service, day, q.part_of_day, now));
        day += Duration::days(1);
    }
    Ok(out)
}

/// A few concrete options spread over the range: from each day its earliest slot and at most
/// one more at least two hours later, until `limit`; then the earliest of the rest.
pub fn spread(slots: &[Slot], schedule: &Schedule, limit: usize) -> Vec<Slot> {
    let mut picked: Vec<Slot> = Vec::new();
    for s in slots {
        if picked.len() >= limit {
            break;
        }
        let day = s.starts.with_timezone(&schedule.tz).date_naive();
        let same_day: Vec<&Slot> = picked
            .iter()
            .filter(|p| p.starts.with_timezone(&schedule.tz).date_naive() == day)
            .collect();
        let far_enough = same_day
            .iter()
            .all(|p| s.starts - p.starts >= Duration::hours(2));
        if same_day.len() < 2 && far_enough {
            picked.push(s.clone());
        }
    }
    for s in slots {
        if picked.len() >= limit {
            break;
        }
        if !picked.contains(s) {
            picked.push(s.clone());
        }
    }
    picked.sort_by_key(|s| s.starts);
    picked
}

/// Up to `limit` bookable options for `q`.
pub async fn find_slots(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    q: &SlotQuery<'_>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Slot>, CrmError> {
    let all = all_slots(db, schedule, q, now, None).await?;
    Ok(spread(&all, schedule, limit))
}

/// The bookable slots nearest `wanted` within a week: later ones first, then earlier.
pub(super) async fn alternatives(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    service: &service_type::Model,
    wanted: DateTime<Utc>,
    now: DateTime<Utc>,
    except: Option<i32>,
) -> Result<Vec<Slot>, CrmError> {
    let day = schedule.today(wanted.max(now));
    let q = SlotQuery {
        service,
        from: day,
        to: day + Duration::days(7),
        part_of_day: PartOfDay::Any,
    };
    let mut all = all_slots(db, schedule, &q, now, except).await?;
    all.sort_by_key(|s| (s.starts < wanted, (s.starts - wanted).abs()));
    all.truncate(ALTERNATIVES);
    all.sort_by_key(|s| s.starts);
    Ok(all)
}

/// Why `starts` cannot take `service`, or the bays it would use.
pub(super) async fn check_slot(
    db: &impl ConnectionTrait,
    schedule: &Schedule,
    service: &service_type::Model,
    starts: DateTime<Utc>,
    now: DateTime<Utc>,
    except: Option<i32>,
) -> Result<Result<Slot, Unavailable>, CrmError> {
    let day = starts.with_timezone(&schedule.tz).date_naive();
    let ends = starts + Duration::minutes(service.duration_minutes.into());
    if starts < schedule.not_before(now) {
        return Ok(Err(Unavailable::TooSoon));
    }
    if day > schedule.last_day(now) {
        return Ok(Err(Unavailable::TooFar));
    }
    let cal = Calendar::load(db, schedule, day, day, except).await?;
    let Some((opens, closes)) = catalog::hours_on(&cal.week, &cal.closed, day) else {
        return Ok(Err(Unavailable::Closed {
            day,
            reason: cal.closed.first().map(|c| c.reason.clone()),
        }));
    };
    let (midnight, _) = schedule.day_window(day);
    let open_at = availability::local_time(schedule.tz, day, opens).unwrap_or(midnight);
    let close_at = availability::local_time(schedule.tz, day, closes).unwrap_or(open_at);
    if starts < open_at || ends > close_at {
        return Ok(Err(Unavailable::OutsideHours {
            opens: clock(opens),
            closes: clock(closes),
        }));
    }
    if (starts - open_at).num_seconds() % schedule.step().num_seconds() != 0 {
        return Ok(Err(Unavailable::OffGrid));
    }
    let free = availability::free_bays(&cal.bays, &cal.busy, starts, ends);
    let needed = service.bays_needed.max(1) as usize;
    if free.len() < needed {
        return Ok(Err(Unavailable::Taken));
    }
    Ok(Ok(Slot {
        starts,
        ends,
        bay_ids: free[..needed].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::BookingPolicy;

    #[test]
    fn spread_offers_different_days_and_times_before_crowding_one_morning() {
        let schedule = Schedule {
            tz: chrono_tz::UTC,
            policy: BookingPolicy::default(),
        };
        let at = |d, h, m| Utc.with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap();
        let slot = |t: DateTime<Utc>| Slot {
            starts: t,
            ends: t + Duration::hours(1),
            bay_ids: vec![1],
        };
        let all: Vec<Slot> = [
            at(24, 8, 0),
            at(24, 8, 30),
            at(24, 9, 0),
            at(24, 10, 30),
            at(24, 13, 0),
            at(25, 8, 0),
            at(25, 8, 30),
        ]
        .into_iter()
        .map(slot)
        .collect();
        let starts = |v: Vec<Slot>| v.into_iter().map(|s| s.starts).collect::<Vec<_>>();
        assert_eq!(
            starts(spread(&all, &schedule, 3)),
            [at(24, 8, 0), at(24, 10, 30), at(25, 8, 0)]
        );
        // Fewer days than asked for: the rest are the earliest left.
        assert_eq!(
            starts(spread(&all[..3], &schedule, 3)),
            [at(24, 8, 0), at(24, 8, 30), at(24, 9, 0)]
        );
        assert!(spread(&[], &schedule, 3).is_empty());
    }
}
