//! The report form's questions, worded for the reporter or for a coordinator recording an
//! oral report; the reporter's wording comes from [`Texts`](super::Texts).

use super::Lang;

/// The report form's questions, worded for whoever fills it in: the reporter, or a
/// coordinator recording an oral report on the reporter's behalf.
#[derive(Clone, Copy)]
pub struct Questions {
    pub what: &'static str,
    pub what_hint: &'static str,
    pub when: &'static str,
    pub when_hint: &'static str,
    pub place: &'static str,
    pub where_hint: &'static str,
    pub subject: &'static str,
    /// A shared intake's question: which body the report concerns.
    pub body: &'static str,
    pub category: &'static str,
    pub about: &'static str,
    pub about_hint: &'static str,
    pub how_known: &'static str,
    pub anonymity: &'static str,
    pub contact: &'static str,
    pub contact_hint: &'static str,
    pub contact_optional: &'static str,
    pub exclude: &'static str,
    pub exclude_hint: &'static str,
    pub err_summary: &'static str,
}

impl Questions {
    /// The reporter's own form.
    pub fn reporter(lang: Lang) -> Questions {
        let t = lang.t();
        Questions {
            what: t.q_what,
            what_hint: t.q_what_hint,
            when: t.q_when,
            when_hint: t.q_when_hint,
            place: t.q_where,
            where_hint: t.q_where_hint,
            subject: t.q_subject,
            body: t.q_body,
            category: t.q_category,
            about: t.q_about,
            about_hint: t.q_about_hint,
            how_known: t.q_how_known,
            anonymity: t.q_anonymity,
            contact: t.q_contact,
            contact_hint: t.q_contact_hint,
            contact_optional: t.contact_optional,
            exclude: t.q_exclude,
            exclude_hint: t.q_exclude_hint,
            err_summary: t.err_summary,
        }
    }

    /// A coordinator recording what a reporter told them: about the reporter, not to them.
    pub fn coordinator(lang: Lang) -> Questions {
        let base = Questions::reporter(lang);
        match lang {
            Lang::Nl => Questions {
                what_hint: "Wie deed wat, en waarom vindt de melder het niet in orde? Zo veel mogelijk in de woorden van de melder; laat details weg waaraan de melder herkend kan worden als die anoniem wil blijven.",
                subject: "Over wie gaat de melding?",
                body: "Over welke organisatie gaat de melding?",
                about: "Waar gaat de melding vooral over?",
                about_hint: "Kies wat het beste past; u kunt dit later aanpassen.",
                how_known: "Hoe weet de melder dit?",
                anonymity: "Wil de melder anoniem blijven?",
                contact: "Contactgegevens van de melder",
                contact_hint: "Alleen als de melder vertrouwelijk meldt en ze u gaf. Alleen wie de melding mag lezen, ziet dit.",
                contact_optional: "(alleen bij een vertrouwelijke melding)",
                exclude: "Mag iemand de melding niet zien?",
                exclude_hint: "Vink aan wie de melding volgens de melder niet mag lezen, bijvoorbeeld omdat ze over die persoon gaat.",
                err_summary: "De melding is nog niet vastgelegd. Wat u invulde staat er nog; pas het volgende aan:",
                ..base
            },
            Lang::En => Questions {
                what_hint: "Who did what, and why does the reporter think it is not right? As much as possible in the reporter's words; leave out details that could identify the reporter if they want to stay anonymous.",
                subject: "Who is the report about?",
                body: "Which organisation is the report about?",
                about: "What is the report mainly about?",
                about_hint: "Choose what fits best; you can change this later.",
                how_known: "How does the reporter know this?",
                anonymity: "Does the reporter want to stay anonymous?",
                contact: "The reporter's contact details",
                contact_hint: "Only if the reporter reports confidentially and gave them to you. Only those who may read the report see this.",
                contact_optional: "(only for a confidential report)",
                exclude: "Is there someone who must not see the report?",
                exclude_hint: "Tick who, according to the reporter, must not read the report, for example because it is about them.",
                err_summary: "The report has not been recorded yet. What you entered is still here; please change the following:",
                ..base
            },
        }
    }
}
