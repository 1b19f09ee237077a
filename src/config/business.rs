//! The service center itself: what the agent says about it and the time zone its hours and
//! bookings are in.

use chrono_tz::Tz;

use super::settings::Reader;

/// Business facts from settings.
#[derive(Debug, Clone)]
pub struct BusinessSettings {
    /// `BUSINESS_NAME`.
    pub name: String,
    /// `BUSINESS_ADDRESS`.
    pub address: String,
    /// `BUSINESS_PHONE`: the number callers can be given (E.164 or as written).
    pub phone: String,
    /// `BUSINESS_TIMEZONE`: IANA zone of opening hours and bookings, e.g. `America/Chicago`.
    pub timezone: Tz,
    /// How bookings are offered.
    pub booking: BookingPolicy,
}

/// The rules of the appointment book that are the shop's choice rather than data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingPolicy {
    /// `BOOKING_SLOT_STEP_MINUTES`: offered start times fall on this grid from opening time,
    /// so the book stays tidy and a caller hears "9:00 or 9:30", not "9:07".
    pub slot_step_minutes: u32,
    /// `BOOKING_MIN_LEAD_MINUTES`: nothing starts sooner than this after the call, so the shop
    /// has time to see the booking.
    pub min_lead_minutes: u32,
    /// `BOOKING_HORIZON_DAYS`: how far ahead bookings are taken.
    pub horizon_days: u32,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            slot_step_minutes: 30,
            min_lead_minutes: 60,
            horizon_days: 90,
        }
    }
}

pub(super) fn read(r: &mut Reader<'_>) -> BusinessSettings {
    let zone = r.string("BUSINESS_TIMEZONE", "America/Chicago");
    let timezone = zone.parse::<Tz>().unwrap_or_else(|_| {
        r.problem(
            "BUSINESS_TIMEZONE",
            format!("{zone:?} is not an IANA time zone; use e.g. America/Chicago or Europe/Berlin"),
        );
        Tz::America__Chicago
    });
    BusinessSettings {
        name: r.string("BUSINESS_NAME", "Lone Star Auto Service"),
        address: r.string("BUSINESS_ADDRESS", "1200 Congress Avenue, Austin, TX 78701"),
        phone: r.string("BUSINESS_PHONE", "+15125550100"),
        timezone,
        booking: BookingPolicy {
            slot_step_minutes: r.ranged("BOOKING_SLOT_STEP_MINUTES", 30, 5, 240) as u32,
            min_lead_minutes: r.ranged("BOOKING_MIN_LEAD_MINUTES", 60, 0, 7 * 24 * 60) as u32,
            horizon_days: r.ranged("BOOKING_HORIZON_DAYS", 90, 1, 366) as u32,
        },
    }
}
