//! The organisations this process serves, and which one a request's host picks: the host
//! of an organisation's URL. With one organisation every host reaches it (an installation
//! as it always was); from the second on, hosts are matched strictly and an unknown host
//! gets a plain page that names no organisation.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};

use super::context::State;
use super::AppState;

/// What an organisation is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Active,
    /// Suspended by the operator: every page answers 503 and nothing is read or written.
    Suspended,
    /// Could not be opened (its database, its key, a setting): 503 until fixed; the
    /// operator's log says why. The other organisations serve on.
    Broken,
}

/// One organisation as the process serves it.
pub struct Organisation {
    pub id: i64,
    /// The host of its URL, lower case, without a port.
    pub host: String,
    pub standing: Standing,
    /// Absent while it is broken.
    pub state: Option<web::Data<AppState>>,
    /// The registry's entry it was opened from (to see it change).
    pub entry: crate::storage::OrganisationEntry,
}

struct Registry {
    list: Vec<Arc<Organisation>>,
    by_host: HashMap<String, usize>,
}

/// Every organisation of the process. Replaced as a whole when the registry changes (an
/// organisation added, suspended or removed), so a request sees one consistent set.
pub struct Organisations {
    current: RwLock<Arc<Registry>>,
}

impl Default for Organisations {
    fn default() -> Self {
        Organisations::new(Vec::new())
    }
}

/// What a request's host found.
pub enum Pick {
    Serve(State),
    Unavailable,
    Unknown,
}

impl Organisations {
    pub fn new(list: Vec<Arc<Organisation>>) -> Self {
        Organisations {
            current: RwLock::new(Arc::new(Registry::of(list))),
        }
    }

    fn read(&self) -> Arc<Registry> {
        // A poisoned lock only means a panic while swapping an Arc: the Arc is whole.
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every organisation, in registry order.
    pub fn all(&self) -> Vec<Arc<Organisation>> {
        self.read().list.clone()
    }

    /// The states of the organisations that serve, for background work.
    pub fn serving(&self) -> Vec<web::Data<AppState>> {
        self.read()
            .list
            .iter()
            .filter(|o| o.standing == Standing::Active)
            .filter_map(|o| o.state.clone())
            .collect()
    }

    pub fn get(&self, id: i64) -> Option<Arc<Organisation>> {
        self.read().list.iter().find(|o| o.id == id).cloned()
    }

    /// Replaces the set.
    pub fn replace(&self, list: Vec<Arc<Organisation>>) {
        let next = Arc::new(Registry::of(list));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
    }

    /// The organisation `host` picks.
    pub fn pick(&self, host: &str) -> Pick {
        let registry = self.read();
        let org = if registry.list.len() == 1 {
            registry.list.first()
        } else {
            registry
                .by_host
                .get(&normal_host(host))
                .and_then(|&i| registry.list.get(i))
        };
        match org {
            None => Pick::Unknown,
            Some(o) => match (&o.state, o.standing) {
                (Some(state), Standing::Active) => Pick::Serve(State::from_data(state.clone())),
                _ => Pick::Unavailable,
            },
        }
    }
}

impl Registry {
    fn of(list: Vec<Arc<Organisation>>) -> Registry {
        let by_host = list.iter().enumerate().map(|(i, o)| (o.host.clone(), i)).collect();
        Registry { list, by_host }
    }
}

/// `Host: Example.NL.:8443` → `example.nl`.
pub fn normal_host(host: &str) -> String {
    let without_port = match host.rsplit_once(':') {
        // An IPv6 literal keeps its brackets; a colon inside them is not a port.
        Some((h, port)) if !port.contains(']') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// The host of an organisation's URL, as requests are matched against it.
pub fn host_of_url(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("'{url}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        anyhow::bail!("'{url}': the URL must start with https:// (or http:// behind a proxy that adds TLS)");
    }
    match parsed.host_str() {
        Some(h) if !h.is_empty() => Ok(normal_host(h)),
        _ => anyhow::bail!("'{url}' names no host"),
    }
}

/// Puts the organisation the request's host picks into the request, or answers for it: an
/// unknown host with a page that names no organisation (404), a suspended or broken one
/// with 503.
pub async fn pick_organisation(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(orgs) = req.app_data::<web::Data<Organisations>>().cloned() else {
        // A bare test service: the state is its app data.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let host = req.connection_info().host().to_string();
    let mut pick = orgs.pick(&host);
    // A load balancer's health check reaches the instance by its address, not by an
    // organisation's host: the installation answers it (with its first organisation's
    // storage), whatever host it came on.
    if matches!(pick, Pick::Unknown) && matches!(req.path(), "/healthz" | "/readyz") {
        if let Some(state) = orgs.serving().into_iter().next() {
            pick = Pick::Serve(State::from_data(state));
        }
    }
    match pick {
        Pick::Serve(state) => {
            req.extensions_mut().insert(state);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Pick::Unknown => Ok(req.into_response(plain(
            actix_web::http::StatusCode::NOT_FOUND,
            "Onbekend adres",
            "Op dit adres is geen meldpunt te vinden. Controleer het adres dat u van uw organisatie kreeg.",
            "There is no meldpunt at this address. Check the address your organisation gave you.",
        ))),
        Pick::Unavailable => Ok(req.into_response(
            plain(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "Tijdelijk niet beschikbaar",
                "Dit meldpunt is tijdelijk niet beschikbaar. Probeer het later opnieuw, of meld bij een extern meldpunt zoals het Huis voor Klokkenluiders.",
                "This meldpunt is temporarily unavailable. Please try again later, or report to an external channel such as the Huis voor Klokkenluiders.",
            )
            .map_into_boxed_body(),
        )),
    }
}

/// A page without an organisation's name, look or links: for a host that picks none.
fn plain(status: actix_web::http::StatusCode, title: &str, nl: &str, en: &str) -> HttpResponse {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"nl\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{title}</title></head><body><main>\
         <h1>{title}</h1><p>{nl}</p><p lang=\"en\">{en}</p></main></body></html>\n"
    );
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8");
    if status == actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header((header::RETRY_AFTER, "300"));
    }
    res.body(body)
}

/// What features keep per organisation (a form snapshot, an overview cache), by type, so
/// [`AppState`] names no feature. Filled while the organisation is opened, read only after.
#[derive(Default)]
pub struct FeatureMap {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl FeatureMap {
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        self.map.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.map
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_without_port_case_or_final_dot() {
        assert_eq!(normal_host("Meldpunt.Example.NL.:8443"), "meldpunt.example.nl");
        assert_eq!(normal_host("[::1]:8080"), "[::1]");
        assert_eq!(normal_host("[::1]"), "[::1]");
        assert_eq!(host_of_url("https://A.example/x").unwrap(), "a.example");
        assert!(host_of_url("ftp://a.example").is_err());
        assert!(host_of_url("a.example").is_err());
    }
}
