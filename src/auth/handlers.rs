//! `POST /v1/auth/token` and `GET /v1/auth/me`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, get, post};

use super::CurrentEditor;
use super::dto::{TokenRequest, TokenResponse};
use crate::editors::dto::Editor;
use crate::error::Problem;
use crate::http::{Reply, client_ip, private_json};
use crate::json::ApiJson;
use crate::state::State;

pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create_token).service(get_me);
}

/// Exchange an editor's email and password for an access token.
///
/// A wrong email and a wrong password get the same 401. Attempts are
/// counted per email and client address (5 per 15 minutes, then lockouts
/// that double up to a day) and per email from all addresses (100 per 15
/// minutes by default); past either, 429 with `Retry-After`, even for the
/// right password. When too many passwords are being checked at once, 503
/// with `Retry-After`.
#[utoipa::path(
    tag = "auth", operation_id = "createToken", security(()),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A new access token", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = Problem),
        (status = 429, description = "Too many attempts for this email, from this address or from all", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
        (status = 503, description = "Too many logins at once, or the database is unreachable", body = Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again")),
            example = json!({"type": "/problems/busy", "title": "Server busy", "status": 503,
                "detail": "the server is busy; try again shortly"})),
    )
)]
#[post("/auth/token")]
pub async fn create_token(req: HttpRequest, state: State, body: ApiJson<TokenRequest>) -> Reply {
    let body = body.get()?;
    let address = client_ip(&req, &state.config.trusted_proxies);
    let issued = super::log_in(&state, &body.email, body.password.into(), address).await?;
    let token_type = "Bearer".into();
    private_json(
        StatusCode::OK,
        &TokenResponse { access_token: issued.token, token_type, expires_in: issued.expires_in },
    )
}

/// The caller.
///
/// The editor behind the bearer token.
#[utoipa::path(
    tag = "auth", operation_id = "getCurrentEditor", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Editor))
)]
#[get("/auth/me")]
pub async fn get_me(CurrentEditor(editor): CurrentEditor) -> Reply {
    private_json(StatusCode::OK, &Editor::from(editor))
}
