//! The inbox: a coordinator's reports with filters (status, chain label, category, subject
//! role, overdue), ordered by receipt or nearest deadline, in keyset-paginated pages, with
//! counts per filter value from the maintained `inbox_counts`. Never decrypts anything.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use askama::Template;

use super::{current, to_login};
use crate::domain::keyring;
use crate::domain::report::{Category, ChainLabel, Status, SubjectRole};
use crate::features::casefile::{self, DeadlineView};
use crate::http::form::Form;
use crate::http::form::Opt;
use crate::http::{paths, query_lang, render, OrAppError, Page, PageResult, State};
use crate::i18n::{fmt_date, Lang};
use crate::ids;
use crate::storage::{InboxQuery, InboxSort};

pub const PAGE_SIZE: i64 = 50;
/// Overdue reports are counted exactly up to this many (a coordinator needs the real
/// number: 40 overdue is not "25+"); only beyond it does the page say "500+". The bound
/// keeps the count's index walk short at 100,000 reports (BENCHMARKS.md, "How the inbox
/// stays flat": counting every overdue report made the first page 18 times slower).
pub const OVERDUE_CAP: i64 = 500;

pub struct InboxItem {
    pub deadline: Option<DeadlineView>,
    pub href: String,
    pub reference: String,
    pub received_on: String,
    pub chain_label: String,
    pub category: String,
    pub subject: String,
    pub status: String,
    pub unread: i64,
}

/// One filter select: its field name, legend and options with counts.
pub struct FilterSelect {
    pub name: &'static str,
    pub label: &'static str,
    pub options: Vec<Opt>,
    pub counts: Vec<i64>,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    page: Page,
    notice: Option<String>,
    name: String,
    csrf: String,
    items: Vec<InboxItem>,
    filters: Vec<FilterSelect>,
    overdue: bool,
    overdue_count: String,
    by_deadline: bool,
    next_href: Option<String>,
    first_href: Option<String>,
    filtered: bool,
}

fn select<T: Copy>(
    name: &'static str,
    label: &'static str,
    all: &[T],
    code: fn(T) -> &'static str,
    text: impl Fn(T) -> &'static str,
    chosen: Option<&str>,
    counts: &[(String, String, i64)],
) -> FilterSelect {
    // The filter's field name is also its dimension in `inbox_counts`.
    let dimension = name;
    let options: Vec<Opt> = all
        .iter()
        .map(|&v| Opt {
            code: code(v),
            label: text(v),
            selected: chosen == Some(code(v)),
        })
        .collect();
    let counts = options
        .iter()
        .map(|o| {
            counts
                .iter()
                .find(|(d, v, _)| d == dimension && v == o.code)
                .map(|(_, _, n)| *n)
                .unwrap_or(0)
        })
        .collect();
    FilterSelect {
        name,
        label,
        options,
        counts,
    }
}

/// The query string for these filters (without a cursor), to build page links.
fn filter_query(f: &Form, lang: Lang) -> String {
    let mut parts: Vec<String> = ["status", "label", "category", "subject", "overdue", "sort"]
        .iter()
        .filter_map(|k| {
            f.get(k).filter(|v| !v.is_empty()).map(|v| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
        })
        .collect();
    if lang == Lang::En {
        parts.push("lang=en".into());
    }
    parts.join("&")
}

/// An installation from before recipient keys were verified has no trust pin: the first
/// coordinator who opens the inbox after the upgrade vouches for the keys as they stand
/// (`keyring::vouch_for_installation`) and is shown what they vouched for, once. After
/// that no key is vouched for without a person.
async fn vouch_after_upgrade(
    state: &State,
    me: &super::Coordinator,
    lang: Lang,
) -> Result<Option<String>, crate::http::AppError> {
    let pin_file = keyring::pin_path(&state.settings);
    if pin_file.exists() {
        return Ok(None);
    }
    let vouched = keyring::vouch_for_installation(&state.store, &pin_file, &me.secret, state.clock.now())
        .await
        .or_500(lang)?;
    if vouched.is_empty() {
        return Ok(None);
    }
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), "keys_vouched", None)
        .await
        .or_500(lang)?;
    tracing::info!(pin = %pin_file.display(), "the first coordinator after the upgrade vouched for the installation's keys");
    let list = vouched
        .iter()
        .map(|(who, fp)| format!("{who}: {fp}"))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Some(match lang {
        Lang::Nl => format!(
            "U heeft zojuist ingestaan voor de sleutels van dit meldpunt zoals ze nu zijn; voortaan krijgt alleen een sleutel waar een collega voor instaat nog meldingen. Collega's die meldingen krijgen maar nog niet zelf mogen instaan, keurt u op de pagina Coördinatoren opnieuw goed. Vingerafdrukken: {list}."
        ),
        Lang::En => format!(
            "You have just vouched for this meldpunt's keys as they are now; from now on only a key a colleague vouches for receives reports. Colleagues who receive reports but may not vouch yet are approved again on the Coordinators page. Fingerprints: {list}."
        ),
    }))
}

/// The coordinators' banner when a recipient key failed verification (a row changed by
/// hand): nothing is wrapped to it, and the operator should find out who changed it.
async fn key_alarm(state: &State, lang: Lang) -> Result<Option<String>, crate::http::AppError> {
    let verified = keyring::verify_installation(&state.store, &state.settings)
        .await
        .or_500(lang)?;
    if verified.problems.is_empty() {
        return Ok(None);
    }
    verified.log_problems();
    let list = verified.problems.join("; ");
    Ok(Some(match lang {
        Lang::Nl => format!(
            "Let op: een sleutel klopt niet met wat het meldpunt vastlegde, dus is hij in de database met de hand veranderd. Meldingen gaan er niet naartoe. Vraag de beheerder dit uit te zoeken: {list}."
        ),
        Lang::En => format!(
            "Warning: a key does not match what the meldpunt pinned, so it was changed by hand in the database. No report is wrapped to it. Ask the operator to look into it: {list}."
        ),
    }))
}

pub async fn inbox(state: State, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let s = lang.staff();
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let vouched = vouch_after_upgrade(&state, &me, lang).await?;
    let alarm = key_alarm(&state, lang).await?;
    let f = Form::parse(req.query_string().as_bytes());
    // Unknown values are ignored rather than refused: a filter is a view, not input.
    let status = f.get("status").and_then(Status::parse).map(Status::code);
    let label = f.get("label").and_then(ChainLabel::parse).map(ChainLabel::code);
    let category = f.get("category").and_then(Category::parse).map(Category::code);
    let subject = f.get("subject").and_then(SubjectRole::parse).map(SubjectRole::code);
    let overdue = f.get("overdue") == Some("1");
    // Overdue reports are shown most overdue first: that is what the view is for, and it
    // walks the deadline index instead of sorting every overdue report by receipt.
    let sort = if overdue || f.get("sort") == Some("deadline") {
        InboxSort::Deadline
    } else {
        InboxSort::Received
    };
    let after = f.get("after").and_then(|a| a.split_once('~')).and_then(|(k, id)| {
        let key_ok = crate::domain::deadlines::parse_date(k).is_some();
        (key_ok && ids::parse(id).is_some()).then(|| (k.to_string(), id.to_string()))
    });
    let today = state.clock.today();
    let today_s = state.clock.today_string();
    let query = InboxQuery {
        coordinator_id: &me.row.id,
        status,
        label,
        category,
        subject,
        overdue_before: overdue.then_some(today_s.as_str()),
        sort,
        after: after.clone(),
        limit: PAGE_SIZE,
    };
    let mut rows = state.store.inbox_page(&query).await.or_500(lang)?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let base = filter_query(&f, lang);
    let link = |extra: &str| {
        let q = [base.as_str(), extra]
            .iter()
            .filter(|p| !p.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("&");
        if q.is_empty() {
            paths::ADMIN.to_string()
        } else {
            format!("{}?{q}", paths::ADMIN)
        }
    };
    let next_href = more.then(|| rows.last()).flatten().map(|r| {
        let key = match sort {
            InboxSort::Received => &r.received_on,
            InboxSort::Deadline => &r.next_due_on,
        };
        link(&format!("after={key}~{}", r.id))
    });
    let first_href = after.is_some().then(|| link(""));
    let items = rows
        .into_iter()
        .map(|r| InboxItem {
            deadline: casefile::deadline_view(
                lang,
                today,
                &r.received_on,
                r.acknowledged_on.as_deref(),
                r.feedback_on.as_deref(),
                &r.status,
            ),
            href: lang.href(&paths::admin_report(&r.id)),
            reference: casefile::reference(&r.id),
            received_on: fmt_date(lang, &r.received_on),
            chain_label: ChainLabel::label_of(&r.chain_label, lang),
            category: Category::label_of(&r.category, lang),
            subject: SubjectRole::label_of(&r.subject_role, lang),
            status: Status::label_of(&r.status, lang),
            unread: r.unread_for_coordinators,
        })
        .collect();
    let counts = state.store.inbox_counts(&me.row.id).await.or_500(lang)?;
    let overdue_count = state
        .store
        .overdue_count(&me.row.id, &today_s, OVERDUE_CAP + 1)
        .await
        .or_500(lang)?;
    let overdue_count = if overdue_count > OVERDUE_CAP {
        format!("{OVERDUE_CAP}+")
    } else {
        overdue_count.to_string()
    };
    let filters = vec![
        select(
            "status",
            s.col_status,
            Status::ALL,
            Status::code,
            |v| v.label(lang),
            status,
            &counts,
        ),
        select(
            "label",
            s.col_label,
            ChainLabel::ALL,
            ChainLabel::code,
            |v| v.label(lang),
            label,
            &counts,
        ),
        select(
            "category",
            s.col_category,
            Category::ALL,
            Category::code,
            |v| v.label(lang),
            category,
            &counts,
        ),
        select(
            "subject",
            s.col_subject,
            SubjectRole::ALL,
            SubjectRole::code,
            |v| v.label(lang),
            subject,
            &counts,
        ),
    ];
    let page = Page::new(&state, lang, paths::ADMIN);
    Ok(render(
        StatusCode::OK,
        &InboxPage {
            page,
            notice: alarm.or(vouched).or_else(|| {
                req.query_string()
                    .contains("done=stepped_aside")
                    .then(|| s.stepped_aside_notice.to_string())
            }),
            name: me.row.display_name.clone(),
            csrf: me.session.token.csrf(),
            items,
            filtered: status.is_some() || label.is_some() || category.is_some() || subject.is_some() || overdue,
            filters,
            overdue,
            overdue_count,
            by_deadline: sort == InboxSort::Deadline,
            next_href,
            first_href,
        },
    ))
}
