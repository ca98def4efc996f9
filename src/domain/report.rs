//! The report's vocabulary: chain-phase labels, BIOS-style categories, subject roles,
//! how the reporter knows, statuses, and the field ids under which answers are sealed.
//! Codes are what is stored; labels exist in Dutch and English for every value.

use crate::i18n::Lang;

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $code:literal : $nl:literal / $en:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            pub fn parse(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
            pub fn label(self, lang: Lang) -> &'static str {
                match (self, lang) { $(($name::$variant, Lang::Nl) => $nl, ($name::$variant, Lang::En) => $en,)+ }
            }
            /// The label for a stored code, or the code itself if it is unknown.
            pub fn label_of(code: &str, lang: Lang) -> String {
                Self::parse(code).map(|v| v.label(lang).to_string()).unwrap_or_else(|| code.to_string())
            }
        }
    };
}

coded_enum!(
    /// The link of the integrity chain (integriteitsketen) a report is about.
    ChainLabel {
        ProActie = "pro-actie": "Pro-actie" / "Pro-action",
        Preventie = "preventie": "Preventie" / "Prevention",
        Preparatie = "preparatie": "Preparatie" / "Preparation",
        Repressie = "repressie": "Repressie" / "Repression",
        Nazorg = "nazorg": "Nazorg" / "Aftercare",
    }
);

impl ChainLabel {
    /// The order the form offers the answers in: the most common first.
    pub const INTAKE_ORDER: &'static [ChainLabel] = &[
        ChainLabel::Repressie,
        ChainLabel::Preventie,
        ChainLabel::ProActie,
        ChainLabel::Preparatie,
        ChainLabel::Nazorg,
    ];

    /// The answer to "what is your report about?" that suggests this label.
    pub fn about(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (ChainLabel::ProActie, Lang::Nl) => {
                "Een risico of kwetsbaarheid in de organisatie die bij de bron moet worden weggenomen"
            }
            (ChainLabel::ProActie, Lang::En) => {
                "A risk or weakness in the organisation that should be removed at its source"
            }
            (ChainLabel::Preventie, Lang::Nl) => {
                "Een regel, gedragscode, screening of controle die ontbreekt of niet werkt"
            }
            (ChainLabel::Preventie, Lang::En) => {
                "A rule, code of conduct, screening or check that is missing or does not work"
            }
            (ChainLabel::Preparatie, Lang::Nl) => "Er is geen plan of protocol voor als er iets misgaat",
            (ChainLabel::Preparatie, Lang::En) => "There is no plan or protocol for when something goes wrong",
            (ChainLabel::Repressie, Lang::Nl) => {
                "Een (vermoedelijke) integriteitsschending waarop gereageerd of die onderzocht moet worden"
            }
            (ChainLabel::Repressie, Lang::En) => {
                "A (suspected) integrity violation that needs a response or an investigation"
            }
            (ChainLabel::Nazorg, Lang::Nl) => "Nazorg: steun na een incident, voor mij, betrokkenen of collega's",
            (ChainLabel::Nazorg, Lang::En) => {
                "Aftercare: support after an incident, for me, those involved or colleagues"
            }
        }
    }
}

coded_enum!(
    /// The kind of (suspected) violation, after the BIOS classification.
    Category {
        Corruptie = "corruptie": "Corruptie (omkoping, giften)" / "Corruption (bribery, gifts)",
        Fraude = "fraude": "Fraude, diefstal of verduistering" / "Fraud, theft or embezzlement",
        Bevoegdheden = "misbruik-bevoegdheden": "Misbruik van bevoegdheden" / "Abuse of powers",
        Belangen = "belangenverstrengeling": "Belangenverstrengeling of onverenigbare functies en bindingen" / "Conflict of interest or incompatible positions and ties",
        Informatie = "informatie": "Misbruik of lekken van informatie" / "Misuse or leaking of information",
        Omgangsvormen = "omgangsvormen": "Ongewenste omgangsvormen" / "Undesirable behaviour (harassment, bullying, discrimination)",
        Verspilling = "verspilling": "Wanprestatie en verspilling" / "Misperformance and waste",
        VrijeTijd = "vrije-tijd": "Wangedrag in de vrije tijd" / "Misconduct outside working hours",
        Anders = "anders": "Anders, of ik weet het niet" / "Other, or I do not know",
    }
);

coded_enum!(
    /// Who the report is about.
    SubjectRole {
        Ambtenaar = "ambtenaar": "Een ambtenaar (medewerker)" / "A civil servant (employee)",
        Bestuurder = "bestuurder": "Een bestuurder (burgemeester, wethouder, gedeputeerde, dijkgraaf)" / "An executive (mayor, alderman, provincial executive, dike-reeve)",
        Raadslid = "raadslid": "Een raadslid of statenlid" / "A council or provincial council member",
        Extern = "extern": "Iemand van buiten de organisatie" / "Someone from outside the organisation",
        Onbekend = "onbekend": "Onbekend, of zeg ik liever niet" / "Unknown, or I would rather not say",
    }
);

coded_enum!(
    /// How the reporter knows what they report. Sealed, never stored in the clear.
    HowKnown {
        Zelf = "zelf": "Ik heb het zelf gezien of meegemaakt" / "I saw or experienced it myself",
        Gehoord = "gehoord": "Ik heb het van anderen gehoord" / "I heard it from others",
        Documenten = "documenten": "Uit documenten, e-mails of gegevens" / "From documents, e-mails or data",
        Anders = "anders": "Anders" / "Other",
    }
);

coded_enum!(
    /// Anonymous, or confidential with contact details the reporter chose to give.
    Anonymity {
        Anoniem = "anoniem": "Ik blijf anoniem" / "I stay anonymous",
        Vertrouwelijk = "vertrouwelijk": "Vertrouwelijk: ik geef contactgegevens, alleen voor de coördinator" / "Confidential: I give contact details, for the coordinator only",
    }
);

coded_enum!(
    /// Where a report is in its handling.
    Status {
        Nieuw = "nieuw": "Nieuw" / "New",
        InBehandeling = "in_behandeling": "In behandeling" / "Being handled",
        InOnderzoek = "in_onderzoek": "In onderzoek" / "Under investigation",
        Afgerond = "afgerond": "Afgerond" / "Completed",
        Gesloten = "gesloten": "Gesloten" / "Closed",
    }
);

/// Field ids of the sealed answers; part of each field's associated data.
pub mod field {
    pub const WHAT: u16 = 1;
    pub const WHEN: u16 = 2;
    pub const WHERE: u16 = 3;
    pub const HOW_KNOWN: u16 = 4;
    pub const ANONYMITY: u16 = 5;
    pub const CONTACT: u16 = 6;
    /// The coordinators the reporter excluded (ids, one per line). Sealed like the answers,
    /// so only those who hold the report learn whom it keeps away; never shown to anyone,
    /// only checked when access is given.
    pub const EXCLUDED: u16 = 7;
    /// In a shared intake: the body the report concerns (one of `routing.bodies`).
    pub const BODY: u16 = 8;
}
