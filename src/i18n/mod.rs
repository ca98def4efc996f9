//! Every text a user sees, in Dutch (the default) and English, grouped by audience: what
//! reporters see and every page shares ([`Texts`], `lang.t()`), what only coordinators see
//! ([`StaffTexts`], `lang.staff()`), the notification mail ([`mail`]) and the report form's
//! questions ([`Questions`]). Each group is a struct with a field per text, so the compiler
//! refuses a text that exists in one language only.

pub mod mail;
pub mod questions;
pub mod reporter;
pub mod staff;

pub use questions::Questions;
pub use reporter::Texts;
pub use staff::StaffTexts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Nl,
    En,
}

impl Lang {
    /// `en` means English; anything else, or nothing, Dutch.
    pub fn from_code(code: Option<&str>) -> Lang {
        match code {
            Some("en") => Lang::En,
            _ => Lang::Nl,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Nl => Lang::En,
            Lang::En => Lang::Nl,
        }
    }

    /// The texts reporters see and the chrome every page shares.
    pub fn t(self) -> &'static Texts {
        match self {
            Lang::Nl => &reporter::NL,
            Lang::En => &reporter::EN,
        }
    }

    /// The texts only coordinators see.
    pub fn staff(self) -> &'static StaffTexts {
        match self {
            Lang::Nl => &staff::NL,
            Lang::En => &staff::EN,
        }
    }

    /// A same-site link that keeps the language: the language travels in the address, not in
    /// a cookie, because reporter pages set no cookie before the meldcode is entered.
    pub fn href(self, path: &str) -> String {
        match self {
            Lang::Nl => path.to_string(),
            Lang::En if path.contains('?') => format!("{path}&lang=en"),
            Lang::En => format!("{path}?lang=en"),
        }
    }
}

/// A stored `YYYY-MM-DD` date as people write it: "30 november 2026" / "30 November 2026".
pub fn fmt_date(lang: Lang, iso: &str) -> String {
    const NL: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    use chrono::Datelike;
    match chrono::NaiveDate::parse_from_str(iso, "%Y-%m-%d") {
        Ok(d) => {
            let months = if lang == Lang::Nl { &NL } else { &EN };
            format!("{} {} {}", d.day(), months[d.month0() as usize], d.year())
        }
        Err(_) => iso.to_string(),
    }
}
