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
    }
}
