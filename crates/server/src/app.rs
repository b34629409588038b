//! The HTTP application: shared state, routes and middleware, and serving with
//! graceful shutdown.
use crate::config::{Config, TokenConfig};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::mpi::operations as mdm;
use crate::{
    auth, bundle, capabilities, create, delete, health, history, metrics, patch, read, search,
    update,
};
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hutong_fhir::IssueType;
use hutong_store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The lookup key of a bearer token: its SHA-256. Lookups then compare digests, so the
/// time a comparison takes says nothing about how much of a guessed token was right.
pub fn token_key(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Static bearer tokens by the SHA-256 of the token value ([`token_key`]).
    pub tokens: Arc<HashMap<[u8; 32], TokenConfig>>,
    /// The master patient index (`None` when disabled).
    pub mpi: Option<Arc<crate::mpi::Mpi>>,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let tokens = config
            .tokens
            .iter()
            .map(|t| (token_key(&t.token), t.clone()))
            .collect();
        // `hutong serve` checks the MPI configuration before it gets here.
        let mpi = crate::mpi::start(&store, &config.mpi).unwrap_or_else(|e| {
            tracing::error!(error = %e, "master patient index disabled: bad configuration");
            None
        });
        AppState {
            mpi,
            store,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            tokens: Arc::new(tokens),
        }
    }
}

/// All routes of the server.
pub fn router(state: AppState) -> Router {
    let fhir = Router::new()
        .route(
            "/fhir",
            axum::routing::post(bundle::handle).get(search::system_search),
        )
        .route(
            "/fhir/",
            axum::routing::post(bundle::handle).get(search::system_search),
        )
        .route(
            "/fhir/_search",
            axum::routing::post(search::system_post_search),
        )
        .route("/fhir/_history", get(history::system))
        .route(
            "/fhir/$reindex",
            axum::routing::post(crate::reindex::operation),
        )
        .route(
            "/fhir/{type}",
            get(search::type_search)
                .post(create::handle)
                .put(update::conditional)
                .delete(delete::conditional),
        )
        .route(
            "/fhir/{type}/_search",
            axum::routing::post(search::post_search),
        )
        .route(
            "/fhir/{type}/$match",
            axum::routing::post(mdm::patient_match),
        )
        .route(
            "/fhir/{type}/$ihe-pix",
            get(mdm::ihe_pix).post(mdm::ihe_pix),
        )
        .route("/fhir/{type}/$mdm-link", axum::routing::post(mdm::mdm_link))
        .route(
            "/fhir/{type}/$mdm-unlink",
            axum::routing::post(mdm::mdm_unlink),
        )
        .route(
            "/fhir/{type}/$merge",
            axum::routing::post(mdm::patient_merge),
        )
        .route("/fhir/$mdm-review", get(mdm::review_list))
        .route(
            "/fhir/$mdm-review-accept",
            axum::routing::post(mdm::review_accept),
        )
        .route(
            "/fhir/$mdm-review-reject",
            axum::routing::post(mdm::review_reject),
        )
        .route("/fhir/{type}/{id}/$mdm-history", get(mdm::history))
        .route("/fhir/{type}/_history", get(history::type_level))
        .route(
            "/fhir/{type}/{id}",
            get(read::read)
                .put(update::handle)
                .patch(patch::handle)
                .delete(delete::handle),
        )
        .route("/fhir/{type}/{id}/_history", get(history::instance))
        .route(
            "/fhir/{type}/{id}/{compartment_type}",
            get(search::compartment_search),
        )
        .route("/fhir/{type}/{id}/_history/{vid}", get(read::vread))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/fhir/metadata", get(capabilities::handle))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(fhir)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), uri = %redacted_uri(req.uri()), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The request target as logged: the path and the query parameter names, never their
/// values — a search by `identifier=` or a PIX lookup carries a 身份证号, which must
/// never reach a log in clear.
pub fn redacted_uri(uri: &axum::http::Uri) -> String {
    let path = uri.path();
    match uri.query() {
        None | Some("") => path.to_owned(),
        Some(q) => {
            let names: Vec<&str> = q
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split('=').next().unwrap_or(""))
                .collect();
            format!("{path}?{}", names.join("=…&") + "=…")
        }
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no FHIR endpoint at {}", req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        IssueType::NotSupported,
        format!("{} is not supported on {}", req.method(), req.uri().path()),
    )
}

fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = msg, "handler panicked");
    ApiError::internal("internal server error").into_response()
}

/// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    if let Some(mpi) = state.mpi.clone() {
        // Build the index behind the listener: writes and MPI operations wait for it.
        let store = Arc::clone(&state.store);
        tokio::spawn(async move { mpi.warm_up(store.as_ref()).await });
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_uri;

    #[test]
    fn query_values_never_reach_the_log() {
        let uri: axum::http::Uri =
            "/fhir/Patient/$ihe-pix?sourceIdentifier=urn:oid:2.16.156.10011.1.3|110105194912310021&_format=json"
                .parse()
                .unwrap();
        let logged = redacted_uri(&uri);
        assert_eq!(
            logged,
            "/fhir/Patient/$ihe-pix?sourceIdentifier=…&_format=…"
        );
        assert!(!logged.contains("110105"));
        let plain: axum::http::Uri = "/fhir/Patient/1".parse().unwrap();
        assert_eq!(redacted_uri(&plain), "/fhir/Patient/1");
    }
}
