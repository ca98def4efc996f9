//! The one mail coordinators get, in Dutch and English: something is waiting, nothing more.

use super::Lang;

/// Subject, text and HTML of the one mail there is: something is waiting, nothing more.
pub fn notification(lang: Lang, link: &str) -> (&'static str, String, String) {
    match lang {
        Lang::Nl => (
            "Er staat iets voor u klaar in het meldpunt",
            format!("Er staat iets nieuws voor u klaar in het meldpunt.\n\nLog in om het te bekijken:\n{link}\n\nDeze e-mail noemt met opzet geen melding en geen inhoud.\n"),
            format!("<p>Er staat iets nieuws voor u klaar in het meldpunt.</p><p><a href=\"{link}\">Log in om het te bekijken</a>.</p><p>Deze e-mail noemt met opzet geen melding en geen inhoud.</p>"),
        ),
        Lang::En => (
            "Something is waiting for you in the reporting point",
            format!("Something new is waiting for you in the reporting point.\n\nLog in to see it:\n{link}\n\nThis e-mail deliberately names no report and no content.\n"),
            format!("<p>Something new is waiting for you in the reporting point.</p><p><a href=\"{link}\">Log in to see it</a>.</p><p>This e-mail deliberately names no report and no content.</p>"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mails_name_nothing() {
        for lang in [Lang::Nl, Lang::En] {
            let (subject, text, html) = notification(lang, "https://meldpunt.example/beheer");
            assert!(
                text.contains("https://meldpunt.example/beheer") && html.contains("https://meldpunt.example/beheer")
            );
            assert!(!subject.is_empty());
        }
    }
}
