//! Routing along the integrity chain: which coordinator groups receive a report, decided on
//! the server from the parsed form and the `[routing]` rules (first match wins, then the
//! default groups), minus coordinators the reporter excluded. Nothing the browser sends can
//! add a recipient.

use std::collections::BTreeSet;

use crate::domain::keyring::Verified;
use crate::domain::report::{Category, ChainLabel, SubjectRole};
use crate::settings::{RoutingRule, RoutingSettings};
use crate::storage::{DbResult, Store};

/// Checks the rules themselves: known codes, at least one group each, unique names.
pub fn validate_rules(r: &RoutingSettings) -> anyhow::Result<()> {
    if r.default_groups.is_empty() {
        anyhow::bail!("routing.default_groups must name at least one group");
    }
    let mut bodies = BTreeSet::new();
    for b in &r.bodies {
        if b.trim().is_empty() || b.chars().count() > 200 || b.trim() != b {
            anyhow::bail!("routing.bodies: '{b}' is not a name (1 to 200 characters, no spaces around it)");
        }
        if !bodies.insert(b.as_str()) {
            anyhow::bail!("routing.bodies names '{b}' twice");
        }
    }
    let mut names = BTreeSet::new();
    for rule in &r.rule {
        if !names.insert(rule.name.as_str()) {
            anyhow::bail!("routing rule '{}' is defined twice", rule.name);
        }
        if rule.groups.is_empty() {
            anyhow::bail!("routing rule '{}' names no group", rule.name);
        }
        let bad = |kind: &str, code: &str| anyhow::anyhow!("routing rule '{}': unknown {kind} '{code}'", rule.name);
        if let Some(c) = rule.chain_labels.iter().find(|c| ChainLabel::parse(c).is_none()) {
            return Err(bad("chain label", c));
        }
        if let Some(c) = rule.subject_roles.iter().find(|c| SubjectRole::parse(c).is_none()) {
            return Err(bad("subject role", c));
        }
        if let Some(c) = rule.categories.iter().find(|c| Category::parse(c).is_none()) {
            return Err(bad("category", c));
        }
        if let Some(b) = rule.bodies.iter().find(|b| !r.bodies.contains(b)) {
            return Err(anyhow::anyhow!(
                "routing rule '{}': body '{b}' is not one of routing.bodies",
                rule.name
            ));
        }
    }
    Ok(())
}

fn matches(rule: &RoutingRule, label: ChainLabel, role: SubjectRole, category: Category, body: Option<&str>) -> bool {
    let ok = |list: &[String], code: &str| list.is_empty() || list.iter().any(|c| c == code);
    ok(&rule.chain_labels, label.code())
        && ok(&rule.subject_roles, role.code())
        && ok(&rule.categories, category.code())
        && (rule.bodies.is_empty() || body.is_some_and(|b| rule.bodies.iter().any(|c| c == b)))
}

/// The rule name (or "default") and groups a report with these answers goes to.
pub fn groups_for<'r>(
    r: &'r RoutingSettings,
    label: ChainLabel,
    role: SubjectRole,
    category: Category,
    body: Option<&str>,
) -> (&'r str, &'r [String]) {
    r.rule
        .iter()
        .find(|rule| matches(rule, label, role, category, body))
        .map(|rule| (rule.name.as_str(), rule.groups.as_slice()))
        .unwrap_or(("default", r.default_groups.as_slice()))
}

/// Every group some rule or the default names.
pub fn named_groups(r: &RoutingSettings) -> Vec<String> {
    let mut all: BTreeSet<String> = r.default_groups.iter().cloned().collect();
    for rule in &r.rule {
        all.extend(rule.groups.iter().cloned());
    }
    all.into_iter().collect()
}

/// Refuses a configuration that would route some combination to a group with no active
/// member, naming the rule, so no report can arrive that nobody may read.
pub async fn check_groups_have_members(store: &Store, r: &RoutingSettings) -> anyhow::Result<()> {
    let mut rules: Vec<(&str, &[String])> = r.rule.iter().map(|x| (x.name.as_str(), x.groups.as_slice())).collect();
    rules.push(("default", r.default_groups.as_slice()));
    for (name, groups) in rules {
        for g in groups {
            if store.active_members(g).await?.is_empty() {
                anyhow::bail!(
                    "routing rule '{name}' sends reports to group '{g}', which has no active member; \
                     add one with `meldpunt group member add --group {g} --username NAME` or change the rule"
                );
            }
        }
    }
    Ok(())
}

/// Refuses to take `coordinator_id` out of `group` (or out of every group, for `None`)
/// when a routing rule would then reach a group without active members. Returns the
/// message naming the rule and group.
pub async fn check_removal(
    store: &Store,
    r: &RoutingSettings,
    group: Option<&str>,
    coordinator_id: &str,
) -> DbResult<Result<(), String>> {
    let mut rules: Vec<(&str, &[String])> = r.rule.iter().map(|x| (x.name.as_str(), x.groups.as_slice())).collect();
    rules.push(("default", r.default_groups.as_slice()));
    for (name, groups) in rules {
        for g in groups.iter().filter(|g| group.is_none_or(|x| x == g.as_str())) {
            let members = store.active_members(g).await?;
            if members.len() == 1 && members[0].0 == coordinator_id {
                return Ok(Err(format!(
                    "routing rule '{name}' needs at least one active member in group '{g}'"
                )));
            }
        }
    }
    Ok(Ok(()))
}

/// Why nobody could receive a report.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// The reporter's exclusions removed every recipient.
    ExcludedEveryone,
    /// The groups have no active member (a configuration problem).
    NoRecipients,
}

/// What routing looks at in a report's answers.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    pub label: ChainLabel,
    pub role: SubjectRole,
    pub category: Category,
    /// In a shared intake: the body the report is about.
    pub body: Option<&'a str>,
}

/// The coordinators (id, public key) a new report is wrapped to: verified members of the
/// groups the rules name, with their verified keys ([`Verified`]), never a row as it
/// stands in the database alone.
pub async fn recipients(
    store: &Store,
    verified: &Verified,
    r: &RoutingSettings,
    answers: Answers<'_>,
    excluded: &[String],
) -> DbResult<Result<Vec<(String, Vec<u8>)>, RouteError>> {
    let Answers {
        label,
        role,
        category,
        body,
    } = answers;
    let (_, groups) = groups_for(r, label, role, category, body);
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    for g in groups {
        for (id, _) in store.active_members(g).await? {
            let Some(public) = verified.coordinator(&id).filter(|_| verified.routes_to(g, &id)) else {
                continue;
            };
            if !found.iter().any(|(f, _)| *f == id) {
                found.push((id, public.to_vec()));
            }
        }
    }
    if found.is_empty() {
        return Ok(Err(RouteError::NoRecipients));
    }
    let allowed = excludable(store, r).await?;
    found.retain(|(id, _)| !(excluded.contains(id) && allowed.iter().any(|(a, _)| a == id)));
    if found.is_empty() {
        return Ok(Err(RouteError::ExcludedEveryone));
    }
    Ok(Ok(found))
}

/// Active coordinators the reporter may exclude: (id, display name).
pub async fn excludable(store: &Store, r: &RoutingSettings) -> DbResult<Vec<(String, String)>> {
    if r.excludable.is_empty() {
        return Ok(vec![]);
    }
    Ok(store
        .coordinators()
        .await?
        .into_iter()
        .filter(|c| c.status == "active" && r.excludable.contains(&c.username))
        .map(|c| (c.id, c.display_name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn shipped_rules_follow_the_bestuurlijke_line() {
        let s = Settings::defaults().unwrap().routing;
        let route = |role| groups_for(&s, ChainLabel::Repressie, role, Category::Fraude, None);
        assert_eq!(
            route(SubjectRole::Bestuurder),
            ("bestuurders", &["burgemeester".to_string()][..])
        );
        assert_eq!(
            route(SubjectRole::Raadslid).1,
            &["burgemeester".to_string(), "griffier".to_string()][..]
        );
        for role in [SubjectRole::Ambtenaar, SubjectRole::Extern, SubjectRole::Onbekend] {
            assert_eq!(route(role), ("default", &["integriteit".to_string()][..]));
        }
        assert_eq!(named_groups(&s), vec!["burgemeester", "griffier", "integriteit"]);
    }

    #[test]
    fn first_match_wins_and_empty_lists_match_anything() {
        let mut s = Settings::defaults().unwrap().routing;
        s.rule.insert(
            0,
            RoutingRule {
                name: "nazorg".into(),
                chain_labels: vec!["nazorg".into()],
                subject_roles: vec![],
                categories: vec![],
                bodies: vec![],
                groups: vec!["vertrouwenspersonen".into()],
            },
        );
        assert_eq!(
            groups_for(&s, ChainLabel::Nazorg, SubjectRole::Bestuurder, Category::Anders, None).0,
            "nazorg"
        );
        assert_eq!(
            groups_for(
                &s,
                ChainLabel::Preventie,
                SubjectRole::Bestuurder,
                Category::Anders,
                None
            )
            .0,
            "bestuurders"
        );
    }

    #[test]
    fn unknown_codes_and_empty_rules_are_refused() {
        let mut s = Settings::defaults().unwrap().routing;
        s.rule[0].subject_roles = vec!["wethouder".into()];
        assert!(validate_rules(&s)
            .unwrap_err()
            .to_string()
            .contains("'bestuurders': unknown subject role 'wethouder'"));
        let mut s = Settings::defaults().unwrap().routing;
        s.rule[1].groups.clear();
        assert!(validate_rules(&s).unwrap_err().to_string().contains("raadsleden"));
    }

    #[test]
    fn a_rule_for_a_body_matches_only_reports_about_it_and_must_name_a_known_body() {
        let mut s = Settings::defaults().unwrap().routing;
        s.bodies = vec!["Gemeente Aldam".into(), "Gemeente Beekdal".into()];
        s.rule.insert(
            0,
            RoutingRule {
                name: "beekdal".into(),
                chain_labels: vec![],
                subject_roles: vec![],
                categories: vec![],
                bodies: vec!["Gemeente Beekdal".into()],
                groups: vec!["beekdal".into()],
            },
        );
        validate_rules(&s).unwrap();
        let route = |body| {
            groups_for(
                &s,
                ChainLabel::Repressie,
                SubjectRole::Ambtenaar,
                Category::Fraude,
                body,
            )
            .0
        };
        assert_eq!(route(Some("Gemeente Beekdal")), "beekdal");
        assert_ne!(route(Some("Gemeente Aldam")), "beekdal");
        assert_ne!(route(None), "beekdal");
        s.rule[0].bodies = vec!["Gemeente Elders".into()];
        assert!(validate_rules(&s).unwrap_err().to_string().contains("Gemeente Elders"));
        s.rule[0].bodies = vec![];
        s.bodies.push("Gemeente Aldam".into());
        assert!(validate_rules(&s).unwrap_err().to_string().contains("twice"));
    }
}
