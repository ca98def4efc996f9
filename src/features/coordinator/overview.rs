//! The integrity-chain overview: reports per chain link and per category per quarter, open
//! versus closed, median days to acknowledge and overdue counts, as a server-rendered SVG
//! chart (no JavaScript) with the same numbers in tables, and a CSV download. Aggregates of
//! clear columns only; the export is audited.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use chrono::{Datelike, NaiveDate};

use super::{current, to_login};
use crate::domain::deadlines;
use crate::domain::report::{Category, ChainLabel};
use crate::http::context::Feature;
use crate::http::{paths, query_lang, render, OrAppError, Page, PageResult, State};
use crate::i18n::Lang;
use crate::storage::{DbResult, OverviewRow, Store};

/// Counts below this are shown as "<3" (and medians over fewer acknowledgements not at
/// all): a cell of one or two reports could single out a report, its kind and its quarter,
/// to a coordinator who has no access to it.
pub const MIN_CELL: u32 = 3;

/// A count as shown: zero and counts of at least [`MIN_CELL`] as they are, others hidden.
pub fn cell(n: u32) -> String {
    if n == 0 || n >= MIN_CELL {
        n.to_string()
    } else {
        format!("<{MIN_CELL}")
    }
}

/// Counts for one group of reports.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub total: u32,
    pub open: u32,
    pub closed: u32,
    pub ack_overdue: u32,
    pub feedback_overdue: u32,
    /// Days from receipt to acknowledgement, and how many reports took that long.
    ack_days: BTreeMap<i64, u64>,
}

/// What goes into a tally: a count of open or closed reports, acknowledgements after some
/// days, or one overdue report.
#[derive(Debug, Clone, Copy)]
enum Part {
    Reports { closed: bool, n: u32 },
    Acknowledged { days: i64, n: u64 },
    AckOverdue(u32),
    FeedbackOverdue(u32),
}

impl Tally {
    fn take(&mut self, part: Part) {
        match part {
            Part::Reports { closed, n } => {
                self.total += n;
                if closed {
                    self.closed += n;
                } else {
                    self.open += n;
                }
            }
            Part::Acknowledged { days, n } => *self.ack_days.entry(days).or_default() += n,
            Part::AckOverdue(n) => self.ack_overdue += n,
            Part::FeedbackOverdue(n) => self.feedback_overdue += n,
        }
    }

    /// The median number of days from receipt to acknowledgement, if any was acknowledged.
    pub fn median_ack(&self) -> Option<f64> {
        let count: u64 = self.ack_days.values().sum();
        if count == 0 {
            return None;
        }
        // The k-th smallest day count (0-based), walking the histogram.
        let nth = |k: u64| {
            let mut seen = 0;
            for (&days, &n) in &self.ack_days {
                seen += n;
                if seen > k {
                    return days;
                }
            }
            0
        };
        Some(if count % 2 == 1 {
            nth(count / 2) as f64
        } else {
            (nth(count / 2 - 1) + nth(count / 2)) as f64 / 2.0
        })
    }

    /// The median, only over at least [`MIN_CELL`] acknowledgements (one day count of a
    /// single report would be that report's).
    pub fn median_shown(&self) -> Option<f64> {
        self.median_ack()
            .filter(|_| self.ack_days.values().sum::<u64>() >= u64::from(MIN_CELL))
    }

    /// The median as shown on the page: one decimal, with a decimal comma in Dutch.
    pub fn median_text(&self, lang: &Lang) -> String {
        match self.median_shown() {
            Some(m) if *lang == Lang::Nl => format!("{m:.1}").replace('.', ","),
            Some(m) => format!("{m:.1}"),
            None => "–".into(),
        }
    }

    pub fn total_text(&self) -> String {
        cell(self.total)
    }
    pub fn open_text(&self) -> String {
        cell(self.open)
    }
    pub fn closed_text(&self) -> String {
        cell(self.closed)
    }
    pub fn ack_overdue_text(&self) -> String {
        cell(self.ack_overdue)
    }
    pub fn feedback_overdue_text(&self) -> String {
        cell(self.feedback_overdue)
    }
}

pub fn quarter(received_on: &str) -> String {
    deadlines::parse_date(received_on)
        .map(|d| format!("{}-K{}", d.year(), d.month0() / 3 + 1))
        .unwrap_or_else(|| "?".into())
}

/// All aggregates the page and the CSV show.
#[derive(Debug, Default)]
pub struct Aggregates {
    pub by_quarter: BTreeMap<String, Tally>,
    pub by_quarter_label: BTreeMap<(String, &'static str), Tally>,
    pub by_category: BTreeMap<&'static str, Tally>,
    pub by_group: BTreeMap<(String, &'static str, &'static str), Tally>,
    pub all: Tally,
}

impl Aggregates {
    /// Adds `part` for a report of quarter `q`, chain link `label` and category `cat`, to
    /// every group it belongs to.
    fn take(&mut self, (q, label, cat): (&str, &str, &str), part: Part) {
        let label = ChainLabel::parse(label).map(ChainLabel::code).unwrap_or("?");
        let cat = Category::parse(cat).map(Category::code).unwrap_or("?");
        self.all.take(part);
        self.by_quarter.entry(q.to_string()).or_default().take(part);
        self.by_quarter_label
            .entry((q.to_string(), label))
            .or_default()
            .take(part);
        self.by_category.entry(cat).or_default().take(part);
        self.by_group.entry((q.to_string(), label, cat)).or_default().take(part);
    }

    /// One report that is open and past its next deadline.
    fn overdue(&mut self, r: &OverviewRow, today: NaiveDate) {
        let Some(received) = deadlines::parse_date(&r.received_on) else {
            return;
        };
        let part = match deadlines::next(
            received,
            r.acknowledged_on.as_deref().and_then(deadlines::parse_date),
            r.feedback_on.as_deref().and_then(deadlines::parse_date),
            &r.status,
        ) {
            Some(deadlines::Next::Acknowledge(d)) if d < today => Part::AckOverdue(1),
            Some(deadlines::Next::Feedback(d)) if d < today => Part::FeedbackOverdue(1),
            _ => return,
        };
        self.take((&quarter(&r.received_on), &r.chain_label, &r.category), part);
    }
}

/// The aggregates from what the database keeps: counts per (quarter, link, category,
/// closed), acknowledgement days per group, and the open reports past their next deadline
/// today, counted per group (an acknowledged one is late with its feedback).
pub fn aggregate_kept(
    counts: &[crate::storage::OverviewCount],
    acks: &[crate::storage::OverviewAckDays],
    overdue: &[crate::storage::OverdueCount],
) -> Aggregates {
    let mut a = Aggregates::default();
    for c in counts.iter().filter(|c| c.n > 0) {
        let n = u32::try_from(c.n).unwrap_or(u32::MAX);
        let part = Part::Reports {
            closed: c.closed != 0,
            n,
        };
        a.take((&c.quarter, &c.chain_label, &c.category), part);
    }
    for d in acks.iter().filter(|d| d.n > 0) {
        let part = Part::Acknowledged {
            days: d.days,
            n: u64::try_from(d.n).unwrap_or(0),
        };
        a.take((&d.quarter, &d.chain_label, &d.category), part);
    }
    for o in overdue.iter().filter(|o| o.n > 0) {
        let n = u32::try_from(o.n).unwrap_or(u32::MAX);
        let part = if o.acked != 0 {
            Part::FeedbackOverdue(n)
        } else {
            Part::AckOverdue(n)
        };
        a.take((&o.quarter, &o.chain_label, &o.category), part);
    }
    a
}

/// The same aggregates from the reports' rows themselves (what the kept counts must agree
/// with; the tests compare both).
pub fn aggregate(rows: &[OverviewRow], today: NaiveDate) -> Aggregates {
    let mut a = Aggregates::default();
    for r in rows {
        let q = quarter(&r.received_on);
        let key = (q.as_str(), r.chain_label.as_str(), r.category.as_str());
        let closed = matches!(r.status.as_str(), "afgerond" | "gesloten");
        a.take(key, Part::Reports { closed, n: 1 });
        let acked = r.acknowledged_on.as_deref().and_then(deadlines::parse_date);
        if let (Some(ack), Some(received)) = (acked, deadlines::parse_date(&r.received_on)) {
            let days = (ack - received).num_days();
            a.take(key, Part::Acknowledged { days, n: 1 });
        }
        if !closed {
            a.overdue(r, today);
        }
    }
    a
}

const COLOURS: [&str; 5] = ["#154273", "#2a7ab0", "#6aa84f", "#e69138", "#a64d79"];

/// A stacked bar per quarter, one colour per chain link, with a legend; labelled for screen
/// readers (the same numbers are in the table below it).
pub fn chart_svg(a: &Aggregates, lang: Lang) -> String {
    let quarters: Vec<&String> = a.by_quarter.keys().collect();
    let drawn = |n: u32| if n > 0 && n < MIN_CELL { MIN_CELL - 1 } else { n };
    let max = quarters
        .iter()
        .map(|q| {
            ChainLabel::ALL
                .iter()
                .filter_map(|l| a.by_quarter_label.get(&((*q).clone(), l.code())))
                .map(|t| drawn(t.total))
                .sum::<u32>()
        })
        .max()
        .unwrap_or(0)
        .max(1);
    let (bar, gap, height, left, top) = (44u32, 20u32, 220u32, 40u32, 10u32);
    let width = left + quarters.len() as u32 * (bar + gap) + 180;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title" viewBox="0 0 {width} {}" width="{width}">"#,
        height + 60
    );
    let _ = write!(s, r#"<title id="chart-title">{}</title>"#, lang.staff().chart_title);
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#555"/>"##,
        top + height,
        width - 170,
        top + height
    );
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#333">{max}</text>"##,
        left - 4,
        top + 10
    );
    for (i, q) in quarters.iter().enumerate() {
        let x = left + gap / 2 + i as u32 * (bar + gap);
        let mut y = top + height;
        for (c, label) in ChainLabel::ALL.iter().enumerate() {
            let n = a
                .by_quarter_label
                .get(&((*q).clone(), label.code()))
                .map(|t| t.total)
                .unwrap_or(0);
            if n == 0 {
                continue;
            }
            // A small segment is drawn as high as the largest hidden count, so its height
            // does not tell one report from two.
            let h = (drawn(n) * height / max).max(1);
            let n = cell(n);
            y = y.saturating_sub(h);
            let _ = write!(
                s,
                r#"<rect x="{x}" y="{y}" width="{bar}" height="{h}" fill="{}"><title>{q} {}: {n}</title></rect>"#,
                COLOURS[c],
                label.label(lang)
            );
        }
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#333">{q}</text>"##,
            x + bar / 2,
            top + height + 16
        );
    }
    for (c, label) in ChainLabel::ALL.iter().enumerate() {
        let (lx, ly) = (width - 160, top + 10 + c as u32 * 22);
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="{}" width="14" height="14" fill="{}"/><text x="{}" y="{}" font-size="12" fill="#222">{}</text>"##,
            ly - 11,
            COLOURS[c],
            lx + 20,
            ly,
            label.label(lang)
        );
    }
    s.push_str("</svg>");
    s
}

/// The aggregates per (quarter, chain link, category) as CSV. Every field is a code or a
/// number we produce (or "<3" for a hidden small count), never text a person typed, so
/// nothing needs quoting and no cell can start a spreadsheet formula.
pub fn csv(a: &Aggregates) -> String {
    let mut out = String::from("quarter,chain_label,category,reports,open,closed,median_days_to_acknowledge,acknowledgement_overdue,feedback_overdue\n");
    for ((q, label, cat), t) in &a.by_group {
        let median = t.median_shown().map(|m| format!("{m:.1}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{q},{label},{cat},{},{},{},{median},{},{}",
            t.total_text(),
            t.open_text(),
            t.closed_text(),
            t.ack_overdue_text(),
            t.feedback_overdue_text()
        );
    }
    out
}

pub struct QuarterLine {
    pub quarter: String,
    pub per_label: Vec<String>,
    pub tally: Tally,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    page: Page,
    csrf: String,
    chart: String,
    labels: Vec<&'static str>,
    quarters: Vec<QuarterLine>,
    categories: Vec<(&'static str, Tally)>,
    all: Tally,
}

pub async fn show(state: State, cache: Feature<OverviewCache>, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let a = kept_aggregates(&state, &cache, lang).await?;
    let quarters = a
        .by_quarter
        .iter()
        .map(|(q, t)| QuarterLine {
            quarter: q.clone(),
            per_label: ChainLabel::ALL
                .iter()
                .map(|l| {
                    cell(
                        a.by_quarter_label
                            .get(&(q.clone(), l.code()))
                            .map(|t| t.total)
                            .unwrap_or(0),
                    )
                })
                .collect(),
            tally: t.clone(),
        })
        .collect();
    let categories = a
        .by_category
        .iter()
        .map(|(c, t)| (Category::parse(c).map(|c| c.label(lang)).unwrap_or("?"), t.clone()))
        .collect();
    let page = Page::new(&state, lang, paths::OVERVIEW);
    Ok(render(
        StatusCode::OK,
        &OverviewPage {
            page,
            csrf: me.session.token.csrf(),
            chart: chart_svg(&a, lang),
            labels: ChainLabel::ALL.iter().map(|l| l.label(lang)).collect(),
            quarters,
            categories,
            all: a.all.clone(),
        },
    ))
}

/// `GET /beheer/overzicht.csv`: the aggregates as a download; audited as an export.
pub async fn download(state: State, cache: Feature<OverviewCache>, req: HttpRequest) -> PageResult {
    let lang = query_lang(&req);
    let Some(me) = current(&state, &req, lang).await? else {
        return Ok(to_login(lang));
    };
    let body = csv(kept_aggregates(&state, &cache, lang).await?.as_ref());
    audited_csv(&state, lang, &me, ("overview_exported", "meldpunt-overzicht.csv"), body).await
}

async fn kept_aggregates(
    state: &State,
    cache: &OverviewCache,
    lang: Lang,
) -> Result<Arc<Aggregates>, crate::http::AppError> {
    let today = state.clock.today_string();
    cached_aggregates(&state.store, cache, &today).await.or_500(lang)
}

/// The last aggregates computed here, with the version and day of the counts they came from.
#[derive(Default)]
pub struct OverviewCache(Mutex<Option<(i64, String, Arc<Aggregates>)>>);

impl OverviewCache {
    fn get(&self, version: i64, day: &str) -> Option<Arc<Aggregates>> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|(v, d, _)| *v == version && d == day)
            .map(|(_, _, a)| a.clone())
    }

    fn put(&self, version: i64, day: String, a: Arc<Aggregates>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((version, day, a));
    }
}

/// The overview's aggregates for `today`. The database keeps the counts (triggers, in the
/// transactions that change reports) and a version that every such change raises; while the
/// version and the day are what they were, the aggregates computed last are reused, so a
/// request costs one small read however many reports there are. A new day first has its
/// overdue counts recounted (once, by whichever request or instance comes first). When
/// another instance has kept a later day already (its clock a moment ahead at midnight),
/// the overdue counts for `today` are counted live, and nothing is kept.
pub async fn cached_aggregates(store: &Store, cache: &OverviewCache, today: &str) -> DbResult<Arc<Aggregates>> {
    let (version, day) = store.overview_version().await?;
    match day.as_str().cmp(today) {
        Ordering::Equal => {
            if let Some(hit) = cache.get(version, &day) {
                return Ok(hit);
            }
        }
        Ordering::Less => store.recount_overdue(today).await?,
        Ordering::Greater => {}
    }
    let kept = store.overview_kept().await?;
    if kept.day == today {
        let a = Arc::new(aggregate_kept(&kept.counts, &kept.acks, &kept.overdue));
        cache.put(kept.version, kept.day, a.clone());
        return Ok(a);
    }
    let overdue = store.overdue_counts(today).await?;
    Ok(Arc::new(aggregate_kept(&kept.counts, &kept.acks, &overdue)))
}

/// A CSV export as a download, written to the audit trail as `action` first.
pub(crate) async fn audited_csv(
    state: &State,
    lang: Lang,
    me: &super::Coordinator,
    (action, file_name): (&str, &str),
    body: String,
) -> PageResult {
    state
        .store
        .audit(state.clock.now(), Some(&me.row.id), action, None)
        .await
        .or_500(lang)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        ))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(received: &str, acked: Option<&str>, status: &str, label: &str) -> OverviewRow {
        OverviewRow {
            received_on: received.into(),
            acknowledged_on: acked.map(Into::into),
            feedback_on: None,
            status: status.into(),
            chain_label: label.into(),
            category: "fraude".into(),
        }
    }

    #[test]
    fn tallies_quarters_medians_and_overdue() {
        let today = deadlines::parse_date("2026-12-31").unwrap();
        let rows = vec![
            row("2026-10-01", Some("2026-10-03"), "in_behandeling", "repressie"),
            row("2026-11-01", Some("2026-11-05"), "afgerond", "preventie"),
            row("2026-12-01", None, "nieuw", "repressie"),
            row("2026-12-30", None, "nieuw", "repressie"),
            row("2026-03-31", Some("2026-04-01"), "gesloten", "nazorg"),
        ];
        let a = aggregate(&rows, today);
        assert_eq!(a.by_quarter.keys().collect::<Vec<_>>(), vec!["2026-K1", "2026-K4"]);
        let q4 = &a.by_quarter["2026-K4"];
        assert_eq!((q4.total, q4.open, q4.closed), (4, 3, 1));
        assert_eq!(q4.median_ack(), Some(3.0));
        assert_eq!(
            q4.ack_overdue, 1,
            "1 December is overdue on 31 December; 30 December is not"
        );
        assert_eq!(a.by_quarter_label[&("2026-K4".to_string(), "repressie")].total, 3);
        let csv = csv(&a);
        assert!(csv.starts_with("quarter,chain_label"));
        // One acknowledgement is too few for a median, one overdue report too few to show.
        assert!(csv.contains("2026-K4,repressie,fraude,3,3,0,,<3,0"), "{csv}");
        assert!(
            !csv.contains(",1,") && !csv.contains(",2,"),
            "no cell of one or two: {csv}"
        );
        let svg = chart_svg(&a, Lang::Nl);
        assert!(svg.starts_with("<svg") && svg.contains("Repressie") && svg.contains("2026-K4"));
    }
}
