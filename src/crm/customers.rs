//! Customers and their vehicles: looked up by the caller's number, created on the phone.
//!
//! Names, makes and models are checked for what a person or car could be called, so a
//! transcript or an LLM that produces markup or SQL gets a clear refusal instead of a row.
//! (Every query is parameterised anyway; the check keeps the CRM clean, not safe.)

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::error::{CrmError, is_unique_violation};
use crate::domain::{PhoneNumber, Vin};
use entity::{customer, vehicle};

/// A person's name as said on the phone: letters, spaces, apostrophes, hyphens, periods.
pub fn check_name(field: &str, raw: &str) -> Result<String, CrmError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(CrmError::Invalid(format!(
            "{field} is empty; ask the caller for it"
        )));
    }
    if name.chars().count() > 100 {
        return Err(CrmError::Invalid(format!(
            "{field} is longer than 100 characters"
        )));
    }
    let allowed = |c: char| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | ',');
    if !name.chars().all(allowed) || name.contains("--") || !name.chars().any(char::is_alphabetic) {
        return Err(CrmError::Invalid(format!(
            "{field} {name:?} has characters a name cannot have; use letters, spaces, apostrophes and hyphens only"
        )));
    }
    Ok(name)
}

/// A make or model: letters, digits, spaces and `-./&+`.
fn check_vehicle_word(field: &str, raw: &str) -> Result<String, CrmError> {
    let word = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let allowed =
        |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '.' | '/' | '&' | '+' | '\'');
    if word.is_empty() || word.chars().count() > 60 || !word.chars().all(allowed) {
        return Err(CrmError::Invalid(format!(
            "{field} {raw:?} is not a vehicle {field}; use letters and digits, e.g. Toyota / Camry"
        )));
    }
    Ok(word)
}

/// An e-mail address in its plain form (one `@`, a dotted domain, no spaces).
fn check_email(raw: &str) -> Result<String, CrmError> {
    let email = raw.trim().to_lowercase();
    let ok = email.len() <= 254
        && email.split('@').count() == 2
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && email
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.+-_".contains(c));
    if ok {
        Ok(email)
    } else {
        Err(CrmError::Invalid(format!(
            "e-mail {raw:?} is not an address like name@example.com; leave it out if the caller is unsure"
        )))
    }
}

/// The customer with this phone number, if any.
pub async fn by_phone(
    db: &impl ConnectionTrait,
    phone: &PhoneNumber,
) -> Result<Option<customer::Model>, CrmError> {
    Ok(customer::Entity::find()
        .filter(customer::Column::Phone.eq(phone.as_str()))
        .one(db)
        .await?)
}

/// The customer with this id.
pub async fn by_id(db: &impl ConnectionTrait, id: i32) -> Result<customer::Model, CrmError> {
    customer::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(CrmError::NotFound {
            what: "customer",
            id: id.into(),
        })
}

/// Adds a customer; a number already on file is [`CrmError::CustomerExists`].
pub async fn create(
    db: &impl ConnectionTrait,
    phone: &PhoneNumber,
    name: &str,
    email: Option<&str>,
    now: DateTime<Utc>,
) -> Result<customer::Model, CrmError> {
    let name = check_name("name", name)?;
    let email = email
        .filter(|e| !e.trim().is_empty())
        .map(check_email)
        .transpose()?;
    let exists = |customer_id| CrmError::CustomerExists {
        phone: phone.to_string(),
        customer_id,
    };
    if let Some(c) = by_phone(db, phone).await? {
        return Err(exists(c.id));
    }
    let inserted = customer::ActiveModel {
        phone: Set(phone.to_string()),
        name: Set(name),
        email: Set(email),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(c) => Ok(c),
        // Created by a concurrent call between the check and the insert.
        Err(e) if is_unique_violation(&e) => match by_phone(db, phone).await? {
            Some(c) => Err(exists(c.id)),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// A customer's vehicles, oldest record first.
pub async fn vehicles(
    db: &impl ConnectionTrait,
    customer_id: i32,
) -> Result<Vec<vehicle::Model>, CrmError> {
    by_id(db, customer_id).await?;
    Ok(vehicle::Entity::find()
        .filter(vehicle::Column::CustomerId.eq(customer_id))
        .order_by_asc(vehicle::Column::Id)
        .all(db)
        .await?)
}

/// What a caller says about a car.
#[derive(Debug, Clone)]
pub struct NewVehicle<'a> {
    /// Model year.
    pub year: i32,
    /// Make.
    pub make: &'a str,
    /// Model.
    pub model: &'a str,
    /// VIN, when the caller reads it out (parsed by the caller of this module, so a bad one
    /// is reported as a VIN problem, not a generic one).
    pub vin: Option<Vin>,
    /// Odometer reading.
    pub mileage: Option<i32>,
}

/// Adds a vehicle to a customer.
pub async fn add_vehicle(
    db: &impl ConnectionTrait,
    customer_id: i32,
    v: &NewVehicle<'_>,
    now: DateTime<Utc>,
) -> Result<vehicle::Model, CrmError> {
    by_id(db, customer_id).await?;
    let newest = now.year() + 1;
    if !(1900..=newest).contains(&v.year) {
        return Err(CrmError::Invalid(format!(
            "year {} is not a model year; use 1900 to {newest}",
            v.year
        )));
    }
    let make = check_vehicle_word("make", v.make)?;
    let model = check_vehicle_word("model", v.model)?;
    let vin = v.vin.as_ref();
    if let Some(m) = v.mileage
        && !(0..=2_000_000).contains(&m)
    {
        return Err(CrmError::Invalid(format!(
            "mileage {m} is not an odometer reading; use 0 to 2,000,000"
        )));
    }
    let inserted = vehicle::ActiveModel {
        customer_id: Set(customer_id),
        year: Set(v.year),
        make: Set(make),
        model: Set(model),
        vin: Set(vin.as_ref().map(ToString::to_string)),
        mileage: Set(v.mileage),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(row) => Ok(row),
        Err(e) if is_unique_violation(&e) && vin.is_some() => Err(CrmError::VinInUse(
            vin.map(|v| v.to_string()).unwrap_or_default(),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_apostrophes_and_lose_sql_and_markup() {
        assert_eq!(
            check_name("name", "  Siobhán  O'Brien ").unwrap(),
            "Siobhán O'Brien"
        );
        assert_eq!(
            check_name("name", "Mary-Jane Watson Jr.").unwrap(),
            "Mary-Jane Watson Jr."
        );
        for bad in [
            "",
            "   ",
            "Robert'); DROP TABLE customers;--",
            "<script>alert(1)</script>",
            "x' OR '1'='1",
            "12345",
            "Bob -- comment",
        ] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_and_vehicle_words_are_checked() {
        assert_eq!(check_email(" Ann@Example.com ").unwrap(), "ann@example.com");
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "a@b",
            "a b@c.com",
            "a@@b.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_vehicle_word("make", "Mercedes-Benz").unwrap(),
            "Mercedes-Benz"
        );
        assert!(check_vehicle_word("model", "F-150; DELETE FROM vehicles").is_err());
    }
}
